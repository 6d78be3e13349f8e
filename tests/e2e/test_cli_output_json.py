"""``--output json`` on every ``lamina`` command: each run as a subprocess (against the live server
where the command talks to one), its stdout parsed with ``json.loads`` and its key fields checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from lamina import __version__
from lamina.cli.main import app
from tests.conftest import Server, create_python_function, free_port, unique_name, wait_for

FUNCTION = """
def handler(event, context):
    print("handling", event.get("n"))
    return {"n": event.get("n"), "name": context.function_name}
"""

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /hello
            Method: get
Outputs:
  Name:
    Value: !Ref Hello
"""


def lamina(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", *args], capture_output=True, text=True, timeout=180,
                          check=False, cwd=cwd)


def as_json(*args: str, cwd: Path | None = None) -> Any:
    done = lamina(*args, "--output", "json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def first_line(command: list[str], tmp_path: Path, ended_by: int = 0) -> dict[str, Any]:
    """Start a long-running command, parse its first stdout line as JSON, then stop it with SIGTERM;
    ``ended_by`` is its exit status then (servers exit 0; a follower simply dies of the signal)."""
    process = subprocess.Popen([sys.executable, "-m", "lamina", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, start_new_session=True,
                               env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, "the command printed nothing"
        document: dict[str, Any] = json.loads(line)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == ended_by
        return document
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def invoked(server: Server) -> tuple[str, str]:
    """A function invoked once through ``lamina invoke --output json``: (name, request id)."""
    name = create_python_function(server.client(), FUNCTION)
    result = as_json("invoke", name, "--payload", '{"n": 3}', "--tail", "--endpoint", server.endpoint)
    assert result["statusCode"] == 200 and result["payload"] == {"n": 3, "name": name}
    assert result["functionError"] is None and result["executedVersion"] == "$LATEST"
    assert result["report"]["memorySizeMB"] == 128 and "handling 3" in result["log"]
    return name, result["requestId"]


def test_every_command_has_output() -> None:
    # Typer builds its commands on a click of its own: walk them by shape, not by class.
    root: Any = typer.main.get_command(app)
    found: dict[str, bool] = {}
    todo: list[tuple[str, Any]] = list(root.commands.items())
    while todo:
        name, command = todo.pop()
        if hasattr(command, "commands"):
            todo.extend((f"{name} {sub}", item) for sub, item in command.commands.items())
        else:
            found[name] = any("--output" in param.opts for param in command.params)
    assert {"local invoke", "local start-api", "serve", "version", "logs", "deploy"} <= set(found)
    assert [name for name, has in found.items() if not has] == []


def test_version_and_generate_event() -> None:
    assert as_json("version") == {"version": __version__}
    event = as_json("generate-event", "sqs", "--body", "hi")
    assert event["Records"][0]["eventSource"] == "aws:sqs" and event["Records"][0]["body"] == "hi"


def test_doctor(server: Server) -> None:
    report = as_json("doctor", "--port", str(server.port))
    assert report["version"] == __version__
    assert report["server"]["port"]["state"] == "on" and "running" in report["server"]["port"]["reason"]
    assert any(name.startswith("python3.") for name in report["runtimes"])
    assert all(item["state"] in ("on", "off", "unavailable") for item in report["isolation"].values())
    assert report["server"]["realtime"]["state"] in ("on", "unavailable") and report["server"]["realtime"]["reason"]


def test_invoke_logs_metrics_cost(server: Server, invoked: tuple[str, str]) -> None:
    name, request_id = invoked
    endpoint = ["--endpoint", server.endpoint]
    found: dict[str, Any] = {}

    def logged() -> bool:
        found.update(as_json("logs", name, *endpoint))
        return any(e["message"].startswith(f"REPORT RequestId: {request_id}") for e in found["events"])

    assert wait_for(logged, timeout=20), found
    assert found["logGroupName"] == f"/aws/lambda/{name}"
    assert {"timestamp", "logStreamName", "message", "eventId"} == set(found["events"][0])
    assert f"START RequestId: {request_id} Version: $LATEST" in [e["message"] for e in found["events"]]

    def counted() -> bool:
        found.update(metrics=as_json("metrics", name, *endpoint))
        return sum(row.get("invocations", 0) for row in found["metrics"]["rows"]) == 1

    assert wait_for(counted, timeout=20), found
    assert found["metrics"]["function"] == name and found["metrics"]["period"] == 60

    def billed() -> bool:
        found.update(cost=as_json("cost", "--function", name, *endpoint))
        return bool(found["cost"]["rows"])

    assert wait_for(billed, timeout=20), found
    assert [row["function"] for row in found["cost"]["rows"]] == [name]
    assert found["cost"]["total"]["requests"] == 1


def test_logs_follow_prints_one_json_object_per_line(server: Server, invoked: tuple[str, str],
                                                     tmp_path: Path) -> None:
    name, request_id = invoked
    event = first_line(["logs", name, "--follow", "--output", "json", "--endpoint", server.endpoint], tmp_path,
                       ended_by=-signal.SIGTERM)
    assert event["message"] == f"START RequestId: {request_id} Version: $LATEST"
    assert event["logStreamName"] and event["eventId"]


def test_deploy_stacks_delete(server: Server, tmp_path: Path) -> None:
    project = tmp_path / "json-demo"
    (project / "src").mkdir(parents=True)
    (project / "template.yaml").write_text(TEMPLATE)
    (project / "src" / "app.py").write_text(FUNCTION)
    stack = unique_name("jsondemo")
    endpoint = ["--endpoint", server.endpoint]

    deployed = as_json("deploy", str(project), "--stack-name", stack, *endpoint)
    assert deployed["stackName"] == stack and deployed["status"] == "CREATE_COMPLETE"
    assert deployed["dryRun"] is False
    assert ("Hello", "create") in {(row["logicalId"], row["action"]) for row in deployed["plan"]}
    assert deployed["functions"][0]["name"] == f"{stack}-Hello" == deployed["outputs"]["Name"]
    assert deployed["apis"][0]["urls"] == [deployed["apis"][0]["endpoint"] + "/"]

    listed = as_json("stacks", *endpoint)
    mine = next(item for item in listed if item["name"] == stack)
    assert mine["status"] == "CREATE_COMPLETE" and mine["resources"] == len(deployed["done"])

    deleted = as_json("delete", stack, *endpoint)
    assert deleted["stackName"] == stack and deleted["status"] == "DELETE_COMPLETE"
    assert ("Hello", "AWS::Lambda::Function") in {(row["logicalId"], row["type"]) for row in deleted["deleted"]}
    assert stack not in [item["name"] for item in as_json("stacks", *endpoint)]


def test_local_invoke_and_start_api(tmp_path: Path) -> None:
    project = tmp_path / "local-demo"
    (project / "src").mkdir(parents=True)
    (project / "template.yaml").write_text(TEMPLATE)
    (project / "src" / "app.py").write_text(FUNCTION)
    result = as_json("local", "invoke", "Hello", "--payload", '{"n": 5}', cwd=project)
    assert result["payload"] == {"n": 5, "name": "local-demo-Hello"} and result["statusCode"] == 200
    assert result["report"]["durationMs"] > 0

    port = free_port()
    listening = first_line(["local", "start-api", "--template", str(project), "--port", str(port),
                            "--output", "json"], tmp_path)
    assert listening["event"] == "listening" and listening["url"] == f"http://127.0.0.1:{port}"
    assert listening["apis"][0]["routes"] == [{"routeKey": "GET /hello", "function": "local-demo-Hello"}]
    assert listening["watching"] == []


def test_serve(tmp_path: Path) -> None:
    port = free_port()
    started = first_line(["serve", "--port", str(port), "--data-dir", str(tmp_path / "data"), "--output", "json"],
                         tmp_path)
    assert started == {"version": __version__, "endpoint": f"http://127.0.0.1:{port}", "region": "us-east-1",
                       "accountId": "000000000000", "dataDir": str(tmp_path / "data")}
