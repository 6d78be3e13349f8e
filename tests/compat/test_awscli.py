"""The AWS CLI (``awscli`` from PyPI) against Lamina: the quickstart commands, parsed JSON out."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROLE, Server, make_zip, unique_name

AWS = str(Path(sys.executable).with_name("aws"))
CODE = """
def handler(event, context):
    print("cli says", event.get("name"))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"hello": event.get("name"), "function": context.function_name}
"""




def _raw_payload_flags() -> list[str]:
    # AWS CLI v2 reads --payload as base64 unless told otherwise; v1 (the PyPI awscli) takes it raw
    # and has no --cli-binary-format option at all.
    version = subprocess.run([AWS, "--version"], capture_output=True, text=True, check=True)
    text = version.stdout + version.stderr
    return ["--cli-binary-format", "raw-in-base64-out"] if text.startswith("aws-cli/2") else []


RAW_PAYLOAD = _raw_payload_flags()


class Cli:
    def __init__(self, server: Server, home: Path, via_env: bool = False) -> None:
        self.server = server
        self.via_env = via_env
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update({
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
            # Whatever the machine's ~/.aws says must not matter.
            "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        })
        if via_env:
            self.env["AWS_ENDPOINT_URL"] = server.endpoint

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        endpoint = [] if self.via_env else ["--endpoint-url", self.server.endpoint]
        return subprocess.run([AWS, *args, *endpoint], env=self.env, cwd=cwd, capture_output=True, text=True,
                              timeout=60, check=False)

    def json(self, *args: str, cwd: Path | None = None) -> Any:
        done = self.run(*args, "--output", "json", cwd=cwd)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path)


def create(cli: Cli, tmp_path: Path, name: str) -> tuple[dict[str, Any], bytes]:
    zip_bytes = make_zip({"app.py": CODE})
    zip_path = tmp_path / "function.zip"
    zip_path.write_bytes(zip_bytes)
    created = cli.json("lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
                       "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{zip_path}",
                       "--environment", "Variables={STAGE=cli}", "--memory-size", "256")
    return created, zip_bytes


def test_cli_function_lifecycle(cli: Cli, tmp_path: Path) -> None:
    name = unique_name("cli")
    created, zip_bytes = create(cli, tmp_path, name)
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    assert created["State"] == "Pending"
    assert created["Environment"] == {"Variables": {"STAGE": "cli"}}
    assert created["MemorySize"] == 256

    assert cli.run("lambda", "wait", "function-active-v2", "--function-name", name).returncode == 0

    out = tmp_path / "out.json"
    invoked = cli.json("lambda", "invoke", "--function-name", name, *RAW_PAYLOAD,
                       "--payload", json.dumps({"name": "cli"}), "--log-type", "Tail", str(out))
    assert invoked["StatusCode"] == 200
    assert invoked["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in invoked
    assert json.loads(out.read_text()) == {"hello": "cli", "function": name}
    tail = base64.b64decode(invoked["LogResult"]).decode()
    assert tail.startswith("START RequestId: ") and "cli says cli" in tail and "REPORT RequestId: " in tail

    fetched = cli.json("lambda", "get-function", "--function-name", name)
    assert fetched["Configuration"]["State"] == "Active"
    assert fetched["Configuration"]["CodeSha256"] == created["CodeSha256"]
    assert fetched["Code"]["Location"].startswith(cli.server.endpoint)

    listed = cli.json("lambda", "list-functions")
    assert name in {fn["FunctionName"] for fn in listed["Functions"]}

    # Older models have no output for DeleteFunction; newer ones carry the HTTP status as StatusCode.
    assert cli.json("lambda", "delete-function", "--function-name", name) in (None, {"StatusCode": 204})
    missing = cli.run("lambda", "get-function", "--function-name", name)
    assert missing.returncode == 255
    assert ("An error occurred (ResourceNotFoundException) when calling the GetFunction operation: "
            f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}") in missing.stderr


def test_cli_with_aws_endpoint_url_variable(server: Server, tmp_path: Path) -> None:
    cli = Cli(server, tmp_path, via_env=True)
    name = unique_name("cli-env")
    create(cli, tmp_path, name)
    out = tmp_path / "out.json"
    invoked = cli.json("lambda", "invoke", "--function-name", name, *RAW_PAYLOAD,
                       "--payload", '{"name": "env"}', str(out))
    assert invoked["StatusCode"] == 200
    assert json.loads(out.read_text())["hello"] == "env"
    names = cli.json("lambda", "list-functions", "--query", "Functions[].FunctionName")
    assert name in names


def test_cli_errors(cli: Cli, tmp_path: Path) -> None:
    zip_path = tmp_path / "function.zip"
    zip_path.write_bytes(make_zip({"app.py": CODE}))
    refused = cli.run("lambda", "create-function", "--function-name", unique_name("cli-bad"), "--runtime",
                      "python3.12", "--role", ROLE, "--handler", "app.handler", "--memory-size", "10241",
                      "--zip-file", f"fileb://{zip_path}")
    assert refused.returncode == 255
    assert ("An error occurred (ValidationException) when calling the CreateFunction operation: 1 validation "
            "error detected: Value '10241' at 'memorySize' failed to satisfy constraint: Member must have value "
            "less than or equal to 10240") in refused.stderr
    assert "Traceback" not in refused.stderr

    # A function error is not a CLI error: exit 0, FunctionError in the output, the error in the file.
    name = unique_name("cli-fail")
    create(cli, tmp_path, name)
    out = tmp_path / "error.json"
    failed = cli.json("lambda", "invoke", "--function-name", name, *RAW_PAYLOAD,
                      "--payload", '{"fail": true}', str(out))
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(out.read_text())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "asked to fail")
