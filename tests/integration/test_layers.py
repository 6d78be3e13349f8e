"""Layers through boto3: publishing and reading them, and what a function sees of them in /opt."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import urllib.request
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, create_python_function, invoke_json, make_zip, unique_name

ACCOUNT = "000000000000"
#: A region no other test publishes layers in, so ListLayers shows only this file's layers.
LISTING_REGION = "eu-north-1"

#: Reports what the function sees of /opt: the merged python/ module, files, and a layer's program.
OPT_CODE = """
import os
import subprocess
import sys
import uuid

TOKEN = uuid.uuid4().hex  # one per execution environment


def handler(event, context):
    import shared
    found = []
    for root, _dirs, files in os.walk("/opt"):
        found.extend(os.path.relpath(os.path.join(root, name), "/opt") for name in files)
    program = subprocess.run(["layer-hello"], capture_output=True, text=True) if event.get("run") else None
    return {"shared": shared.WHO, "shared_file": shared.__file__, "files": sorted(found),
            "data": open("/opt/data/which.txt").read(),
            "path": os.environ["PATH"], "sys_path": sys.path,
            "program": program.stdout if program else None,
            "writable": os.access("/opt/data/which.txt", os.W_OK), "token": TOKEN}
"""


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def publish(client: Any, files: dict[str, str | bytes], name: str | None = None,
            modes: dict[str, int] | None = None, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.publish_layer_version(
        LayerName=name or unique_name("layer"), Content={"ZipFile": make_zip(files, modes)}, **params)
    return answer


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200
        body: bytes = answer.read()
        return body


# -- the control plane -------------------------------------------------------------------------


def test_publish_get_and_download_a_layer_version(lambda_client: Any) -> None:
    name = unique_name("meta")
    zip_bytes = make_zip({"python/meta_mod.py": "X = 1\n", "README": "docs"})
    answer = lambda_client.publish_layer_version(
        LayerName=name, Content={"ZipFile": zip_bytes}, Description="shared helpers",
        CompatibleRuntimes=["python3.11", "python3.12"], CompatibleArchitectures=["x86_64", "arm64"],
        LicenseInfo="MIT")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 201
    layer_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:{name}"
    assert answer["LayerArn"] == layer_arn
    assert answer["LayerVersionArn"] == f"{layer_arn}:1"
    assert answer["Version"] == 1
    assert answer["Description"] == "shared helpers"
    assert answer["CompatibleRuntimes"] == ["python3.11", "python3.12"]
    assert answer["CompatibleArchitectures"] == ["x86_64", "arm64"]
    assert answer["LicenseInfo"] == "MIT"
    assert answer["Content"]["CodeSha256"] == b64sha256(zip_bytes)
    assert answer["Content"]["CodeSize"] == len(zip_bytes)
    assert answer["CreatedDate"]
    assert download(answer["Content"]["Location"]) == zip_bytes

    keys = ("LayerArn", "LayerVersionArn", "Version", "Description", "CompatibleRuntimes",
            "CompatibleArchitectures", "LicenseInfo", "CreatedDate")
    by_number = lambda_client.get_layer_version(LayerName=name, VersionNumber=1)
    by_layer_arn = lambda_client.get_layer_version(LayerName=layer_arn, VersionNumber=1)
    by_arn = lambda_client.get_layer_version_by_arn(Arn=f"{layer_arn}:1")
    for got in (by_number, by_layer_arn, by_arn):
        assert {k: got[k] for k in keys} == {k: answer[k] for k in keys}
        assert got["Content"]["CodeSha256"] == answer["Content"]["CodeSha256"]
        assert download(got["Content"]["Location"]) == zip_bytes

    second = lambda_client.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip({"b": "2"})})
    assert (second["Version"], second["LayerVersionArn"]) == (2, f"{layer_arn}:2")
    assert second["CompatibleRuntimes"] == [] or "CompatibleRuntimes" not in second
    assert "LicenseInfo" not in second

    for call in (lambda: lambda_client.get_layer_version(LayerName=name, VersionNumber=3),
                 lambda: lambda_client.get_layer_version_by_arn(Arn=f"{layer_arn}:3"),
                 lambda: lambda_client.get_layer_version(LayerName=unique_name("nolayer"), VersionNumber=1)):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[:1] == ("ResourceNotFoundException",)


def test_list_layers_and_versions_filter_and_paginate(server: Server) -> None:
    client = server.client(region=LISTING_REGION)
    py = unique_name("py")
    node = unique_name("node")
    for runtimes, architectures in ((["python3.11"], ["x86_64"]), (["python3.12"], ["arm64"]),
                                    (["python3.12", "python3.11"], ["x86_64", "arm64"])):
        publish(client, {"python/m.py": "x = 1\n"}, py, CompatibleRuntimes=runtimes,
                CompatibleArchitectures=architectures)
    publish(client, {"nodejs/node_modules/m.js": "1"}, node, CompatibleRuntimes=["nodejs20.x"])

    layers = client.list_layers()["Layers"]
    assert [layer["LayerName"] for layer in layers] == sorted([py, node])
    newest = {layer["LayerName"]: layer["LatestMatchingVersion"]["Version"] for layer in layers}
    assert newest == {py: 3, node: 1}
    for layer in layers:
        assert layer["LayerArn"] == f"arn:aws:lambda:{LISTING_REGION}:{ACCOUNT}:layer:{layer['LayerName']}"
        assert layer["LatestMatchingVersion"]["LayerVersionArn"] == \
            f"{layer['LayerArn']}:{layer['LatestMatchingVersion']['Version']}"

    def latest(**filters: Any) -> dict[str, int]:
        found = client.list_layers(**filters)["Layers"]
        return {layer["LayerName"]: layer["LatestMatchingVersion"]["Version"] for layer in found}

    assert latest(CompatibleRuntime="python3.11") == {py: 3}
    assert latest(CompatibleRuntime="nodejs20.x") == {node: 1}
    assert latest(CompatibleRuntime="python3.12", CompatibleArchitecture="arm64") == {py: 3}
    assert latest(CompatibleRuntime="java21") == {}
    first = client.list_layers(MaxItems=1)
    assert len(first["Layers"]) == 1
    rest = client.list_layers(Marker=first["NextMarker"])
    assert [layer["LayerName"] for layer in first["Layers"] + rest["Layers"]] == sorted([py, node])

    def versions(**params: Any) -> list[int]:
        return [v["Version"] for v in client.list_layer_versions(LayerName=py, **params)["LayerVersions"]]

    assert versions() == [3, 2, 1]
    assert versions(CompatibleRuntime="python3.11") == [3, 1]
    assert versions(CompatibleArchitecture="arm64") == [3, 2]
    assert versions(CompatibleRuntime="python3.11", CompatibleArchitecture="x86_64") == [3, 1]
    assert versions(CompatibleRuntime="nodejs20.x") == []
    page = client.list_layer_versions(LayerName=py, MaxItems=2)
    assert [v["Version"] for v in page["LayerVersions"]] == [3, 2]
    assert [v["Version"] for v in client.list_layer_versions(LayerName=py, Marker=page["NextMarker"])
            ["LayerVersions"]] == [1]
    paginator = client.get_paginator("list_layer_versions")
    assert [v["Version"] for p in paginator.paginate(LayerName=py, PaginationConfig={"PageSize": 1})
            for v in p["LayerVersions"]] == [3, 2, 1]

    client.delete_layer_version(LayerName=py, VersionNumber=3)
    assert versions() == [2, 1]
    assert latest(CompatibleRuntime="python3.11") == {py: 1}
    assert latest() == {py: 2, node: 1}
    # Version numbers are never reused, not even the deleted newest one.
    assert publish(client, {"python/m.py": "x = 2\n"}, py)["Version"] == 4


def test_deleted_layer_version_keeps_working_for_its_functions(lambda_client: Any) -> None:
    layer = publish(lambda_client, {"python/shared.py": "WHO = 'kept'\n", "data/which.txt": "kept"},
                    CompatibleRuntimes=["python3.12"])
    other = publish(lambda_client, {"python/other.py": "X = 1\n"}, layer["LayerArn"].rsplit(":", 1)[1])
    name = create_python_function(lambda_client, OPT_CODE, Layers=[layer["LayerVersionArn"]])
    before = invoke_json(lambda_client, name)[1]
    assert before["shared"] == "kept"

    answer = lambda_client.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=layer["Version"])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    # Deleting it again (or a version that never existed) succeeds, as on AWS.
    lambda_client.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=layer["Version"])
    lambda_client.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=99)

    for call in (lambda: lambda_client.get_layer_version(LayerName=layer["LayerArn"], VersionNumber=1),
                 lambda: lambda_client.get_layer_version_by_arn(Arn=layer["LayerVersionArn"])):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[0] == "ResourceNotFoundException"
    listed = lambda_client.list_layer_versions(LayerName=layer["LayerArn"])["LayerVersions"]
    assert [v["Version"] for v in listed] == [other["Version"]]

    # The function still lists it and still runs, also in a new environment (a configuration
    # change retires the warm one).
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert [entry["Arn"] for entry in config["Layers"]] == [layer["LayerVersionArn"]]
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {"NEW": "env"}})
    answer, payload = invoke_json(lambda_client, name)
    assert "FunctionError" not in answer, payload
    assert (payload["shared"], payload["data"]) == ("kept", "kept")
    assert payload["token"] != before["token"]

    # A new function cannot take it any more.
    fresh = unique_name("late")
    with pytest.raises(ClientError) as excinfo:
        create_python_function(lambda_client, OPT_CODE, name=fresh, Layers=[layer["LayerVersionArn"]])
    assert error_of(excinfo)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as excinfo:
        lambda_client.get_function(FunctionName=fresh)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_layer_version_policy(lambda_client: Any) -> None:
    layer = publish(lambda_client, {"a.txt": "a"})
    name, number = layer["LayerArn"], layer["Version"]
    with pytest.raises(ClientError) as excinfo:
        lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=number)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"

    added = lambda_client.add_layer_version_permission(
        LayerName=name, VersionNumber=number, StatementId="account", Action="lambda:GetLayerVersion",
        Principal="123456789012")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "account", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "lambda:GetLayerVersion", "Resource": layer["LayerVersionArn"]}
    lambda_client.add_layer_version_permission(
        LayerName=name, VersionNumber=number, StatementId="org", Action="lambda:GetLayerVersion",
        Principal="*", OrganizationId="o-abcdef1234")

    policy = lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=number)
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17"
    assert [s["Sid"] for s in document["Statement"]] == ["account", "org"]
    assert document["Statement"][1]["Principal"] == "*"
    assert document["Statement"][1]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdef1234"}}
    assert policy["RevisionId"]

    with pytest.raises(ClientError) as excinfo:
        lambda_client.add_layer_version_permission(
            LayerName=name, VersionNumber=number, StatementId="account", Action="lambda:GetLayerVersion",
            Principal="*")
    kind, message, status = error_of(excinfo)
    assert (kind, status) == ("ResourceConflictException", 409)
    assert "account" in message
    with pytest.raises(ClientError) as excinfo:
        lambda_client.add_layer_version_permission(
            LayerName=name, VersionNumber=number, StatementId="stale", Action="lambda:GetLayerVersion",
            Principal="*", RevisionId="not-the-revision")
    assert error_of(excinfo)[0] == "PreconditionFailedException"
    unchanged = lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=number)
    assert unchanged["Policy"] == policy["Policy"]
    assert unchanged["RevisionId"] == policy["RevisionId"]

    lambda_client.remove_layer_version_permission(LayerName=name, VersionNumber=number, StatementId="account")
    remaining = json.loads(lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=number)["Policy"])
    assert [s["Sid"] for s in remaining["Statement"]] == ["org"]
    with pytest.raises(ClientError) as excinfo:
        lambda_client.remove_layer_version_permission(LayerName=name, VersionNumber=number, StatementId="account")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    lambda_client.remove_layer_version_permission(LayerName=name, VersionNumber=number, StatementId="org")
    with pytest.raises(ClientError) as excinfo:
        lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=number)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


# -- what a function sees ----------------------------------------------------------------------


def test_layers_merge_into_opt_in_order(lambda_client: Any) -> None:
    base = publish(lambda_client, {"python/shared.py": "WHO = 'base'\n", "data/which.txt": "base",
                                   "data/base-only.txt": "b", "bin/layer-hello": "#!/bin/sh\necho hello from $0\n"},
                   modes={"bin/layer-hello": 0o755})
    top = publish(lambda_client, {"python/shared.py": "WHO = 'top'\n", "data/which.txt": "top",
                                  "data/top-only.txt": "t"})
    name = create_python_function(lambda_client, OPT_CODE,
                                  Layers=[base["LayerVersionArn"], top["LayerVersionArn"]])
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["Layers"] == [
        {"Arn": base["LayerVersionArn"], "CodeSize": base["Content"]["CodeSize"]},
        {"Arn": top["LayerVersionArn"], "CodeSize": top["Content"]["CodeSize"]}]

    answer, seen = invoke_json(lambda_client, name, {"run": True})
    assert "FunctionError" not in answer, seen
    assert seen["shared"] == "top"  # the later layer wins
    assert seen["shared_file"] == "/opt/python/shared.py"
    assert seen["data"] == "top"
    assert {"python/shared.py", "data/which.txt", "data/base-only.txt", "data/top-only.txt",
            "bin/layer-hello"} <= set(seen["files"])
    assert seen["program"] == "hello from /opt/bin/layer-hello\n"
    assert "/opt/bin" in seen["path"].split(":")
    assert "/opt/python" in seen["sys_path"]
    assert seen["writable"] is False

    # The other order: the other winner.
    swapped = create_python_function(lambda_client, OPT_CODE,
                                     Layers=[top["LayerVersionArn"], base["LayerVersionArn"]])
    assert invoke_json(lambda_client, swapped)[1]["shared"] == "base"

    # Layers can be changed on an existing function.
    lambda_client.update_function_configuration(FunctionName=name, Layers=[base["LayerVersionArn"]])
    assert invoke_json(lambda_client, name)[1]["data"] == "base"


def test_layer_limits_and_unknown_layers_create_nothing(lambda_client: Any) -> None:
    layer = publish(lambda_client, {"python/shared.py": "WHO = 'x'\n", "data/which.txt": "x"})
    six = [layer["LayerVersionArn"]] * 6
    unknown = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:{unique_name('missing')}:1"
    missing_version = layer["LayerArn"] + ":7"
    cases = [(six, "Cannot reference more than 5 layers."), ([unknown], unknown), ([missing_version], missing_version)]
    for layers, expected in cases:
        name = unique_name("limits")
        with pytest.raises(ClientError) as excinfo:
            create_python_function(lambda_client, OPT_CODE, name=name, Layers=layers)
        kind, message, status = error_of(excinfo)
        assert (kind, status) == ("InvalidParameterValueException", 400), layers
        assert expected in message
        with pytest.raises(ClientError) as excinfo:
            lambda_client.get_function(FunctionName=name)
        assert error_of(excinfo)[0] == "ResourceNotFoundException"

    # Five is fine, and so is updating an existing function; six or an unknown one is refused there too.
    name = create_python_function(lambda_client, OPT_CODE, Layers=six[:5])
    before = lambda_client.get_function_configuration(FunctionName=name)
    for layers, expected in cases:
        with pytest.raises(ClientError) as excinfo:
            lambda_client.update_function_configuration(FunctionName=name, Layers=layers)
        kind, message, _ = error_of(excinfo)
        assert kind == "InvalidParameterValueException"
        assert expected in message
    after = lambda_client.get_function_configuration(FunctionName=name)
    assert (after["RevisionId"], after["Layers"]) == (before["RevisionId"], before["Layers"])


def test_a_published_version_keeps_its_layers(lambda_client: Any) -> None:
    first = publish(lambda_client, {"python/shared.py": "WHO = 'first'\n", "data/which.txt": "1"})
    second = publish(lambda_client, {"python/shared.py": "WHO = 'second'\n", "data/which.txt": "2"})
    name = create_python_function(lambda_client, OPT_CODE, Layers=[first["LayerVersionArn"]])
    lambda_client.publish_version(FunctionName=name)
    lambda_client.update_function_configuration(FunctionName=name, Layers=[second["LayerVersionArn"]])
    assert lambda_client.publish_version(FunctionName=name)["Layers"][0]["Arn"] == second["LayerVersionArn"]
    assert invoke_json(lambda_client, name, Qualifier="1")[1]["shared"] == "first"
    assert invoke_json(lambda_client, name, Qualifier="2")[1]["shared"] == "second"
    lambda_client.update_function_configuration(FunctionName=name, Layers=[])
    assert "Layers" not in lambda_client.get_function_configuration(FunctionName=name)
    assert [entry["Arn"] for entry in lambda_client.get_function_configuration(
        FunctionName=name, Qualifier="1")["Layers"]] == [first["LayerVersionArn"]]


def test_a_layer_sharing_its_zip_with_a_function_outlives_that_function(lambda_client: Any) -> None:
    # The code store keeps one copy per zip digest; the layer's copy must not go when the last
    # function using the same bytes changes its code or is deleted.
    files: dict[str, str | bytes] = {"python/shared.py": "WHO = 'shared zip'\n", "data/which.txt": "same",
                                     "app.py": "def handler(event, context):\n    return 'function'\n"}
    zip_bytes = make_zip(files)
    name = unique_name("samezip")
    lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": zip_bytes})
    layer = lambda_client.publish_layer_version(LayerName=unique_name("samezip"), Content={"ZipFile": zip_bytes})
    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": OPT_CODE}))
    lambda_client.delete_function(FunctionName=name)

    location = lambda_client.get_layer_version_by_arn(Arn=layer["LayerVersionArn"])["Content"]["Location"]
    assert download(location) == zip_bytes
    user = create_python_function(lambda_client, OPT_CODE, Layers=[layer["LayerVersionArn"]])
    answer, payload = invoke_json(lambda_client, user)
    assert "FunctionError" not in answer, payload
    assert payload["shared"] == "shared zip"


# -- a real third-party package ----------------------------------------------------------------


@pytest.fixture(scope="session")
def requests_layer_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """``requests`` and its dependencies installed with pip into ``python/``, zipped; and its version."""
    root = tmp_path_factory.mktemp("requests-layer")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-cache-dir", "--only-binary", ":all:", "--target", str(root / "python"), "requests"],
                   check=True, timeout=120, capture_output=True)
    assert time.monotonic() - started < 60
    (dist,) = (root / "python").glob("requests-*.dist-info")
    version = dist.name.removeprefix("requests-").removesuffix(".dist-info")
    archive = root / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted((root / "python").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(root).as_posix())
    return archive.read_bytes(), version


def test_a_function_imports_requests_from_a_layer(lambda_client: Any, requests_layer_zip: tuple[bytes, str]) -> None:
    zip_bytes, version = requests_layer_zip
    layer = lambda_client.publish_layer_version(LayerName=unique_name("requests"), Content={"ZipFile": zip_bytes},
                                                CompatibleRuntimes=["python3.11"], LicenseInfo="Apache-2.0")
    code = ("import requests\n\n\ndef handler(event, context):\n"
            "    return {'version': requests.__version__, 'file': requests.__file__,\n"
            "            'request': requests.Request('GET', 'http://example.com/x', params={'q': 1}).prepare().url}\n")
    name = create_python_function(lambda_client, code, Runtime="python3.11", Layers=[layer["LayerVersionArn"]])
    answer, payload = invoke_json(lambda_client, name)
    assert "FunctionError" not in answer, payload
    assert payload == {"version": version, "file": "/opt/python/requests/__init__.py",
                       "request": "http://example.com/x?q=1"}
