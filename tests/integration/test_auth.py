"""Authentication on (LAMINA_AUTH=1): SigV4 signatures are checked against the configured keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import Server, create_python_function, start_server


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("auth") / "data",
                          env={"LAMINA_AUTH": "1", "LAMINA_CREDENTIALS": "AKIDLAMINA:s3cret,AKIDOTHER:other"})
    yield server
    server.stop()


def _client(server: Server, key: str, secret: str) -> Any:
    return boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))


def test_known_keys_work(secured: Server) -> None:
    client = _client(secured, "AKIDLAMINA", "s3cret")
    name = create_python_function(client, "def handler(e, c):\n    return 'ok'\n")
    assert client.invoke(FunctionName=name)["Payload"].read() == b'"ok"'
    other = _client(secured, "AKIDOTHER", "other")
    assert other.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


@pytest.mark.parametrize(("key", "secret", "code"), [
    ("AKIDLAMINA", "wrong", "InvalidSignatureException"),
    ("AKIDNOBODY", "s3cret", "UnrecognizedClientException"),
])
def test_bad_credentials_are_refused(secured: Server, key: str, secret: str, code: str) -> None:
    with pytest.raises(ClientError) as refused:
        _client(secured, key, secret).list_functions()
    assert refused.value.response["Error"]["Code"] == code
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unsigned_requests_are_refused(secured: Server) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{secured.endpoint}/2015-03-31/functions", timeout=10)
    assert refused.value.code == 403
    assert refused.value.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"


def test_another_accounts_caller_needs_a_resource_policy(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = start_server(tmp_path_factory.mktemp("auth-x") / "data", env={
        "LAMINA_AUTH": "1", "LAMINA_CREDENTIALS": "AKIDOWNER:own,AKIDPARTNER:partner:111122223333"})
    try:
        owner = _client(server, "AKIDOWNER", "own")
        partner = _client(server, "AKIDPARTNER", "partner")
        name = create_python_function(owner, "def handler(e, c):\n    return 'ran'\n")
        with pytest.raises(ClientError) as refused:
            partner.invoke(FunctionName=f"arn:aws:lambda:us-east-1:000000000000:function:{name}")
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        owner.add_permission(FunctionName=name, StatementId="partner", Action="lambda:InvokeFunction",
                             Principal="111122223333")
        answer = partner.invoke(FunctionName=f"arn:aws:lambda:us-east-1:000000000000:function:{name}")
        assert answer["Payload"].read() == b'"ran"'
    finally:
        server.stop()


def test_aws_iam_function_url_from_another_account_needs_a_policy(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    server = start_server(tmp_path_factory.mktemp("auth-url") / "data", env={
        "LAMINA_AUTH": "1", "LAMINA_CREDENTIALS": "AKIDOWNER:own,AKIDPARTNER:partner:111122223333"})
    try:
        owner = _client(server, "AKIDOWNER", "own")
        name = create_python_function(owner, "def handler(e, c):\n    return {'statusCode': 200, 'body': 'hi'}\n")
        url_id = owner.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"].split("//")[1]
        url_id = url_id.split(".")[0]
        target = f"{server.endpoint}/_lamina/url/{url_id}/"

        def call(key: str, secret: str) -> int:
            signed = AWSRequest(method="GET", url=target)
            SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(signed)
            request = urllib.request.Request(target, headers=dict(signed.headers.items()))
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as error:
                return int(error.code)

        assert call("AKIDOWNER", "own") == 200
        assert call("AKIDPARTNER", "partner") == 403
        owner.add_permission(FunctionName=name, StatementId="partner-url", Action="lambda:InvokeFunctionUrl",
                             Principal="111122223333", FunctionUrlAuthType="AWS_IAM")
        assert call("AKIDPARTNER", "partner") == 200
    finally:
        server.stop()


STACK_TEMPLATE = """\
Resources:
  Echo:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: arn:aws:iam::000000000000:role/any
      Code:
        ZipFile: |
          def handler(event, context):
              return event
"""


def _lamina(server: Server, key: str, secret: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1"}
    return subprocess.run([sys.executable, "-m", "lamina", *args, "--endpoint", server.endpoint], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_stack_records_need_a_signed_request(secured: Server, tmp_path: Path) -> None:
    unsigned = urllib.request.Request(f"{secured.endpoint}/_lamina/stacks/forged?region=us-east-1", method="PUT",
                                      data=json.dumps({"name": "forged"}).encode(),
                                      headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=30)
    assert refused.value.code == 403
    assert refused.value.headers["x-amzn-errortype"] == "UnrecognizedClientException"

    template = tmp_path / "template.yaml"
    template.write_text(STACK_TEMPLATE)
    wrong = _lamina(secured, "AKIDLAMINA", "not-the-secret", "deploy", str(template), "--stack-name", "signed")
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    deployed = _lamina(secured, "AKIDLAMINA", "s3cret", "deploy", str(template), "--stack-name", "signed",
                       "--output", "json")
    assert deployed.returncode == 0, deployed.stderr
    listed = _lamina(secured, "AKIDLAMINA", "s3cret", "stacks", "--output", "json")
    names = [stack["name"] for stack in json.loads(listed.stdout)]
    assert names == ["signed"]  # the forged record was never stored
    deleted = _lamina(secured, "AKIDLAMINA", "s3cret", "delete", "signed")
    assert deleted.returncode == 0, deleted.stderr
