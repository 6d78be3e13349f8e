"""The quickstart path: create a function with boto3, invoke it, read its log tail."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.conftest import create_python_function

HELLO = """
def handler(event, context):
    print("hello from", context.function_name)
    return {"echo": event, "name": context.function_name}
"""


def test_create_invoke_and_tail(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, HELLO)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    answer = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"x": 1}), LogType="Tail")
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert json.loads(answer["Payload"].read()) == {"echo": {"x": 1}, "name": name}
    tail = base64.b64decode(answer["LogResult"]).decode()
    assert f"hello from {name}" in tail
    assert tail.startswith("START RequestId: ")
    assert "\nEND RequestId: " in tail
    assert "REPORT RequestId: " in tail and "Init Duration: " in tail
