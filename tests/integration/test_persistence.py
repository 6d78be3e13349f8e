"""Restarting the server on the same data directory keeps every function, as it was."""

from __future__ import annotations

import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import (
    TAG_CODE,
    Server,
    create_python_function,
    invoke_json,
    make_zip,
    pid_named,
    process_alive,
    start_server,
    wait_for,
)

CODE = TAG_CODE + """
import os

def handler(event, context):
    return {"greeting": os.environ["GREETING"], "environment": ENVIRONMENT, "event": event}
"""
KEPT = ("FunctionArn", "CodeSha256", "CodeSize", "RevisionId", "LastModified", "Environment", "MemorySize",
        "Timeout", "Handler", "Runtime", "Role", "Description", "State", "LastUpdateStatus")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts; any still running at the end are killed."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop(signal.SIGKILL)


def test_functions_survive_a_restart(tmp_path: Path, servers: list[Server]) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    servers.append(first)
    client = first.client()
    name = create_python_function(client, CODE, MemorySize=256, Timeout=9, Description="kept",
                                  Environment={"Variables": {"GREETING": "hello again"}})
    client.update_function_configuration(FunctionName=name, Description="kept after an update")
    gone = create_python_function(client, CODE, Environment={"Variables": {"GREETING": "bye"}})
    client.delete_function(FunctionName=gone)
    west = create_python_function(first.client(region="us-west-2"), CODE,
                                  Environment={"Variables": {"GREETING": "west"}})
    coded = create_python_function(client, CODE, Environment={"Variables": {"GREETING": "v1"}})
    new_code = CODE.replace('os.environ["GREETING"]', '"v2 code"')
    updated = client.update_function_code(FunctionName=coded, ZipFile=make_zip({"app.py": new_code}))
    before = client.get_function(FunctionName=name)
    old_environment = invoke_json(client, name, {"n": 1})[1]["environment"]
    old_pid = pid_named(old_environment)

    first.stop(signal.SIGTERM)
    assert wait_for(lambda: not process_alive(old_pid), timeout=5)

    second = start_server(data)
    servers.append(second)
    client = second.client()
    after = client.get_function(FunctionName=name)
    assert {k: after["Configuration"][k] for k in KEPT} == {k: before["Configuration"][k] for k in KEPT}
    assert after["Configuration"]["Description"] == "kept after an update"
    answer, payload = invoke_json(client, name, {"n": 2})
    assert "FunctionError" not in answer
    assert payload["greeting"] == "hello again" and payload["event"] == {"n": 2}
    assert payload["environment"] != old_environment
    with urllib.request.urlopen(after["Code"]["Location"]) as download:
        stored = download.read()
    with urllib.request.urlopen(before["Code"]["Location"].replace(str(first.port), str(second.port))) as again:
        assert again.read() == stored

    with pytest.raises(ClientError) as excinfo:
        client.get_function(FunctionName=gone)
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert invoke_json(second.client(region="us-west-2"), west)[1]["greeting"] == "west"
    config = client.get_function_configuration(FunctionName=coded)
    assert (config["CodeSha256"], config["RevisionId"]) == (updated["CodeSha256"], updated["RevisionId"])
    assert invoke_json(client, coded)[1]["greeting"] == "v2 code"
    # Only code in use is kept on disk: the two functions share one zip, the replaced zip is gone.
    assert len(list((data / "code" / "blobs").glob("*.zip"))) == 2

    assert {fn["FunctionName"] for fn in client.list_functions()["Functions"]} == {name, coded}
    # A function created after the restart sits beside the old ones.
    fresh = create_python_function(client, CODE, Environment={"Variables": {"GREETING": "new"}})
    assert {fn["FunctionName"] for fn in client.list_functions()["Functions"]} == {name, coded, fresh}
    second.stop(signal.SIGTERM)

