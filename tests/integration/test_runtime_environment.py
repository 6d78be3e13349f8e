"""What a function sees inside its execution environment: variables, the context object, its files."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from tests.conftest import create_python_function, invoke_json

INSPECT = """
import os, time

def handler(event, context):
    first = context.get_remaining_time_in_millis()
    time.sleep(0.3)
    second = context.get_remaining_time_in_millis()
    return {
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "task_root_files": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"])),
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
            "client_context": context.client_context,
        },
        "remaining": [first, second],
    }
"""

LOG_STREAM = re.compile(r"(\d{4})/(\d\d)/(\d\d)/\[\$LATEST\]([0-9a-f]{32})")


def test_documented_environment_variables_are_set(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, INSPECT, MemorySize=256, Timeout=5,
                                  Environment={"Variables": {"MY_SETTING": "blue", "OTHER_ONE": "42"}})
    _, result = invoke_json(lambda_client, name)
    env = result["env"]

    assert env["MY_SETTING"] == "blue" and env["OTHER_ONE"] == "42"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    stream = LOG_STREAM.fullmatch(env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert stream is not None, env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert "/".join(stream.groups()[:3]) == time.strftime("%Y/%m/%d", time.gmtime())
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["LAMBDA_TASK_ROOT"] == result["cwd"]
    assert "app.py" in result["task_root_files"]
    assert env["LAMBDA_RUNTIME_DIR"]
    assert env["TZ"] == ":UTC"
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LANG", "PATH"):
        assert env[key], key
    # The server's own environment does not leak into functions (pytest set this one for the server).
    assert "PYTEST_CURRENT_TEST" not in env


def test_context_object(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, INSPECT, MemorySize=256, Timeout=5)
    started = time.monotonic()
    _, result = invoke_json(lambda_client, name)
    elapsed_ms = (time.monotonic() - started) * 1000
    context, env = result["context"], result["env"]
    assert context["function_name"] == name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert context["memory_limit_in_mb"] == "256"  # a string, as on AWS
    assert uuid.UUID(context["aws_request_id"])
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert context["log_stream_name"] == env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert context["identity"] == [None, None]
    assert context["client_context"] is None

    first, second = result["remaining"]
    assert 5000 - elapsed_ms - 50 <= first <= 5000
    assert 300 <= first - second <= 300 + 200


def test_each_invocation_has_its_own_request_id(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, """
def handler(event, context):
    return context.aws_request_id
""")
    ids = {invoke_json(lambda_client, name)[1] for _ in range(3)}
    assert len(ids) == 3



def test_code_is_read_only_and_tmp_is_writable(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, """
import os, tempfile

def handler(event, context):
    try:
        with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "app.py"), "a") as code:
            code.write("# changed by the function")
        task_root = "writable"
    except OSError:
        task_root = "read-only"
    with tempfile.NamedTemporaryFile(dir=tempfile.gettempdir()) as scratch:
        scratch.write(b"ok")
        scratch.flush()
        tmp = os.path.getsize(scratch.name)
    return [task_root, tmp]
""")
    assert invoke_json(lambda_client, name)[1] == ["read-only", 2]


CHANNEL = """
import os, stat, socket
def handler(event, context):
    kind = os.fstat(3).st_mode
    peer = socket.socket(fileno=os.dup(3))
    family = peer.family
    peer.detach()
    return {"socket": stat.S_ISSOCK(kind), "unix": family == socket.AF_UNIX,
            "variable": os.environ.get("_LAMINA_RUNTIME_FD"), "api": os.environ.get("AWS_LAMBDA_RUNTIME_API")}
"""


def test_python_functions_talk_to_the_platform_over_a_private_socket_pair(lambda_client: Any) -> None:
    # Lamina's bootstrap gets its invocations as frames on fd 3 (lamina.sandbox.channel), not over HTTP;
    # the HTTP Runtime API is still announced for code that looks for it.
    name = create_python_function(lambda_client, CHANNEL)
    answer, payload = invoke_json(lambda_client, name, {})
    assert "FunctionError" not in answer, payload
    assert payload["socket"] is True and payload["unix"] is True
    assert payload["variable"] is None
    assert re.fullmatch(r"127\.0\.0\.1:\d+", payload["api"])
