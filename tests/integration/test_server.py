"""The server's own endpoints and the headers every AWS answer carries."""

from __future__ import annotations

import uuid

from tests.conftest import Server, http_request


def test_health(server: Server) -> None:
    answer = http_request(server, "GET", "/_lamina/health")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["status"] == "ok" and body["version"]


def test_every_answer_has_its_own_request_id(server: Server) -> None:
    ids = set()
    for path in ("/2015-03-31/functions", "/2016-08-19/account-settings", "/2015-03-31/functions/missing",
                 "/not/an/api"):
        answer = http_request(server, "GET", path)
        ids.add(str(uuid.UUID(answer.headers["x-amzn-requestid"])))
    assert len(ids) == 4


def test_unknown_code_location_is_404(server: Server) -> None:
    answer = http_request(server, "GET", f"/_lamina/code/{'0' * 64}.zip")
    assert answer.status == 404
    assert http_request(server, "GET", "/_lamina/code/../../lamina.db").status == 404
