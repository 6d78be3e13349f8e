"""The AWS CLI's release commands against Lamina: versions, aliases, layers and permissions."""

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
ACCOUNT = "000000000000"
CODE = "def handler(event, context):\n    return {'mark': 'MARK', 'version': context.function_version}\n"


class Cli:
    """``aws`` with test credentials and ``--endpoint-url`` pointing at the server."""

    def __init__(self, server: Server, home: Path) -> None:
        self.server = server
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update({
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
            # Whatever the machine's ~/.aws says must not matter.
            "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        })

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AWS, *args, "--endpoint-url", self.server.endpoint, "--output", "json"],
                              env=self.env, capture_output=True, text=True, timeout=60, check=False)

    def json(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def fails(self, *args: str) -> str:
        """The error code of a command that must fail with the CLI's service-error exit status."""
        done = self.run(*args)
        assert done.returncode == 255, (done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done.stderr.split("An error occurred (", 1)[1].split(")", 1)[0]


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path)


def write_zip(path: Path, files: dict[str, str | bytes]) -> bytes:
    data = make_zip(files)
    path.write_bytes(data)
    return data


def test_cli_versions_and_aliases(cli: Cli, server: Server, tmp_path: Path) -> None:
    name = unique_name("cli-rel")
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    first = tmp_path / "one.zip"
    write_zip(first, {"app.py": CODE.replace("MARK", "one")})
    cli.json("lambda", "create-function", "--function-name", name, "--runtime", "python3.12", "--role", ROLE,
             "--handler", "app.handler", "--zip-file", f"fileb://{first}")

    published = cli.json("lambda", "publish-version", "--function-name", name, "--description", "first")
    assert (published["Version"], published["FunctionArn"], published["Description"]) == ("1", f"{arn}:1", "first")
    second = tmp_path / "two.zip"
    second_bytes = write_zip(second, {"app.py": CODE.replace("MARK", "two")})
    updated = cli.json("lambda", "update-function-code", "--function-name", name, "--zip-file", f"fileb://{second}",
                       "--publish")
    assert updated["Version"] == "2"
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(second_bytes).digest()).decode()

    alias = cli.json("lambda", "create-alias", "--function-name", name, "--name", "live",
                     "--function-version", "1", "--description", "production")
    assert alias["AliasArn"] == f"{arn}:live"
    assert (alias["FunctionVersion"], alias["Description"]) == ("1", "production")

    shifted = cli.json("lambda", "update-alias", "--function-name", name, "--name", "live",
                       "--routing-config", "AdditionalVersionWeights={2=0.25}")
    assert shifted["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert shifted["RevisionId"] != alias["RevisionId"]
    shifted_json = cli.json("lambda", "update-alias", "--function-name", name, "--name", "live",
                            "--routing-config", json.dumps({"AdditionalVersionWeights": {"2": 0.5}}))
    assert shifted_json["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}

    cli.json("lambda", "create-alias", "--function-name", name, "--name", "beta", "--function-version", "2")
    listed = cli.json("lambda", "list-aliases", "--function-name", name)
    assert [(a["Name"], a["FunctionVersion"]) for a in listed["Aliases"]] == [("beta", "2"), ("live", "1")]
    assert listed["Aliases"][1]["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}
    only_2 = cli.json("lambda", "list-aliases", "--function-name", name, "--function-version", "2")
    assert [a["Name"] for a in only_2["Aliases"]] == ["beta"]

    # The CLI's answers are what the server holds.
    client = server.client()
    assert client.get_alias(FunctionName=name, Name="live")["RoutingConfig"] == \
        {"AdditionalVersionWeights": {"2": 0.5}}
    out = tmp_path / "out.json"
    invoked = cli.json("lambda", "invoke", "--function-name", name, "--qualifier", "beta", str(out))
    assert invoked["ExecutedVersion"] == "2"
    assert json.loads(out.read_text()) == {"mark": "two", "version": "2"}

    assert cli.fails("lambda", "create-alias", "--function-name", name, "--name", "live",
                     "--function-version", "2") == "ResourceConflictException"
    assert cli.fails("lambda", "create-alias", "--function-name", name, "--name", "123",
                     "--function-version", "2") == "ValidationException"
    assert cli.fails("lambda", "delete-function", "--function-name", name,
                     "--qualifier", "2") == "ResourceConflictException"


def test_cli_layers_and_permissions(cli: Cli, server: Server, tmp_path: Path) -> None:
    layer_name = unique_name("cli-layer")
    layer_zip = tmp_path / "layer.zip"
    layer_bytes = write_zip(layer_zip, {"python/cli_layer.py": "WHO = 'cli layer'\n"})
    layer = cli.json("lambda", "publish-layer-version", "--layer-name", layer_name, "--zip-file",
                     f"fileb://{layer_zip}", "--compatible-runtimes", "python3.12", "python3.11",
                     "--compatible-architectures", "x86_64", "--license-info", "MIT", "--description", "from the cli")
    assert layer["LayerVersionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:{layer_name}:1"
    assert layer["Version"] == 1
    assert layer["CompatibleRuntimes"] == ["python3.12", "python3.11"]
    assert (layer["LicenseInfo"], layer["Description"]) == ("MIT", "from the cli")
    assert layer["Content"]["CodeSha256"] == base64.b64encode(hashlib.sha256(layer_bytes).digest()).decode()

    name = unique_name("cli-perm")
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    code_zip = tmp_path / "code.zip"
    write_zip(code_zip, {"app.py": "import cli_layer\n\ndef handler(event, context):\n    return cli_layer.WHO\n"})
    created = cli.json("lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
                       "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{code_zip}",
                       "--layers", layer["LayerVersionArn"])
    assert created["Layers"][0]["Arn"] == layer["LayerVersionArn"]
    out = tmp_path / "out.json"
    assert cli.json("lambda", "invoke", "--function-name", name, str(out))["StatusCode"] == 200
    assert json.loads(out.read_text()) == "cli layer"

    added = cli.json("lambda", "add-permission", "--function-name", name, "--statement-id", "sns",
                     "--action", "lambda:InvokeFunction", "--principal", "sns.amazonaws.com",
                     "--source-arn", "arn:aws:sns:us-east-1:111122223333:topic", "--source-account", "111122223333")
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "sns", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn,
        "Condition": {"StringEquals": {"AWS:SourceAccount": "111122223333"},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:sns:us-east-1:111122223333:topic"}}}
    policy = cli.json("lambda", "get-policy", "--function-name", name)
    document = json.loads(policy["Policy"])
    assert (document["Version"], document["Id"], document["Statement"]) == ("2012-10-17", "default", [statement])
    assert policy["RevisionId"] == server.client().get_policy(FunctionName=name)["RevisionId"]

    assert cli.fails("lambda", "add-permission", "--function-name", name, "--statement-id", "sns",
                     "--action", "lambda:InvokeFunction", "--principal", "s3.amazonaws.com") == \
        "ResourceConflictException"
    assert cli.fails("lambda", "remove-permission", "--function-name", name,
                     "--statement-id", "missing") == "ResourceNotFoundException"
    assert cli.fails("lambda", "get-policy", "--function-name", name, "--qualifier", "9") == \
        "ResourceNotFoundException"
    six = [layer["LayerVersionArn"]] * 6
    assert cli.fails("lambda", "update-function-configuration", "--function-name", name, "--layers", *six) == \
        "InvalidParameterValueException"
