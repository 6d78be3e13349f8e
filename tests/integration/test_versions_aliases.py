"""Versions and aliases through boto3: immutable snapshots, qualified names, weighted routing."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import (
    BEACON_CODE,
    ROLE,
    Beacon,
    Server,
    create_python_function,
    invoke_json,
    make_zip,
    start_server,
    unique_name,
)

ACCOUNT = "000000000000"

#: Reports which code answered (MARK), which process (TOKEN, fixed at import: a new one means a cold
#: start) and what the runtime was told about the version and the ARN it was invoked with.
CODE = """
import os
import uuid

TOKEN = uuid.uuid4().hex


def handler(event, context):
    return {"mark": "MARK", "token": TOKEN, "arn": context.invoked_function_arn,
            "version": context.function_version, "env_version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
            "greeting": os.environ.get("GREETING"), "log_stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}
"""


def code(mark: str) -> str:
    return CODE.replace("MARK", mark)


def code_zip(mark: str) -> bytes:
    return make_zip({"app.py": code(mark)})


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def arn_of(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def with_versions(client: Any, marks: list[str]) -> str:
    """A function with one published version per mark (version n runs marks[n-1]); $LATEST runs the last."""
    name = create_python_function(client, code(marks[0]))
    client.publish_version(FunctionName=name)
    for mark in marks[1:]:
        client.update_function_code(FunctionName=name, ZipFile=code_zip(mark))
        client.publish_version(FunctionName=name)
    return name


def version_numbers(client: Any, name: str) -> list[str]:
    return [v["Version"] for v in client.list_versions_by_function(FunctionName=name)["Versions"]]


# -- PublishVersion ----------------------------------------------------------------------------


def test_published_version_is_an_immutable_snapshot(lambda_client: Any) -> None:
    first_zip = code_zip("one")
    name = unique_name("snap")
    lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": first_zip}, Environment={"Variables": {"GREETING": "hi"}},
                                  Description="the function")
    published = lambda_client.publish_version(FunctionName=name, Description="first release")
    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert published["Version"] == "1"
    assert published["FunctionArn"] == f"{arn_of(name)}:1"
    assert published["Description"] == "first release"
    assert published["CodeSha256"] == b64sha256(first_zip)
    assert published["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert published["State"] == "Active"

    lambda_client.update_function_code(FunctionName=name, ZipFile=code_zip("two"))
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "yo"}})

    answer, old = invoke_json(lambda_client, name, Qualifier="1")
    assert (old["mark"], old["greeting"], answer["ExecutedVersion"]) == ("one", "hi", "1")
    answer, new = invoke_json(lambda_client, name)
    assert (new["mark"], new["greeting"], answer["ExecutedVersion"]) == ("two", "yo", "$LATEST")

    # $LATEST keeps its own description; the version keeps the one it was published with.
    assert lambda_client.get_function_configuration(FunctionName=name)["Description"] == "the function"
    snapshot = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert snapshot["Description"] == "first release"
    assert snapshot["CodeSha256"] == b64sha256(first_zip)
    assert snapshot["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert snapshot["RevisionId"] == published["RevisionId"]


def test_publish_without_changes_returns_the_same_version(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code("one"))
    first = lambda_client.publish_version(FunctionName=name)
    again = lambda_client.publish_version(FunctionName=name)
    assert again["Version"] == first["Version"] == "1"
    assert again["RevisionId"] == first["RevisionId"]
    assert version_numbers(lambda_client, name) == ["$LATEST", "1"]

    lambda_client.update_function_configuration(FunctionName=name, Timeout=9)
    second = lambda_client.publish_version(FunctionName=name)
    assert (second["Version"], second["Timeout"]) == ("2", 9)
    assert version_numbers(lambda_client, name) == ["$LATEST", "1", "2"]


def test_publish_preconditions_refuse_and_publish_nothing(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code("one"))
    latest = lambda_client.get_function_configuration(FunctionName=name)

    with pytest.raises(ClientError) as excinfo:
        lambda_client.publish_version(FunctionName=name, CodeSha256=b64sha256(b"other code"))
    kind, message, status = error_of(excinfo)
    assert (kind, status) == ("InvalidParameterValueException", 400)
    assert latest["CodeSha256"] in message

    with pytest.raises(ClientError) as excinfo:
        lambda_client.publish_version(FunctionName=name, RevisionId=str(uuid.uuid4()))
    kind, message, status = error_of(excinfo)
    assert (kind, status) == ("PreconditionFailedException", 412)
    assert "Revision Id" in message

    assert version_numbers(lambda_client, name) == ["$LATEST"]
    published = lambda_client.publish_version(FunctionName=name, CodeSha256=latest["CodeSha256"],
                                              RevisionId=latest["RevisionId"])
    assert published["Version"] == "1"


def test_list_versions_by_function_paginates(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code("one"))
    for timeout in (4, 5, 6, 7):
        lambda_client.update_function_configuration(FunctionName=name, Timeout=timeout)
        lambda_client.publish_version(FunctionName=name)

    pages: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {"FunctionName": name, "MaxItems": 2}
    while True:
        page = lambda_client.list_versions_by_function(**params)
        pages.append(page["Versions"])
        if "NextMarker" not in page:
            break
        params["Marker"] = page["NextMarker"]
    assert [len(p) for p in pages] == [2, 2, 1]
    versions = [v for p in pages for v in p]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2", "3", "4"]
    assert [v["Timeout"] for v in versions] == [7, 4, 5, 6, 7]
    # Every entry is qualified, $LATEST too (AWS's ListVersionsByFunction example shows ":$LATEST").
    assert [v["FunctionArn"] for v in versions] == [f"{arn_of(name)}:{n}" for n in ("$LATEST", *"1234")]

    paginator = lambda_client.get_paginator("list_versions_by_function")
    seen = [v["Version"] for page in paginator.paginate(FunctionName=name, PaginationConfig={"PageSize": 3})
            for v in page["Versions"]]
    assert seen == ["$LATEST", "1", "2", "3", "4"]


def test_list_functions_with_all_versions(lambda_client: Any) -> None:
    name = with_versions(lambda_client, ["one", "two"])

    def listed(**params: Any) -> list[tuple[str, str]]:
        pages = lambda_client.get_paginator("list_functions").paginate(**params)
        return [(fn["Version"], fn["FunctionArn"]) for page in pages for fn in page["Functions"]
                if fn["FunctionName"] == name]

    assert listed() == [("$LATEST", arn_of(name))]
    # With FunctionVersion=ALL every entry is qualified, $LATEST too, as in ListVersionsByFunction.
    assert listed(FunctionVersion="ALL") == [(n, f"{arn_of(name)}:{n}") for n in ("$LATEST", "1", "2")]


def test_update_code_with_publish_returns_the_new_version(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, code("one"))
    lambda_client.publish_version(FunctionName=name)
    new_zip = code_zip("two")
    answer = lambda_client.update_function_code(FunctionName=name, ZipFile=new_zip, Publish=True)
    assert answer["Version"] == "2"
    assert answer["FunctionArn"] == f"{arn_of(name)}:2"
    assert answer["CodeSha256"] == b64sha256(new_zip)
    assert invoke_json(lambda_client, name, Qualifier="2")[1]["mark"] == "two"
    assert invoke_json(lambda_client, name, Qualifier="1")[1]["mark"] == "one"
    # (UpdateFunctionConfiguration has no Publish member in Lambda's API: update, then PublishVersion.)


def test_create_function_with_publish_answers_version_1(lambda_client: Any) -> None:
    name = unique_name("createpub")
    answer = lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                           Handler="app.handler", Code={"ZipFile": code_zip("one")}, Publish=True)
    # AWS answers with the version it published (the ARN stays unqualified, as on CreateFunction).
    assert answer["Version"] == "1"
    assert version_numbers(lambda_client, name) == ["$LATEST", "1"]
    assert invoke_json(lambda_client, name, Qualifier="1")[0]["ExecutedVersion"] == "1"


# -- qualifiers --------------------------------------------------------------------------------


def test_reads_by_qualifier_and_by_qualified_name(lambda_client: Any) -> None:
    name = with_versions(lambda_client, ["one", "two"])
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    arn = arn_of(name)

    def version_of(**params: Any) -> tuple[str, str]:
        """(Version, FunctionArn) as GetFunctionConfiguration and GetFunction both report them."""
        config = lambda_client.get_function_configuration(**params)
        full = lambda_client.get_function(**params)["Configuration"]
        assert (full["Version"], full["FunctionArn"]) == (config["Version"], config["FunctionArn"])
        assert full["CodeSha256"] == config["CodeSha256"]
        return str(config["Version"]), str(config["FunctionArn"])

    code_of_1 = lambda_client.get_function(FunctionName=name, Qualifier="1")["Code"]["Location"]
    code_of_2 = lambda_client.get_function(FunctionName=name, Qualifier="2")["Code"]["Location"]
    assert code_of_1 != code_of_2

    for params in ({"FunctionName": name, "Qualifier": "9"}, {"FunctionName": f"{name}:9"},
                   {"FunctionName": name, "Qualifier": "nosuchalias"}):
        with pytest.raises(ClientError) as excinfo:
            lambda_client.get_function_configuration(**params)
        assert error_of(excinfo)[0] == "ResourceNotFoundException", params

    with pytest.raises(ClientError) as excinfo:
        lambda_client.get_function_configuration(FunctionName=f"{name}:1", Qualifier="2")
    assert error_of(excinfo)[0] == "InvalidParameterValueException"

    # The ARN answered carries the qualifier asked for, an alias's name included; Version is the
    # version it resolved to.
    assert version_of(FunctionName=name) == ("$LATEST", arn)
    assert version_of(FunctionName=arn) == ("$LATEST", arn)
    assert version_of(FunctionName=name, Qualifier="1") == ("1", f"{arn}:1")
    assert version_of(FunctionName=f"{name}:2") == ("2", f"{arn}:2")
    assert version_of(FunctionName=f"{arn}:1") == ("1", f"{arn}:1")
    assert version_of(FunctionName=f"{ACCOUNT}:function:{name}:2") == ("2", f"{arn}:2")
    assert version_of(FunctionName=name, Qualifier="$LATEST") == ("$LATEST", f"{arn}:$LATEST")
    assert version_of(FunctionName=f"{arn}:$LATEST") == ("$LATEST", f"{arn}:$LATEST")
    assert version_of(FunctionName=name, Qualifier="live") == ("1", f"{arn}:live")
    assert version_of(FunctionName=f"{name}:live") == ("1", f"{arn}:live")


def test_invoke_reports_the_executed_version_and_the_invoked_arn(lambda_client: Any) -> None:
    name = with_versions(lambda_client, ["one", "two"])
    lambda_client.update_function_code(FunctionName=name, ZipFile=code_zip("three"))
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    arn = arn_of(name)

    cases: list[tuple[dict[str, Any], str, str, str]] = [
        # (invoke params, ExecutedVersion, code that answers, invoked_function_arn)
        ({"FunctionName": name}, "$LATEST", "three", arn),
        ({"FunctionName": arn}, "$LATEST", "three", arn),
        ({"FunctionName": name, "Qualifier": "$LATEST"}, "$LATEST", "three", f"{arn}:$LATEST"),
        ({"FunctionName": name, "Qualifier": "1"}, "1", "one", f"{arn}:1"),
        ({"FunctionName": f"{name}:2"}, "2", "two", f"{arn}:2"),
        ({"FunctionName": f"{arn}:2"}, "2", "two", f"{arn}:2"),
        ({"FunctionName": name, "Qualifier": "live"}, "1", "one", f"{arn}:live"),
        ({"FunctionName": f"{arn}:live"}, "1", "one", f"{arn}:live"),
    ]
    for params, executed, mark, invoked_arn in cases:
        rest = dict(params)
        answer, payload = invoke_json(lambda_client, rest.pop("FunctionName"), **rest)
        assert answer["StatusCode"] == 200, params
        assert answer["ExecutedVersion"] == executed, params
        assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == executed
        assert payload["mark"] == mark, params
        assert payload["arn"] == invoked_arn, params
        assert payload["version"] == payload["env_version"] == executed, params
        assert f"/[{executed}]" in payload["log_stream"], payload["log_stream"]

    with pytest.raises(ClientError) as excinfo:
        invoke_json(lambda_client, name, Qualifier="7")
    assert error_of(excinfo)[:1] == ("ResourceNotFoundException",)


def test_asynchronous_invokes_run_the_qualified_version(lambda_client: Any, beacon: Beacon) -> None:
    reporter = BEACON_CODE + """

def handler(event, context):
    beacon(event["url"], mark="MARK", arn=context.invoked_function_arn, version=context.function_version,
           tag=event["tag"])
"""
    name = create_python_function(lambda_client, reporter.replace("MARK", "one"))
    lambda_client.publish_version(FunctionName=name)
    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": reporter.replace("MARK", "two")}))
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    arn = arn_of(name)

    for tag, params in (("alias", {"Qualifier": "live"}), ("version", {"Qualifier": "1"}), ("latest", {})):
        answer = lambda_client.invoke(FunctionName=name, InvocationType="Event",
                                      Payload=json.dumps({"url": beacon.url, "tag": tag}), **params)
        assert answer["StatusCode"] == 202
    reports = {m["tag"]: m for m in beacon.wait(count=3)}
    assert (reports["alias"]["mark"], reports["alias"]["version"], reports["alias"]["arn"]) == \
        ("one", "1", f"{arn}:live")
    assert (reports["version"]["mark"], reports["version"]["version"], reports["version"]["arn"]) == \
        ("one", "1", f"{arn}:1")
    assert (reports["latest"]["mark"], reports["latest"]["version"], reports["latest"]["arn"]) == \
        ("two", "$LATEST", arn)


# -- deleting versions -------------------------------------------------------------------------


def test_delete_version_rules(lambda_client: Any) -> None:
    name = with_versions(lambda_client, ["one", "two", "three"])
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lambda_client.create_alias(FunctionName=name, Name="canary", FunctionVersion="2",
                               RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}})

    for version, alias in (("1", "live"), ("3", "canary")):
        with pytest.raises(ClientError) as excinfo:
            lambda_client.delete_function(FunctionName=name, Qualifier=version)
        kind, message, status = error_of(excinfo)
        assert (kind, status) == ("ResourceConflictException", 409)
        assert alias in message
    with pytest.raises(ClientError) as excinfo:
        lambda_client.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert error_of(excinfo)[0] == "InvalidParameterValueException"
    assert version_numbers(lambda_client, name) == ["$LATEST", "1", "2", "3"]

    lambda_client.delete_alias(FunctionName=name, Name="canary")
    answer = lambda_client.delete_function(FunctionName=f"{name}:3")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert version_numbers(lambda_client, name) == ["$LATEST", "1", "2"]
    for call in (lambda: lambda_client.get_function(FunctionName=name, Qualifier="3"),
                 lambda: invoke_json(lambda_client, name, Qualifier="3"),
                 lambda: lambda_client.delete_function(FunctionName=name, Qualifier="3")):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[0] == "ResourceNotFoundException"

    # The other versions and $LATEST are untouched, and number 3 is never handed out again.
    assert invoke_json(lambda_client, name, Qualifier="2")[1]["mark"] == "two"
    assert invoke_json(lambda_client, name)[1]["mark"] == "three"
    lambda_client.update_function_code(FunctionName=name, ZipFile=code_zip("four"))
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "4"
    assert version_numbers(lambda_client, name) == ["$LATEST", "1", "2", "4"]


# -- aliases -----------------------------------------------------------------------------------


def test_alias_lifecycle(lambda_client: Any) -> None:
    name = with_versions(lambda_client, ["one", "two"])
    created = lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                                         Description="production")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == f"{arn_of(name)}:live"
    assert (created["Name"], created["FunctionVersion"], created["Description"]) == ("live", "1", "production")
    assert uuid.UUID(created["RevisionId"])
    assert "RoutingConfig" not in created
    got = lambda_client.get_alias(FunctionName=name, Name="live")
    assert {k: got[k] for k in ("AliasArn", "Name", "FunctionVersion", "Description", "RevisionId")} == \
        {k: created[k] for k in ("AliasArn", "Name", "FunctionVersion", "Description", "RevisionId")}

    lambda_client.create_alias(FunctionName=name, Name="beta", FunctionVersion="2")
    lambda_client.create_alias(FunctionName=name, Name="edge", FunctionVersion="$LATEST")
    listed = lambda_client.list_aliases(FunctionName=name)["Aliases"]
    assert [(a["Name"], a["FunctionVersion"]) for a in listed] == [("beta", "2"), ("edge", "$LATEST"), ("live", "1")]
    only_2 = lambda_client.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]
    assert [a["Name"] for a in only_2] == ["beta"]
    first_page = lambda_client.list_aliases(FunctionName=name, MaxItems=2)
    assert len(first_page["Aliases"]) == 2
    rest = lambda_client.list_aliases(FunctionName=name, Marker=first_page["NextMarker"])
    assert [a["Name"] for a in first_page["Aliases"] + rest["Aliases"]] == ["beta", "edge", "live"]

    updated = lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="2",
                                         RevisionId=created["RevisionId"])
    assert (updated["FunctionVersion"], updated["Description"]) == ("2", "production")
    assert updated["RevisionId"] != created["RevisionId"]
    assert invoke_json(lambda_client, name, Qualifier="live")[1]["mark"] == "two"

    with pytest.raises(ClientError) as excinfo:
        lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="1",
                                   RevisionId=created["RevisionId"])
    kind, _, status = error_of(excinfo)
    assert (kind, status) == ("PreconditionFailedException", 412)
    assert lambda_client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2"

    deleted = lambda_client.delete_alias(FunctionName=name, Name="live")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    for call in (lambda: lambda_client.get_alias(FunctionName=name, Name="live"),
                 lambda: invoke_json(lambda_client, name, Qualifier="live")):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[0] == "ResourceNotFoundException"
    assert [a["Name"] for a in lambda_client.list_aliases(FunctionName=name)["Aliases"]] == ["beta", "edge"]


def test_alias_bad_input_changes_nothing(server: Server, lambda_client: Any) -> None:
    name = with_versions(lambda_client, ["one", "two", "three"])
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    unchecked = server.client(parameter_validation=False)

    def refused(call: Any, **params: Any) -> tuple[str, str, int]:
        with pytest.raises(ClientError) as excinfo:
            call(**params)
        return error_of(excinfo)

    create, update = lambda_client.create_alias, lambda_client.update_alias
    kind, message, status = refused(create, FunctionName=name, Name="123", FunctionVersion="1")
    assert (kind, status) == ("ValidationException", 400)
    assert "Value '123' at 'name' failed to satisfy constraint" in message

    kind, message, _ = refused(create, FunctionName=name, Name="two-extra", FunctionVersion="1",
                               RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}})
    assert kind == "InvalidParameterValueException"
    assert "AdditionalVersionWeights" in message

    for weight in (1.5, -0.2):
        kind, message, status = refused(unchecked.create_alias, FunctionName=name, Name="heavy",
                                        FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": weight}})
        assert (kind, status) == ("ValidationException", 400), weight
        assert "routingConfig.additionalVersionWeights" in message
    kind, _, _ = refused(unchecked.update_alias, FunctionName=name, Name="live",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 2.0}})
    assert kind == "ValidationException"

    kind, message, status = refused(create, FunctionName=name, Name="ghost", FunctionVersion="42")
    assert (kind, status) == ("ResourceNotFoundException", 404)
    kind, _, _ = refused(create, FunctionName=name, Name="ghost", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"42": 0.5}})
    assert kind == "ResourceNotFoundException"

    kind, message, status = refused(create, FunctionName=name, Name="live", FunctionVersion="2")
    assert (kind, status) == ("ResourceConflictException", 409)
    assert "live" in message

    kind, _, _ = refused(update, FunctionName=name, Name="live", FunctionVersion="42")
    assert kind == "ResourceNotFoundException"

    kind, _, _ = refused(create, FunctionName=name, Name="latest-split", FunctionVersion="$LATEST",
                         RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    assert kind == "InvalidParameterValueException"

    aliases = lambda_client.list_aliases(FunctionName=name)["Aliases"]
    assert [(a["Name"], a["FunctionVersion"], a.get("RoutingConfig")) for a in aliases] == [("live", "1", None)]


def test_weighted_routing_matches_the_weights(lambda_client: Any) -> None:
    name = with_versions(lambda_client, ["one", "two"])
    weight, invokes = 0.3, 400
    alias = lambda_client.create_alias(FunctionName=name, Name="canary", FunctionVersion="1",
                                       RoutingConfig={"AdditionalVersionWeights": {"2": weight}})
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": weight}}
    assert lambda_client.get_alias(FunctionName=name, Name="canary")["RoutingConfig"] == alias["RoutingConfig"]

    executed: Counter[str] = Counter()
    for _ in range(invokes):
        answer, payload = invoke_json(lambda_client, name, Qualifier="canary")
        assert payload["mark"] == {"1": "one", "2": "two"}[answer["ExecutedVersion"]]
        assert payload["arn"] == f"{arn_of(name)}:canary"
        executed[answer["ExecutedVersion"]] += 1
    assert set(executed) == {"1", "2"}
    tolerance = 4 * math.sqrt(invokes * weight * (1 - weight))
    assert abs(executed["2"] - invokes * weight) <= tolerance, executed


def test_an_alias_shift_keeps_the_kept_versions_warm(lambda_client: Any) -> None:
    name = with_versions(lambda_client, ["one", "two"])
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    def token(**params: Any) -> tuple[str, str]:
        answer, payload = invoke_json(lambda_client, name, **params)
        return answer["ExecutedVersion"], payload["token"]

    v1, first_token = token(Qualifier="live")
    v2, second_token = token(Qualifier="2")
    assert (v1, v2) == ("1", "2")
    assert first_token != second_token  # one environment per version

    # Shift a share of the traffic to version 2, then all of it.
    lambda_client.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    seen = {token(Qualifier="live") for _ in range(20)}
    assert seen == {("1", first_token), ("2", second_token)}
    lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={})
    assert lambda_client.get_alias(FunctionName=name, Name="live").get("RoutingConfig") in (None, {})
    assert {token(Qualifier="live") for _ in range(5)} == {("2", second_token)}
    assert token(Qualifier="1") == ("1", first_token)


# -- persistence -------------------------------------------------------------------------------


@pytest.fixture
def own_servers() -> Iterator[list[Server]]:
    """Servers a test starts; any still running at the end are killed."""
    started: list[Server] = []
    yield started
    for running in started:
        running.stop(signal.SIGKILL)


def test_release_state_survives_a_restart(tmp_path: Path, own_servers: list[Server]) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    own_servers.append(first)
    client = first.client()
    name = with_versions(client, ["one", "two"])
    client.update_function_code(FunctionName=name, ZipFile=code_zip("three"))
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="kept",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    client.tag_resource(Resource=arn_of(name), Tags={"team": "release"})
    client.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                          Principal="s3.amazonaws.com", SourceAccount="111122223333")
    client.add_permission(FunctionName=name, Qualifier="live", StatementId="alias-only",
                          Action="lambda:InvokeFunction", Principal="123456789012")
    layer_zip = make_zip({"python/kept_layer.py": "VALUE = 'from the layer'\n"})
    layer = client.publish_layer_version(LayerName=unique_name("kept"), Content={"ZipFile": layer_zip},
                                         CompatibleRuntimes=["python3.12"], Description="kept layer")
    client.add_layer_version_permission(LayerName=layer["LayerArn"], VersionNumber=layer["Version"],
                                        StatementId="anyone", Action="lambda:GetLayerVersion", Principal="*")
    user = create_python_function(client, "import kept_layer\n\ndef handler(event, context):\n"
                                          "    return kept_layer.VALUE\n", Layers=[layer["LayerVersionArn"]])
    gone = client.publish_layer_version(LayerName=unique_name("gone"),
                                        Content={"ZipFile": make_zip({"python/gone_layer.py": "VALUE = 'gone'\n"})})
    orphan = create_python_function(client, "import gone_layer\n\ndef handler(event, context):\n"
                                            "    return gone_layer.VALUE\n", Layers=[gone["LayerVersionArn"]])
    client.delete_layer_version(LayerName=gone["LayerArn"], VersionNumber=gone["Version"])
    versions_before = client.list_versions_by_function(FunctionName=name)["Versions"]
    alias_before = client.get_alias(FunctionName=name, Name="live")
    policy_before = client.get_policy(FunctionName=name)
    alias_policy_before = client.get_policy(FunctionName=name, Qualifier="live")
    layer_policy_before = client.get_layer_version_policy(LayerName=layer["LayerArn"],
                                                          VersionNumber=layer["Version"])
    assert first.stop() == 0

    second = start_server(data_dir)
    own_servers.append(second)
    client = second.client()
    assert client.list_versions_by_function(FunctionName=name)["Versions"] == versions_before
    alias = client.get_alias(FunctionName=name, Name="live")
    assert {k: v for k, v in alias.items() if k != "ResponseMetadata"} == \
        {k: v for k, v in alias_before.items() if k != "ResponseMetadata"}
    assert client.list_tags(Resource=arn_of(name))["Tags"] == {"team": "release"}
    assert client.get_policy(FunctionName=name)["Policy"] == policy_before["Policy"]
    assert client.get_policy(FunctionName=name, Qualifier="live")["Policy"] == alias_policy_before["Policy"]
    assert client.get_layer_version_policy(LayerName=layer["LayerArn"], VersionNumber=layer["Version"])["Policy"] \
        == layer_policy_before["Policy"]
    kept = client.get_layer_version_by_arn(Arn=layer["LayerVersionArn"])
    assert (kept["Description"], kept["CompatibleRuntimes"]) == ("kept layer", ["python3.12"])
    assert kept["Content"]["CodeSha256"] == layer["Content"]["CodeSha256"]

    assert invoke_json(client, name, Qualifier="1")[1]["mark"] == "one"
    assert invoke_json(client, name)[1]["mark"] == "three"
    assert {invoke_json(client, name, Qualifier="live")[0]["ExecutedVersion"] for _ in range(30)} == {"1", "2"}
    assert invoke_json(client, user)[1] == "from the layer"
    # A deleted layer version stays deleted, and still works for the function that had it.
    with pytest.raises(ClientError) as excinfo:
        client.get_layer_version_by_arn(Arn=gone["LayerVersionArn"])
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    assert invoke_json(client, orphan)[1] == "gone"
    # Numbering goes on where it stopped.
    client.update_function_configuration(FunctionName=name, Timeout=8)
    assert client.publish_version(FunctionName=name)["Version"] == "3"
    assert client.publish_layer_version(LayerName=layer["LayerArn"],
                                        Content={"ZipFile": layer_zip})["Version"] == 2
