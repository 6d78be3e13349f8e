"""Planning: dependency order, refusals before anything changes, and each resource's action by fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lamina.deploy.build import Artifact
from lamina.deploy.model import Concat, GetAtt, LocalPath, Ref, Resource, Stack, TemplateError
from lamina.deploy.plan import (
    CREATE,
    DELETE,
    NOOP,
    REPLACE,
    UNCHANGED,
    UPDATE,
    delete_order,
    order,
    plan,
    plan_delete,
)
from lamina.deploy.state import INCOMPLETE, ResourceState, StackState
from lamina.deploy.values import Unknown, fingerprint, resolve, to_json

SOURCE = Path("/project/template.yaml")
CODE = LocalPath(Path("/project/src"), "function", "python3.12")


def fake_build(path: LocalPath) -> Artifact:
    return Artifact.of(path, f"zip of {path.path}".encode())


def stack(*resources: Resource, outputs: dict[str, Any] | None = None) -> Stack:
    return Stack("demo", SOURCE, "us-east-1", "000000000000", {r.logical_id: r for r in resources}, outputs or {})


def function(lid: str = "Fn", **props: Any) -> Resource:
    return Resource(lid, "AWS::Lambda::Function", {"Code": {"ZipFile": CODE}, "Handler": "app.handler",
                                                   "Runtime": "python3.12", **props}, line=7)


def queue(lid: str = "Q", **props: Any) -> Resource:
    return Resource(lid, "AWS::SQS::Queue", props)


def deployed(s: Stack, attributes: dict[str, dict[str, str]]) -> StackState:
    """The record an apply of ``s`` would leave, given what each resource turned out to be."""
    state = StackState(s.name, s.region, s.account_id)
    artifacts = {CODE: fake_build(CODE)}

    def lookup(marker: Ref | GetAtt) -> str:
        return attributes[marker.logical_id]["Ref" if isinstance(marker, Ref) else marker.attribute]

    prints: dict[str, str] = {}
    for lid in order(s.resources):
        resource = s.resources[lid]
        props = resolve(resource.properties, lookup, artifacts)
        content = tuple(prints[x] for x in (("Fn",) if resource.type == "AWS::Lambda::Version" else ()))
        prints[lid] = fingerprint(resource.type, props, content)
        state.resources[lid] = ResourceState(lid, resource.type, attributes[lid]["Ref"], attributes[lid],
                                             to_json(props), prints[lid], tuple(sorted(resource.references())),
                                             resource.deletion_policy)
    return state


QUEUE_ATTRS = {"Ref": "http://q", "Arn": "arn:aws:sqs:us-east-1:000000000000:demo-Q", "QueueName": "demo-Q",
               "QueueUrl": "http://q"}
FN_ATTRS = {"Ref": "demo-Fn", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:demo-Fn"}


def actions(result: Any) -> dict[str, str]:
    return {c.logical_id: c.action for c in result.changes}


# -- order -------------------------------------------------------------------------------------------

def test_order_puts_every_resource_after_what_it_refers_to_and_keeps_template_order_otherwise() -> None:
    resources = {r.logical_id: r for r in (
        Resource("Alias", "AWS::Lambda::Alias", {"FunctionName": Ref("Fn"), "FunctionVersion": GetAtt("V", "Version")}),
        Resource("A", "AWS::SQS::Queue", {}),
        Resource("V", "AWS::Lambda::Version", {"FunctionName": Ref("Fn")}),
        Resource("Fn", "AWS::Lambda::Function", {"Url": Concat(("x", Ref("B"), "y"))}),
        Resource("B", "AWS::SQS::Queue", {}, depends_on=("A",)),
    )}
    assert order(resources) == ["A", "B", "Fn", "V", "Alias"]


def test_order_refuses_cycles_and_references_to_nothing() -> None:
    cyclic = {"A": Resource("A", "AWS::SQS::Queue", {"x": Ref("B")}), "B": Resource("B", "AWS::SQS::Queue", {},
                                                                                      depends_on=("A",))}
    with pytest.raises(TemplateError, match="circular dependency between resources: A, B"):
        order(cyclic)
    dangling = {"A": Resource("A", "AWS::SQS::Queue", {"x": GetAtt("Nope", "Arn")}, line=12)}
    with pytest.raises(TemplateError, match=r"template\.yaml:12: A refers to Nope, which is not a resource") as caught:
        order(dangling, source=SOURCE)
    assert caught.value.line == 12


def test_delete_order_removes_dependents_first() -> None:
    items = [ResourceState("Q", "AWS::SQS::Queue", "q", {}),
             ResourceState("Fn", "AWS::Lambda::Function", "f", {}, depends_on=("Q", "Role")),
             ResourceState("Esm", "AWS::Lambda::EventSourceMapping", "e", {}, depends_on=("Fn", "Q")),
             ResourceState("Role", "AWS::IAM::Role", "r", {})]
    assert [i.logical_id for i in delete_order(items)] == ["Esm", "Fn", "Q", "Role"]
    everything = StackState("demo", "us-east-1", "000000000000", {i.logical_id: i for i in items})
    assert [c.logical_id for c in plan_delete(everything).changes] == ["Esm", "Fn", "Q", "Role"]
    assert {c.action for c in plan_delete(everything).changes} == {DELETE}


# -- refusals ----------------------------------------------------------------------------------------

def test_types_lamina_cannot_deploy_are_all_named_at_once() -> None:
    s = stack(queue(), Resource("Table", "AWS::DynamoDB::Table", {}), Resource("Bus", "AWS::Events::Rule", {}))
    with pytest.raises(TemplateError, match=r"cannot deploy Table \(AWS::DynamoDB::Table\), Bus \(AWS::Events::Rule\)"):
        plan(s, StackState("demo", "us-east-1", "0"), build=fake_build)


@pytest.mark.parametrize(("code", "message"), [
    ({"S3Bucket": "b", "S3Key": "k.zip"}, " points to S3"),
    ({"ImageUri": "repo:tag"}, ": container images are not supported"),
])
def test_code_lamina_cannot_fetch_is_refused_with_the_line(code: dict[str, str], message: str) -> None:
    s = stack(function(Code=code))
    with pytest.raises(TemplateError, match=f"template.yaml:7: Fn \\(AWS::Lambda::Function\\): Code{message}"):
        plan(s, StackState("demo", "us-east-1", "0"), build=fake_build)


def test_a_get_att_the_type_does_not_have_is_refused() -> None:
    s = stack(queue(), function(Environment={"Variables": {"Q": GetAtt("Q", "Endpoint")}}))
    with pytest.raises(TemplateError, match=r"Fn::GetAtt Q\.Endpoint: AWS::SQS::Queue has no such attribute"):
        plan(s, StackState("demo", "us-east-1", "0"), build=fake_build)


def test_http_apis_with_authorizers_are_refused_rather_than_served_open() -> None:
    body = {"paths": {"/x": {"get": {"security": [{"jwt": []}], "x-amazon-apigateway-integration": {
        "type": "aws_proxy", "uri": Ref("Fn")}}}}}
    s = stack(function(), Resource("Api", "AWS::ApiGatewayV2::Api", {"Body": body}))
    with pytest.raises(TemplateError, match="GET /x requires authorization"):
        plan(s, StackState("demo", "us-east-1", "0"), build=fake_build)


# -- actions -----------------------------------------------------------------------------------------

def test_a_new_stack_creates_everything_builds_each_code_once_and_records_iam_as_no_op() -> None:
    built: list[LocalPath] = []

    def counting(path: LocalPath) -> Artifact:
        built.append(path)
        return fake_build(path)

    s = stack(Resource("Role", "AWS::IAM::Role", {}), function(Role=GetAtt("Role", "Arn")), function("Other"))
    result = plan(s, StackState("demo", "us-east-1", "0"), build=counting)
    assert actions(result) == {"Role": NOOP, "Fn": CREATE, "Other": CREATE}
    assert built == [CODE] and result.has_changes


def test_an_unchanged_stack_plans_nothing() -> None:
    s = stack(queue(), function(Environment={"Variables": {"QUEUE": GetAtt("Q", "Arn")}}))
    prior = deployed(s, {"Q": QUEUE_ATTRS, "Fn": FN_ATTRS})
    result = plan(s, prior, build=fake_build)
    assert set(actions(result).values()) == {UNCHANGED} and not result.has_changes


def test_new_code_is_an_update_of_code_and_a_new_version_of_the_function() -> None:
    version = Resource("V", "AWS::Lambda::Version", {"FunctionName": Ref("Fn")}, deletion_policy="Retain")
    s = stack(function(), version)
    prior = deployed(s, {"Fn": FN_ATTRS, "V": {"Ref": "arn:v1", "Version": "1", "FunctionArn": "arn:v1"}})

    def other_code(path: LocalPath) -> Artifact:
        return Artifact.of(path, b"new code")

    result = plan(s, prior, build=other_code)
    by_id = {c.logical_id: c for c in result.changes}
    assert (by_id["Fn"].action, by_id["Fn"].changed) == (UPDATE, ("Code",))
    assert (by_id["V"].action, by_id["V"].changed) == (REPLACE, ("(content of Fn)",))


def test_a_changed_property_names_it_and_a_new_name_replaces() -> None:
    s = stack(queue(VisibilityTimeout=30))
    prior = deployed(s, {"Q": QUEUE_ATTRS})
    changed = plan(stack(queue(VisibilityTimeout=60, DelaySeconds=5)), prior, build=fake_build).changes[0]
    assert (changed.action, changed.changed) == (UPDATE, ("DelaySeconds", "VisibilityTimeout"))
    renamed = plan(stack(queue(QueueName="other", VisibilityTimeout=30)), prior, build=fake_build).changes[0]
    assert (renamed.action, renamed.changed) == (REPLACE, ("QueueName",))


def test_values_of_replaced_resources_are_known_after_apply_and_change_their_users() -> None:
    s = stack(queue(), function(DeadLetterConfig={"TargetArn": GetAtt("Q", "Arn")}))
    prior = deployed(s, {"Q": QUEUE_ATTRS, "Fn": FN_ATTRS})
    replaced = stack(queue(QueueName="renamed"), function(DeadLetterConfig={"TargetArn": GetAtt("Q", "Arn")}))
    result = plan(replaced, prior, build=fake_build)
    assert actions(result) == {"Q": REPLACE, "Fn": UPDATE}
    assert result.changes[1].changed == ("DeadLetterConfig",)


def test_removed_resources_are_deleted_after_the_rest_and_retained_ones_say_so() -> None:
    s = stack(queue(), queue("Old"), Resource("Layer", "AWS::Lambda::LayerVersion", {"Content": {"ZipFile": CODE}},
                                              deletion_policy="Retain"))
    prior = deployed(s, {"Q": QUEUE_ATTRS, "Old": {**QUEUE_ATTRS, "Ref": "http://old"},
                         "Layer": {"Ref": "arn:layer:1", "LayerVersionArn": "arn:layer:1"}})
    result = plan(stack(queue()), prior, build=fake_build)
    assert [(c.logical_id, c.action, c.retain) for c in result.changes] == [
        ("Q", UNCHANGED, False), ("Old", DELETE, False), ("Layer", DELETE, True)]


def test_a_resource_whose_creation_did_not_finish_is_updated_in_place() -> None:
    s = stack(function())
    prior = deployed(s, {"Fn": FN_ATTRS})
    prior.resources["Fn"].fingerprint = INCOMPLETE
    prior.resources["Fn"].properties = {}
    change = plan(s, prior, build=fake_build).changes[0]
    assert change.action == UPDATE and "Code" in change.changed and "FunctionName" not in change.changed


def test_pending_deletes_of_an_earlier_deploy_are_planned_again() -> None:
    s = stack(queue())
    prior = deployed(s, {"Q": QUEUE_ATTRS})
    prior.pending_deletes.append(ResourceState("Q", "AWS::SQS::Queue", "http://older", QUEUE_ATTRS))
    result = plan(s, prior, build=fake_build)
    assert [(c.logical_id, c.action) for c in result.changes] == [("Q", UNCHANGED), ("Q", DELETE)]
    assert result.changes[1].prior is not None and result.changes[1].prior.physical_id == "http://older"


def test_unknown_values_make_a_concat_unknown_and_never_equal_a_fingerprint() -> None:
    def lookup(marker: Ref | GetAtt) -> str | Unknown:
        return Unknown("Api")

    value = resolve({"Uri": Concat(("arn:", Ref("Api"), "/x"))}, lookup, {})
    assert value == {"Uri": Unknown("Api")}
    assert to_json(value) == {"Uri": "(known after apply: Api)"}
