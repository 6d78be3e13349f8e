"""``lamina serve --examples``: every example template is deployed through the deploy engine once the
server listens, and each example works: the API backend over HTTP, the queue worker through its queue
(partial batch failures, then the dead-letter queue), hello as a function. An example that cannot be
deployed is logged and changes nothing else; a restart finds every stack up to date.

The server gets a copy of the repository's ``examples/`` folder plus one broken example.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, http_request, invoke_json, start_server, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = ["api-backend", "hello-python", "queue-worker"]

BROKEN = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Nope:
    Type: AWS::DynamoDB::Table
"""


def stacks(server: Server) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in http_request(server, "GET", "/_lamina/stacks").json()["stacks"]}


def record(server: Server, name: str) -> dict[str, Any]:
    document: dict[str, Any] = http_request(server, "GET", f"/_lamina/stacks/{name}").json()["document"]
    return document


def deployed(server: Server) -> bool:
    found = stacks(server)
    return all(found.get(name, {}).get("status") == "CREATE_COMPLETE" for name in NAMES)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("examples") / "examples"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns(".lamina-build", "__pycache__"))
    (folder / "broken").mkdir()
    (folder / "broken" / "template.yaml").write_text(BROKEN)
    return folder


@pytest.fixture(scope="module")
def server(examples: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    running = start_server(tmp_path_factory.mktemp("lamina-examples") / "data", "--examples", str(examples))
    yield running
    running.stop()


def test_every_example_is_deployed_and_a_broken_one_only_logged(server: Server, examples: Path) -> None:
    assert wait_for(lambda: deployed(server), timeout=90), (stacks(server), server.log())
    assert wait_for(lambda: "example broken failed to deploy" in server.log(), timeout=30), server.log()
    assert "template.yaml:4: Resource \"Nope\" has type AWS::DynamoDB::Table" in server.log()
    assert "broken" not in stacks(server)
    assert "example api-backend deployed: Items (create)" in server.log()
    # Builds are cached in the data directory, not next to the examples.
    assert not list(examples.rglob(".lamina-build"))
    assert (server.data_dir / "example-builds").is_dir()


def test_the_api_backend_answers_over_http(server: Server) -> None:
    assert wait_for(lambda: deployed(server), timeout=90)
    api_id = record(server, "api-backend")["resources"]["ServerlessHttpApi"]["physicalId"]
    got = http_request(server, "GET", f"/_lamina/api/{api_id}/items/42")
    assert got.status == 200 and got.headers["content-type"] == "application/json"
    assert got.json() == {"id": "42", "name": "item 42", "shop": "Lamina Shop"}
    made = http_request(server, "POST", f"/_lamina/api/{api_id}/items", json.dumps({"name": "lamp"}).encode(),
                        {"content-type": "application/json"})
    assert made.status == 201 and made.json()["name"] == "lamp" and len(made.json()["id"]) == 8
    # curl -d sends a form content type: the body arrives base64-encoded and is still understood.
    form = http_request(server, "POST", f"/_lamina/api/{api_id}/items", b'{"name": "desk"}',
                        {"content-type": "application/x-www-form-urlencoded"})
    assert form.status == 201 and form.json()["name"] == "desk"
    refused = http_request(server, "POST", f"/_lamina/api/{api_id}/items", b"[]", {"content-type": "application/json"})
    assert refused.status == 400 and refused.json() == {"message": 'the body needs a "name"'}
    assert http_request(server, "GET", f"/_lamina/api/{api_id}/nothing").status == 404


def test_the_queue_worker_processes_orders_and_dead_letters_bad_ones(server: Server) -> None:
    assert wait_for(lambda: deployed(server), timeout=90)
    resources = record(server, "queue-worker")["resources"]
    orders, dead = resources["Orders"]["physicalId"], resources["OrdersDeadLetters"]["physicalId"]
    sqs, logs = server.client("sqs"), server.client("logs")
    sqs.send_message(QueueUrl=orders, MessageBody=json.dumps({"id": "o-1", "quantity": 2}))
    sqs.send_message(QueueUrl=orders, MessageBody=json.dumps({"id": "o-2", "quantity": 0}))
    group = f"/aws/lambda/{resources['Worker']['physicalId']}"

    def messages() -> list[str]:
        try:
            return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        except logs.exceptions.ResourceNotFoundException:
            return []

    assert wait_for(lambda: any("processed order o-1" in m for m in messages()), timeout=30), messages()
    # The failed order is the only one retried (ReportBatchItemFailures), then dead-lettered
    # after maxReceiveCount (2) receives.
    seen: list[dict[str, Any]] = []

    def dead_lettered() -> bool:
        seen.extend(sqs.receive_message(QueueUrl=dead, WaitTimeSeconds=1).get("Messages", []))
        return bool(seen)

    assert wait_for(dead_lettered, timeout=60), messages()
    assert [json.loads(m["Body"]) for m in seen] == [{"id": "o-2", "quantity": 0}]
    assert sum("processed order o-1" in m for m in messages()) == 1
    assert sum("quantity must be positive" in m for m in messages()) == 2


def test_hello_is_a_function_named_hello(server: Server) -> None:
    assert wait_for(lambda: deployed(server), timeout=90)
    _, payload = invoke_json(server.client(), "hello", {"name": "Ada"})
    assert payload["message"] == "Hello, Ada!" and payload["function"] == "hello"


def test_a_restart_finds_every_example_up_to_date(server: Server, examples: Path) -> None:
    assert wait_for(lambda: deployed(server), timeout=90)
    before = stacks(server)
    server.stop()
    again = start_server(server.data_dir, "--examples", str(examples))
    try:
        assert wait_for(lambda: all(f"example {name} is up to date" in again.log() for name in NAMES),
                        timeout=90), again.log()
        after = stacks(again)
        assert {name: after[name]["lastModified"] for name in NAMES} == \
            {name: before[name]["lastModified"] for name in NAMES}
        assert "example broken failed to deploy" in again.log()
    finally:
        again.stop()
