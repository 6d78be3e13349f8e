"""The AWS CLI defines an HTTP API (quick create) and a function URL; a plain HTTP client calls them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import Server, create_python_function
from tests.integration.test_function_urls import WEB, call

AWS = str(Path(sys.executable).with_name("aws"))


def aws(server: Server, home: Path, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials")})
    done = subprocess.run([AWS, "--endpoint-url", server.endpoint, "--output", "json", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_cli_quick_create_and_function_url(server: Server, tmp_path: Path) -> None:
    name = create_python_function(server.client(), WEB)
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    made = aws(server, tmp_path, "apigatewayv2", "create-api", "--name", "cli", "--protocol-type", "HTTP",
               "--target", arn)
    assert made["ApiEndpoint"] == f"http://{made['ApiId']}.execute-api.localhost:{server.port}"
    answer = call(server, "GET", "/hello", host=made["ApiEndpoint"].split("//")[1])
    assert answer.status == 201 and answer.json()["event"]["rawPath"] == "/hello"
    url = aws(server, tmp_path, "lambda", "create-function-url-config", "--function-name", name,
              "--auth-type", "NONE")["FunctionUrl"]
    assert call(server, "GET", "/", host=url.split("//")[1].rstrip("/")).status == 201
