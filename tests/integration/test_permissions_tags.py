"""Resource-based policies (AddPermission, RemovePermission, GetPolicy) and tags through boto3."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import create_python_function, invoke_json, unique_name

ACCOUNT = "000000000000"
CODE = "def handler(event, context):\n    return context.invoked_function_arn\n"


def arn_of(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def policy_of(client: Any, name: str, **params: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(client.get_policy(FunctionName=name, **params)["Policy"])
    return document


def refused(call: Any, **params: Any) -> tuple[str, str, int]:
    """The error ``call(**params)`` fails with."""
    with pytest.raises(ClientError) as excinfo:
        call(**params)
    return error_of(excinfo)


def with_alias(client: Any) -> str:
    name = create_python_function(client, CODE)
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


# -- AddPermission and GetPolicy ---------------------------------------------------------------


def test_statements_have_aws_shape(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, CODE)
    arn = arn_of(name)
    bucket = "arn:aws:s3:::uploads-bucket"

    answer = lambda_client.add_permission(FunctionName=name, StatementId="s3-invoke", Action="lambda:InvokeFunction",
                                          Principal="s3.amazonaws.com", SourceArn=bucket, SourceAccount="111122223333")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 201
    s3_statement = {
        "Sid": "s3-invoke", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn,
        "Condition": {"StringEquals": {"AWS:SourceAccount": "111122223333"},
                      "ArnLike": {"AWS:SourceArn": bucket}}}
    assert json.loads(answer["Statement"]) == s3_statement

    account = lambda_client.add_permission(FunctionName=name, StatementId="other-account",
                                           Action="lambda:GetFunction", Principal="123456789012")
    account_statement = {"Sid": "other-account", "Effect": "Allow",
                         "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                         "Action": "lambda:GetFunction", "Resource": arn}
    assert json.loads(account["Statement"]) == account_statement

    url = lambda_client.add_permission(FunctionName=name, StatementId="public-url",
                                       Action="lambda:InvokeFunctionUrl", Principal="*", FunctionUrlAuthType="NONE")
    url_statement = {"Sid": "public-url", "Effect": "Allow", "Principal": "*",
                     "Action": "lambda:InvokeFunctionUrl", "Resource": arn,
                     "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}
    assert json.loads(url["Statement"]) == url_statement

    policy = lambda_client.get_policy(FunctionName=name)
    assert uuid.UUID(policy["RevisionId"])
    assert json.loads(policy["Policy"]) == {"Version": "2012-10-17", "Id": "default",
                                            "Statement": [s3_statement, account_statement, url_statement]}
    # The same document by ARN.
    assert policy_of(lambda_client, arn) == json.loads(policy["Policy"])


def test_policies_are_kept_per_qualifier(lambda_client: Any) -> None:
    name = with_alias(lambda_client)
    arn = arn_of(name)
    added = lambda_client.add_permission(FunctionName=name, Qualifier="live", StatementId="alias-only",
                                         Action="lambda:InvokeFunction", Principal="events.amazonaws.com")
    assert json.loads(added["Statement"])["Resource"] == f"{arn}:live"
    lambda_client.add_permission(FunctionName=f"{name}:1", StatementId="version-only",
                                 Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")

    alias_policy = policy_of(lambda_client, name, Qualifier="live")
    assert [(s["Sid"], s["Resource"]) for s in alias_policy["Statement"]] == [("alias-only", f"{arn}:live")]
    assert policy_of(lambda_client, f"{arn}:live") == alias_policy
    version_policy = policy_of(lambda_client, name, Qualifier="1")
    assert [(s["Sid"], s["Resource"]) for s in version_policy["Statement"]] == [("version-only", f"{arn}:1")]
    # The unqualified function has no policy of its own yet.
    kind, _, status = refused(lambda_client.get_policy, FunctionName=name)
    assert (kind, status) == ("ResourceNotFoundException", 404)

    lambda_client.add_permission(FunctionName=name, StatementId="alias-only", Action="lambda:InvokeFunction",
                                 Principal="events.amazonaws.com")
    assert [s["Resource"] for s in policy_of(lambda_client, name)["Statement"]] == [arn]

    # Removing from one qualifier leaves the others alone.
    lambda_client.remove_permission(FunctionName=name, Qualifier="live", StatementId="alias-only")
    assert refused(lambda_client.get_policy, FunctionName=name, Qualifier="live")[0] == \
        "ResourceNotFoundException"
    assert [s["Sid"] for s in policy_of(lambda_client, name)["Statement"]] == ["alias-only"]

    for qualifier in ("nosuchalias", "42"):
        kind, _, _ = refused(lambda_client.add_permission, FunctionName=name, Qualifier=qualifier,
                             StatementId="x", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
        assert kind == "ResourceNotFoundException", qualifier


def test_an_alias_takes_its_policy_with_it(lambda_client: Any) -> None:
    name = with_alias(lambda_client)
    lambda_client.add_permission(FunctionName=name, Qualifier="live", StatementId="alias-only",
                                 Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    lambda_client.add_permission(FunctionName=name, StatementId="function", Action="lambda:InvokeFunction",
                                 Principal="s3.amazonaws.com")
    lambda_client.delete_alias(FunctionName=name, Name="live")
    # A new alias of the same name is a new resource: the old alias's statements do not come back.
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert refused(lambda_client.get_policy, FunctionName=name, Qualifier="live")[0] == "ResourceNotFoundException"
    lambda_client.add_permission(FunctionName=name, Qualifier="live", StatementId="alias-only",
                                 Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")
    assert [s["Principal"] for s in policy_of(lambda_client, name, Qualifier="live")["Statement"]] == \
        [{"Service": "sns.amazonaws.com"}]
    assert [s["Sid"] for s in policy_of(lambda_client, name)["Statement"]] == ["function"]


def test_permission_bad_input_changes_nothing(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, CODE)
    lambda_client.add_permission(FunctionName=name, StatementId="first", Action="lambda:InvokeFunction",
                                 Principal="s3.amazonaws.com")
    before = lambda_client.get_policy(FunctionName=name)

    add = lambda_client.add_permission
    invoke = "lambda:InvokeFunction"
    kind, message, status = refused(add, FunctionName=name, StatementId="first", Action=invoke,
                                    Principal="sns.amazonaws.com")
    assert (kind, status) == ("ResourceConflictException", 409)
    assert "first" in message

    kind, _, status = refused(add, FunctionName=name, StatementId="second", Action=invoke,
                              Principal="sns.amazonaws.com", RevisionId=str(uuid.uuid4()))
    assert (kind, status) == ("PreconditionFailedException", 412)

    kind, message, status = refused(lambda_client.remove_permission, FunctionName=name, StatementId="nope")
    assert (kind, status) == ("ResourceNotFoundException", 404)
    assert "nope" in message

    kind, _, _ = refused(add, FunctionName=unique_name("absent"), StatementId="x", Action=invoke,
                         Principal="s3.amazonaws.com")
    assert kind == "ResourceNotFoundException"

    after = lambda_client.get_policy(FunctionName=name)
    assert (after["Policy"], after["RevisionId"]) == (before["Policy"], before["RevisionId"])

    # The right revision works; removing the last statement removes the policy.
    lambda_client.add_permission(FunctionName=name, StatementId="second", Action="lambda:InvokeFunction",
                                 Principal="sns.amazonaws.com", RevisionId=before["RevisionId"])
    lambda_client.remove_permission(FunctionName=name, StatementId="first")
    assert [s["Sid"] for s in policy_of(lambda_client, name)["Statement"]] == ["second"]
    lambda_client.remove_permission(FunctionName=name, StatementId="second")
    assert refused(lambda_client.get_policy, FunctionName=name)[0] == "ResourceNotFoundException"


def test_a_policy_over_20_kb_is_refused_and_left_as_it_was(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, CODE)
    source = "arn:aws:s3:::" + "b" * 900
    added = 0
    last: dict[str, Any] | None = None
    with pytest.raises(ClientError) as excinfo:
        for index in range(100):
            lambda_client.add_permission(FunctionName=name, StatementId=f"statement-{index}",
                                         Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                                         SourceArn=f"{source}-{index}")
            added += 1
            last = lambda_client.get_policy(FunctionName=name)
    kind, message, status = error_of(excinfo)
    assert (kind, status) == ("PolicyLengthExceededException", 400)
    assert "20480" in message
    assert last is not None and 15 <= added <= 25
    assert len(last["Policy"]) <= 20 * 1024
    now = lambda_client.get_policy(FunctionName=name)
    assert (now["Policy"], now["RevisionId"]) == (last["Policy"], last["RevisionId"])
    assert len(json.loads(now["Policy"])["Statement"]) == added
    # Removing a statement makes room again.
    lambda_client.remove_permission(FunctionName=name, StatementId="statement-0")
    lambda_client.add_permission(FunctionName=name, StatementId="small", Action="lambda:InvokeFunction",
                                 Principal="s3.amazonaws.com")


# -- tags --------------------------------------------------------------------------------------


def test_tags_on_create_and_through_the_tagging_api(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, CODE, Tags={"team": "payments", "stage": "dev"})
    arn = arn_of(name)
    assert lambda_client.get_function(FunctionName=name)["Tags"] == {"team": "payments", "stage": "dev"}
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "payments", "stage": "dev"}
    revision = lambda_client.get_function_configuration(FunctionName=name)["RevisionId"]

    answer = lambda_client.tag_resource(Resource=arn, Tags={"stage": "prod", "owner": "ana"})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "payments", "stage": "prod", "owner": "ana"}
    answer = lambda_client.untag_resource(Resource=arn, TagKeys=["team", "not-there"])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"stage": "prod", "owner": "ana"}
    assert lambda_client.get_function(FunctionName=name)["Tags"] == {"stage": "prod", "owner": "ana"}
    # Tags are not configuration: no new revision, and the function still runs.
    assert lambda_client.get_function_configuration(FunctionName=name)["RevisionId"] == revision
    assert invoke_json(lambda_client, name)[1] == arn

    lambda_client.untag_resource(Resource=arn, TagKeys=["stage", "owner"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lambda_client.get_function(FunctionName=name)


def test_tagging_refuses_qualified_and_unknown_arns(lambda_client: Any) -> None:
    name = with_alias(lambda_client)
    arn = arn_of(name)
    lambda_client.tag_resource(Resource=arn, Tags={"kept": "yes"})
    for qualified in (f"{arn}:1", f"{arn}:live", f"{arn}:$LATEST"):
        kind, _, status = refused(lambda_client.tag_resource, Resource=qualified, Tags={"a": "b"})
        assert (kind, status) == ("InvalidParameterValueException", 400), qualified
        kind, _, _ = refused(lambda_client.untag_resource, Resource=qualified, TagKeys=["kept"])
        assert kind == "InvalidParameterValueException", qualified
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"kept": "yes"}

    missing = arn_of(unique_name("absent"))
    for call in (lambda: lambda_client.tag_resource(Resource=missing, Tags={"a": "b"}),
                 lambda: lambda_client.list_tags(Resource=missing)):
        assert refused(call)[0] == "ResourceNotFoundException"


def test_a_recreated_function_starts_without_policy_or_tags(lambda_client: Any) -> None:
    name = with_alias(lambda_client)
    arn = arn_of(name)
    lambda_client.tag_resource(Resource=arn, Tags={"old": "tag"})
    lambda_client.add_permission(FunctionName=name, StatementId="old", Action="lambda:InvokeFunction",
                                 Principal="s3.amazonaws.com")
    lambda_client.add_permission(FunctionName=name, Qualifier="live", StatementId="old-alias",
                                 Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    lambda_client.delete_function(FunctionName=name)

    create_python_function(lambda_client, CODE, name=name)
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lambda_client.get_function(FunctionName=name)
    assert refused(lambda_client.get_policy, FunctionName=name)[0] == "ResourceNotFoundException"
    assert lambda_client.list_aliases(FunctionName=name)["Aliases"] == []
    assert [v["Version"] for v in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]] == \
        ["$LATEST"]
    # The same alias name again: none of the old alias's statements come back with it.
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert refused(lambda_client.get_policy, FunctionName=name, Qualifier="live")[0] == \
        "ResourceNotFoundException"
