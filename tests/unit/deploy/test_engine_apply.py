"""Applying plans against in-memory stand-ins for botocore clients: call order, what is saved when,
failures leaving a consistent record, replacements, retained resources, and redeploys that call nothing.

The stand-ins answer like Lamina's APIs for the few operations used; the live behaviour is
tests/integration/test_deploy.py's and tests/e2e/test_cli_deploy.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lamina.deploy import engine
from lamina.deploy.build import Artifact
from lamina.deploy.handlers.base import Clients
from lamina.deploy.model import Concat, GetAtt, LocalPath, Ref, Resource, Stack
from lamina.deploy.plan import CREATE, DELETE, NOOP, REPLACE, RETAINED, UNCHANGED, UPDATE
from lamina.deploy.state import CREATE_COMPLETE, FAILED, INCOMPLETE, UPDATE_COMPLETE, StackState

CODE = LocalPath(Path("/project/src"), "function", "python3.12")
READS = ("get_", "list_")


class FakeService:
    """Records every call as (operation, params) in a log shared by the services; ``answers``
    computes replies, ``failures`` makes an operation fail with an AWS error code once."""

    def __init__(self, name: str, log: list[tuple[str, dict[str, Any]]],
                 answers: dict[str, Callable[..., dict[str, Any]]]) -> None:
        self.name = name
        self.log = log
        self.answers = answers
        self.failures: dict[str, tuple[str, str]] = {}

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        def call(**params: Any) -> dict[str, Any]:
            self.log.append((operation, params))
            if operation in self.failures:
                code, message = self.failures.pop(operation)
                raise ClientError({"Error": {"Code": code, "Message": message}}, operation)
            answer = self.answers.get(operation)
            return answer(**params) if answer else {}

        return call


class FakeAws:
    def __init__(self) -> None:
        self.log: list[tuple[str, dict[str, Any]]] = []
        self.versions: dict[str, int] = {}
        self.republish_same = False
        self.lambda_ = FakeService("lambda", self.log, {
            "create_function": lambda **p: {"FunctionArn": self.arn(p["FunctionName"])},
            "get_function_configuration": lambda **p: {"State": "Active", "LastUpdateStatus": "Successful"},
            "publish_version": self._publish,
            "create_alias": lambda **p: {"AliasArn": f"{self.arn(p['FunctionName'])}:{p['Name']}"},
            "publish_layer_version": lambda **p: {"LayerVersionArn": f"arn:layer:{p['LayerName']}:1", "Version": 1},
            "create_event_source_mapping": lambda **p: {"UUID": "uuid-1"},
            "get_event_source_mapping": lambda **p: {"State": "Enabled"},
        })
        self.sqs = FakeService("sqs", self.log, {
            "create_queue": lambda **p: {"QueueUrl": f"http://sqs/{p['QueueName']}"},
            "get_queue_attributes": lambda **p: {"Attributes": {
                "QueueArn": "arn:aws:sqs:us-east-1:000000000000:" + p["QueueUrl"].rsplit("/", 1)[1]}},
        })
        self.apigatewayv2 = FakeService("apigatewayv2", self.log, {})
        self.clients = Clients(self.lambda_, self.sqs, self.apigatewayv2)

    @staticmethod
    def arn(name: str) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{name}"

    def _publish(self, **params: Any) -> dict[str, Any]:
        name = params["FunctionName"]
        if not (self.republish_same and name in self.versions):
            self.versions[name] = self.versions.get(name, 0) + 1
        return {"Version": str(self.versions[name]), "FunctionArn": f"{self.arn(name)}:{self.versions[name]}"}

    def operations(self, service: FakeService | None = None) -> list[str]:
        return [operation for operation, _ in self.log]

    def changes(self) -> list[str]:
        """Operations that change something (everything but reads)."""
        return [operation for operation, _ in self.log if not operation.startswith(READS)]


def built(path: LocalPath, code: bytes = b"v1") -> Artifact:
    return Artifact.of(path, code)


def stack(*resources: Resource, outputs: dict[str, Any] | None = None) -> Stack:
    return Stack("demo", Path("/project/template.yaml"), "us-east-1", "000000000000",
                 {r.logical_id: r for r in resources}, outputs or {})


def typical(queue_name: str | None = None, statement: str = "apigateway.amazonaws.com") -> Stack:
    queue_props = {"QueueName": queue_name} if queue_name else {}
    return stack(
        Resource("Role", "AWS::IAM::Role", {}),
        Resource("Dlq", "AWS::SQS::Queue", queue_props),
        Resource("Fn", "AWS::Lambda::Function", {
            "Code": {"ZipFile": CODE}, "Handler": "app.handler", "Runtime": "python3.12",
            "Role": GetAtt("Role", "Arn"), "DeadLetterConfig": {"TargetArn": GetAtt("Dlq", "Arn")}}),
        Resource("Version", "AWS::Lambda::Version", {"FunctionName": Ref("Fn")}, deletion_policy="Retain"),
        Resource("Live", "AWS::Lambda::Alias", {"Name": "live", "FunctionName": Ref("Fn"),
                                                "FunctionVersion": GetAtt("Version", "Version")}),
        Resource("Invoke", "AWS::Lambda::Permission", {"FunctionName": Ref("Live"), "Action": "lambda:InvokeFunction",
                                                       "Principal": statement}),
        outputs={"Alias": {"Value": Ref("Live")}, "Arn": {"Value": Concat(("fn=", GetAtt("Fn", "Arn")))}},
    )


def deploy(aws: FakeAws, s: Stack, prior: StackState | None = None, code: bytes = b"v1",
           saves: list[StackState] | None = None) -> engine.Outcome:
    prior = prior or StackState(s.name, s.region, s.account_id)
    plan = engine.plan(s, prior, build=lambda path: built(path, code))
    return engine.apply(plan, aws.clients, save=lambda state: (saves if saves is not None else []).append(
        StackState.from_doc(state.to_doc())), sleep=lambda s: None)


def test_a_new_stack_is_created_in_dependency_order_and_saved_after_each_step() -> None:
    aws = FakeAws()
    saves: list[StackState] = []
    outcome = deploy(aws, typical(), saves=saves)
    assert aws.changes() == ["create_queue", "create_function", "publish_version", "create_alias", "add_permission"]
    created = dict(aws.log)["create_function"]
    assert created["FunctionName"] == "demo-Fn" and created["Code"] == {"ZipFile": b"v1"}
    assert created["Role"] == "arn:aws:iam::000000000000:role/demo-Role"
    assert created["DeadLetterConfig"] == {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:demo-Dlq"}
    assert dict(aws.log)["add_permission"] == {"FunctionName": f"{FakeAws.arn('demo-Fn')}:live",
                                              "StatementId": "Invoke", "Action": "lambda:InvokeFunction",
                                              "Principal": "apigateway.amazonaws.com"}
    state = outcome.state
    assert state.status == CREATE_COMPLETE and state.error is None
    assert state.outputs == {"Alias": {"Value": f"{FakeAws.arn('demo-Fn')}:live"},
                             "Arn": {"Value": f"fn={FakeAws.arn('demo-Fn')}"}}
    assert [d.action for d in outcome.done] == [NOOP, CREATE, CREATE, CREATE, CREATE, CREATE]
    # Saved at the start, as soon as each resource existed and when it was finished, and at the end.
    assert [sorted(s.resources) for s in saves][:4] == [[], ["Dlq", "Role"], ["Dlq", "Role"], ["Dlq", "Fn", "Role"]]
    assert saves[2].resources["Dlq"].fingerprint != INCOMPLETE and saves[3].resources["Fn"].fingerprint == INCOMPLETE
    assert saves[-1].status == CREATE_COMPLETE and set(saves[-1].resources) == set(state.resources)


def test_redeploying_an_unchanged_stack_calls_nothing_that_changes_anything() -> None:
    aws = FakeAws()
    first = deploy(aws, typical())
    aws.log.clear()
    saves: list[StackState] = []
    again = deploy(aws, typical(), first.state, saves=saves)
    assert aws.log == [] and saves == []
    assert {d.action for d in again.done} == {UNCHANGED, NOOP}


def test_new_code_updates_the_function_and_moves_the_alias_to_a_new_version() -> None:
    aws = FakeAws()
    first = deploy(aws, typical())
    aws.log.clear()
    outcome = deploy(aws, typical(), first.state, code=b"v2")
    assert aws.changes() == ["update_function_code", "publish_version", "update_alias"]
    assert dict(aws.log)["update_alias"]["FunctionVersion"] == "2"
    actions = {d.logical_id: d.action for d in outcome.done}
    # The old version is retained (DeletionPolicy Retain), not deleted.
    assert actions == {"Role": NOOP, "Dlq": UNCHANGED, "Fn": UPDATE, "Version": RETAINED, "Live": UPDATE,
                       "Invoke": UNCHANGED}
    assert [d.physical_id for d in outcome.done if d.action == RETAINED] == [f"{FakeAws.arn('demo-Fn')}:1"]
    assert outcome.state.status == UPDATE_COMPLETE and outcome.state.pending_deletes == []


def test_a_planned_change_that_turns_out_the_same_calls_nothing_more() -> None:
    aws = FakeAws()
    first = deploy(aws, typical())
    aws.republish_same = True  # the function did not change in a way that makes a version
    tagged = typical()
    fn = tagged.resources["Fn"]
    resources = dict(tagged.resources)
    resources["Fn"] = Resource("Fn", fn.type, {**fn.properties, "Tags": [{"Key": "team", "Value": "a"}]})
    aws.log.clear()
    outcome = deploy(aws, stack(*resources.values(), outputs=dict(tagged.outputs)), first.state)
    assert aws.changes() == ["tag_resource", "publish_version"]
    assert {d.logical_id: d.action for d in outcome.done}["Live"] == UNCHANGED


def test_a_failure_stops_names_the_resource_and_leaves_a_record_of_what_exists() -> None:
    aws = FakeAws()
    aws.lambda_.failures["create_function"] = ("InvalidParameterValueException", "The runtime is not supported.")
    saves: list[StackState] = []
    with pytest.raises(engine.ApplyError) as caught:
        deploy(aws, typical(), saves=saves)
    error = caught.value
    assert (error.logical_id, error.resource_type) == ("Fn", "AWS::Lambda::Function")
    assert error.message == "InvalidParameterValueException: The runtime is not supported."
    assert str(error) == "Fn (AWS::Lambda::Function): InvalidParameterValueException: The runtime is not supported."
    record = saves[-1]
    assert record.status == FAILED and record.error == {"logicalId": "Fn", "message": error.message}
    assert set(record.resources) == {"Role", "Dlq"}
    aws.log.clear()
    engine.destroy(record, aws.clients, sleep=lambda s: None)
    assert aws.changes() == ["delete_queue"]


def test_a_resource_that_exists_but_did_not_finish_is_recorded_and_finished_next_time() -> None:
    aws = FakeAws()
    s = stack(Resource("Fn", "AWS::Lambda::Function", {"Code": {"ZipFile": CODE}, "Handler": "a.h",
                                                       "Runtime": "python3.12", "ReservedConcurrentExecutions": 5}))
    aws.lambda_.failures["put_function_concurrency"] = ("InvalidParameterValueException", "too many")
    saves: list[StackState] = []
    with pytest.raises(engine.ApplyError):
        deploy(aws, s, saves=saves)
    record = saves[-1]
    assert record.resources["Fn"].physical_id == "demo-Fn" and record.resources["Fn"].fingerprint == INCOMPLETE
    aws.log.clear()
    outcome = deploy(aws, s, record)
    assert "create_function" not in aws.changes() and "put_function_concurrency" in aws.changes()
    assert outcome.done[0].action == UPDATE and outcome.state.resources["Fn"].fingerprint != INCOMPLETE


def test_a_replacement_is_made_first_and_the_old_one_deleted_last() -> None:
    aws = FakeAws()
    first = deploy(aws, typical())
    aws.log.clear()
    outcome = deploy(aws, typical(queue_name="renamed"), first.state)
    # A function whose configuration changed gets a new version behind its alias, as its code would.
    assert aws.changes() == ["create_queue", "update_function_configuration", "publish_version", "update_alias",
                             "delete_queue"]
    assert dict(aws.log)["delete_queue"] == {"QueueUrl": "http://sqs/demo-Dlq"}
    assert dict(aws.log)["update_function_configuration"]["DeadLetterConfig"] == {
        "TargetArn": "arn:aws:sqs:us-east-1:000000000000:renamed"}
    assert {d.logical_id: d.action for d in outcome.done if d.logical_id == "Dlq"} == {"Dlq": DELETE}
    assert [d.action for d in outcome.done if d.logical_id == "Dlq"] == [REPLACE, DELETE]
    assert outcome.state.pending_deletes == []


def test_a_failed_cleanup_keeps_the_old_resource_pending_for_the_next_deploy() -> None:
    aws = FakeAws()
    first = deploy(aws, typical())
    aws.sqs.failures["delete_queue"] = ("AWS.SimpleQueueService.InternalError", "try later")
    with pytest.raises(engine.ApplyError) as caught:
        deploy(aws, typical(queue_name="renamed"), first.state)
    record = caught.value.state
    # The queue's delete failed; the retained old version comes after it.
    assert [p.physical_id for p in record.pending_deletes] == ["http://sqs/demo-Dlq", f"{FakeAws.arn('demo-Fn')}:1"]
    assert record.resources["Dlq"].physical_id == "http://sqs/renamed"
    aws.log.clear()
    deploy(aws, typical(queue_name="renamed"), record)
    assert aws.changes() == ["delete_queue"]


def test_a_permission_that_changes_is_removed_before_it_is_added_again() -> None:
    aws = FakeAws()
    first = deploy(aws, typical())
    aws.log.clear()
    deploy(aws, typical(statement="sqs.amazonaws.com"), first.state)
    assert aws.changes() == ["remove_permission", "add_permission"]


def test_destroy_deletes_dependents_first_and_retained_versions_go_with_their_function() -> None:
    aws = FakeAws()
    first = deploy(aws, typical())
    aws.log.clear()
    outcome = engine.destroy(first.state, aws.clients, sleep=lambda s: None)
    assert aws.changes() == ["remove_permission", "delete_alias", "delete_function", "delete_queue"]
    assert [(d.logical_id, d.action) for d in outcome.done if d.action != NOOP] == [
        ("Invoke", DELETE), ("Live", DELETE), ("Version", DELETE), ("Fn", DELETE), ("Dlq", DELETE)]
    assert outcome.state.resources == {} and outcome.state.status == "DELETE_COMPLETE"


def test_destroy_keeps_retained_resources_in_place() -> None:
    aws = FakeAws()
    layer = Resource("Layer", "AWS::Lambda::LayerVersion", {"Content": {"ZipFile": CODE}, "LayerName": "shared"},
                     deletion_policy="Retain")
    first = deploy(aws, stack(layer, Resource("Q", "AWS::SQS::Queue", {})))
    aws.log.clear()
    outcome = engine.destroy(first.state, aws.clients, sleep=lambda s: None)
    assert aws.changes() == ["delete_queue"]
    assert [(d.logical_id, d.action) for d in outcome.done] == [("Layer", RETAINED), ("Q", DELETE)]
    assert outcome.state.resources == {}


def test_deleting_what_is_already_gone_is_not_an_error() -> None:
    aws = FakeAws()
    first = deploy(aws, typical())
    aws.lambda_.failures["delete_function"] = ("ResourceNotFoundException", "Function not found")
    aws.sqs.failures["delete_queue"] = ("AWS.SimpleQueueService.NonExistentQueue", "gone")
    outcome = engine.destroy(first.state, aws.clients, sleep=lambda s: None)
    assert outcome.state.resources == {}
