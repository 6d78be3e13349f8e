"""The Lambda control plane through boto3: create, read, list, update, delete, account settings."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, create_python_function, invoke_json, make_zip, unique_name

ACCOUNT = "000000000000"
LAST_MODIFIED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")

VERSIONED = """
import os

def handler(event, context):
    return {{"version": {version}, "greeting": os.environ.get("GREETING"),
            "memory": context.memory_limit_in_mb}}
"""


def code(version: int) -> str:
    return VERSIONED.format(version=version)


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_create_answers_201_with_the_full_configuration(lambda_client: Any) -> None:
    name = unique_name("create")
    zip_bytes = make_zip({"app.py": code(1)})
    before = datetime.now(UTC)
    answer = lambda_client.create_function(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": zip_bytes}, Description="configured by the test", Timeout=7, MemorySize=256,
        Environment={"Variables": {"GREETING": "hello", "OTHER_VAR": "x"}}, Architectures=["x86_64"],
        EphemeralStorage={"Size": 1024}, TracingConfig={"Mode": "Active"},
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"})

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert answer["FunctionName"] == name
    assert answer["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    assert answer["CodeSha256"] == b64sha256(zip_bytes)
    assert answer["CodeSize"] == len(zip_bytes)
    assert uuid.UUID(answer["RevisionId"])
    assert LAST_MODIFIED.fullmatch(answer["LastModified"]), answer["LastModified"]
    modified = datetime.strptime(answer["LastModified"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs((modified - before).total_seconds()) < 60
    assert answer["State"] == "Pending"
    assert answer["StateReasonCode"] == "Creating"
    assert answer["StateReason"] == "The function is being created."
    assert "LastUpdateStatus" not in answer  # AWS reports it from the first GetFunction on
    assert answer["Environment"] == {"Variables": {"GREETING": "hello", "OTHER_VAR": "x"}}
    assert answer["MemorySize"] == 256
    assert answer["Timeout"] == 7
    assert answer["Handler"] == "app.handler"
    assert answer["Runtime"] == "python3.12"
    assert answer["Role"] == ROLE
    assert answer["Description"] == "configured by the test"
    assert answer["Architectures"] == ["x86_64"]
    assert answer["EphemeralStorage"] == {"Size": 1024}
    assert answer["TracingConfig"] == {"Mode": "Active"}
    assert answer["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG",
                                       "SystemLogLevel": "INFO", "LogGroup": f"/aws/lambda/{name}"}
    assert answer["Version"] == "$LATEST"
    assert answer["PackageType"] == "Zip"

    config = lambda_client.get_function(FunctionName=name)["Configuration"]
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Successful"
    assert "StateReasonCode" not in config
    # (AWS moves RevisionId on when the function becomes Active, so it is not compared.)
    unchanged = ("FunctionArn", "CodeSha256", "CodeSize", "LastModified", "Environment",
                 "MemorySize", "Timeout", "Handler", "Runtime", "Role", "Description", "Architectures",
                 "EphemeralStorage", "TracingConfig", "LoggingConfig", "Version")
    assert {k: config[k] for k in unchanged} == {k: answer[k] for k in unchanged}


def test_create_fills_aws_defaults(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code(1))
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["Timeout"] == 3
    assert config["MemorySize"] == 128
    assert config["Description"] == ""
    assert config["Architectures"] == ["x86_64"]
    assert config["EphemeralStorage"] == {"Size": 512}
    assert config["TracingConfig"] == {"Mode": "PassThrough"}
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert "Environment" not in config


def test_waiters_see_active_and_updated(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code(1))
    started = time.monotonic()
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    updated = lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": code(2)}))
    assert updated["LastUpdateStatus"] == "InProgress"
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    # Both states are reached at once, so neither waiter needs its 1 s (or 5 s) retry delay.
    assert time.monotonic() - started < 1.0
    assert lambda_client.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"] == "Successful"


def test_duplicate_name_is_a_conflict(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code(1))
    first = lambda_client.get_function_configuration(FunctionName=name)
    with pytest.raises(ClientError) as excinfo:
        create_python_function(lambda_client, code(2), name=name)
    kind, message, status = error_of(excinfo)
    assert (kind, status) == ("ResourceConflictException", 409)
    assert name in message
    # The first function is untouched.
    assert lambda_client.get_function_configuration(FunctionName=name)["RevisionId"] == first["RevisionId"]


def test_get_function_code_location_downloads_the_zip(lambda_client: Any) -> None:
    zip_bytes = make_zip({"app.py": code(1), "lib/data.txt": "some data"})
    name = unique_name("download")
    lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": zip_bytes})
    answer = lambda_client.get_function(FunctionName=name)
    assert answer["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(answer["Code"]["Location"], timeout=10) as download:
        assert download.status == 200
        assert download.read() == zip_bytes
    assert answer["Configuration"]["CodeSha256"] == b64sha256(zip_bytes)


def test_get_function_configuration_by_name_and_arn(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code(1), Description="by arn")
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    by_name = lambda_client.get_function_configuration(FunctionName=name)
    by_arn = lambda_client.get_function_configuration(FunctionName=arn)
    assert by_name["FunctionArn"] == by_arn["FunctionArn"] == arn
    assert by_name["Description"] == by_arn["Description"] == "by arn"
    assert "ResponseMetadata" in by_arn and by_arn["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_list_functions_paginates_with_marker_and_max_items(server: Server) -> None:
    # A region of its own, so functions of other tests do not show up.
    client = server.client(region="ap-south-1")
    names = {create_python_function(client, code(1), name=unique_name("page")) for _ in range(7)}

    seen: list[str] = []
    sizes: list[int] = []
    params: dict[str, Any] = {"MaxItems": 3}
    while True:
        page = client.list_functions(**params)
        sizes.append(len(page["Functions"]))
        seen.extend(fn["FunctionName"] for fn in page["Functions"])
        for fn in page["Functions"]:
            assert fn["FunctionArn"].startswith("arn:aws:lambda:ap-south-1:")
        if "NextMarker" not in page:
            break
        params["Marker"] = page["NextMarker"]
    assert sizes == [3, 3, 1]
    assert len(seen) == 7 and set(seen) == names

    everything = client.list_functions()
    assert {fn["FunctionName"] for fn in everything["Functions"]} == names
    assert "NextMarker" not in everything

    paginated = client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2})
    assert {fn["FunctionName"] for page in paginated for fn in page["Functions"]} == names


def test_list_functions_refuses_a_forged_marker(server: Server) -> None:
    client = server.client(region="ap-south-1")
    with pytest.raises(ClientError) as excinfo:
        client.list_functions(Marker="not-a-marker")
    assert error_of(excinfo)[0] == "InvalidParameterValueException"


def test_update_function_code_changes_sha_and_invoke_sees_new_code(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code(1))
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    assert invoke_json(lambda_client, name)[1]["version"] == 1
    before = lambda_client.get_function_configuration(FunctionName=name)

    new_zip = make_zip({"app.py": code(2)})
    answer = lambda_client.update_function_code(FunctionName=name, ZipFile=new_zip)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["CodeSha256"] == b64sha256(new_zip) != before["CodeSha256"]
    assert answer["CodeSize"] == len(new_zip)
    assert answer["RevisionId"] != before["RevisionId"]
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert invoke_json(lambda_client, name)[1]["version"] == 2
    with urllib.request.urlopen(lambda_client.get_function(FunctionName=name)["Code"]["Location"]) as download:
        assert download.read() == new_zip


def test_update_function_configuration_reaches_the_next_invoke(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code(1), Environment={"Variables": {"GREETING": "first"}})
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    assert invoke_json(lambda_client, name)[1] == {"version": 1, "greeting": "first", "memory": "128"}

    answer = lambda_client.update_function_configuration(
        FunctionName=name, MemorySize=512, Environment={"Variables": {"GREETING": "second"}},
        Description="updated")
    assert answer["LastUpdateStatus"] == "InProgress"
    assert answer["MemorySize"] == 512
    assert answer["Environment"] == {"Variables": {"GREETING": "second"}}
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert (config["MemorySize"], config["Description"], config["LastUpdateStatus"]) == (512, "updated", "Successful")
    assert invoke_json(lambda_client, name)[1] == {"version": 1, "greeting": "second", "memory": "512"}


def test_revision_id_mismatch_is_a_failed_precondition(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code(1))
    current = lambda_client.get_function_configuration(FunctionName=name)["RevisionId"]
    stale = str(uuid.uuid4())
    with pytest.raises(ClientError) as excinfo:
        lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": code(2)}),
                                           RevisionId=stale)
    assert error_of(excinfo)[0::2] == ("PreconditionFailedException", 412)
    with pytest.raises(ClientError) as excinfo:
        lambda_client.update_function_configuration(FunctionName=name, Timeout=10, RevisionId=stale)
    assert error_of(excinfo)[0::2] == ("PreconditionFailedException", 412)
    assert "Revision Id" in error_of(excinfo)[1]
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert (config["RevisionId"], config["Timeout"]) == (current, 3)

    # The current revision id is accepted, and each update moves it on.
    updated = lambda_client.update_function_configuration(FunctionName=name, Timeout=10, RevisionId=current)
    assert updated["RevisionId"] != current
    code_update = lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": code(3)}),
                                                     RevisionId=updated["RevisionId"])
    assert code_update["RevisionId"] not in (current, updated["RevisionId"])


def test_update_while_another_update_runs_is_a_conflict(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code(1))
    # 20 MB of incompressible bytes keep the code update busy (hash, check, unpack) for a while.
    big = make_zip({"app.py": code(2), "blob.bin": os.urandom(20 * 1024 * 1024)})
    conflicts: list[dict[str, Any]] = []
    updated: dict[str, Any] | None = None
    with ThreadPoolExecutor(1) as pool:
        for _ in range(10):  # the code update may itself meet one of the configuration updates
            code_update = pool.submit(lambda_client.update_function_code, FunctionName=name, ZipFile=big)
            while not code_update.done():
                try:
                    lambda_client.update_function_configuration(FunctionName=name, Description="meanwhile")
                except ClientError as error:
                    conflicts.append(error.response)
                # A pause between them: back to back they held the lock most of the time, and the
                # code update met one at each of five tries now and then.
                time.sleep(0.005)
            try:
                updated = code_update.result()
                break
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ResourceConflictException"
    assert updated is not None
    assert conflicts, "no configuration update overlapped the code update"
    for response in conflicts:
        assert response["Error"]["Code"] == "ResourceConflictException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert conflicts[0]["Error"]["Message"] == (
        "The operation cannot be performed at this time. An update is in progress for resource: "
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")
    assert lambda_client.get_function_configuration(FunctionName=name)["CodeSha256"] == updated["CodeSha256"]
    assert invoke_json(lambda_client, name)[1]["version"] == 2


def test_delete_function_then_it_is_gone(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code(1) + f"# only {unique_name()} uses this zip\n")
    location = lambda_client.get_function(FunctionName=name)["Code"]["Location"]
    answer = lambda_client.delete_function(FunctionName=name)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    expected = f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    for call in (lambda_client.get_function, lambda_client.get_function_configuration,
                 lambda_client.delete_function, lambda_client.invoke):
        with pytest.raises(ClientError) as excinfo:
            call(FunctionName=name)
        assert error_of(excinfo) == ("ResourceNotFoundException", expected, 404)
    assert name not in {fn["FunctionName"] for fn in lambda_client.list_functions()["Functions"]}
    # Its code, used by no other function, is gone too.
    with pytest.raises(urllib.error.HTTPError) as download:
        urllib.request.urlopen(location, timeout=10)
    assert download.value.code == 404
    download.value.close()
    # The name is free again.
    create_python_function(lambda_client, code(2), name=name)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    assert invoke_json(lambda_client, name)[1]["version"] == 2


def test_update_of_a_missing_function_is_not_found(lambda_client: Any) -> None:
    name = unique_name("missing")
    with pytest.raises(ClientError) as excinfo:
        lambda_client.update_function_configuration(FunctionName=name, Timeout=5)
    assert error_of(excinfo)[0::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": code(1)}))
    assert error_of(excinfo)[0::2] == ("ResourceNotFoundException", 404)


def test_get_account_settings(server: Server) -> None:
    client = server.client(region="ca-central-1")
    empty = client.get_account_settings()
    assert empty["AccountLimit"] == {
        "TotalCodeSize": 75 * 1024 ** 3, "CodeSizeUnzipped": 250 * 1024 ** 2, "CodeSizeZipped": 50 * 1024 ** 2,
        "ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}
    assert empty["AccountUsage"] == {"TotalCodeSize": 0, "FunctionCount": 0}

    sizes = []
    for version in (1, 2):
        name = create_python_function(client, code(version))
        sizes.append(client.get_function_configuration(FunctionName=name)["CodeSize"])
    usage = client.get_account_settings()["AccountUsage"]
    assert usage == {"TotalCodeSize": sum(sizes), "FunctionCount": 2}
