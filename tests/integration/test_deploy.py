"""The deploy engine against a live server, with hand-made stacks (the CLI on real templates is
tests/e2e/test_cli_deploy.py): stack records over HTTP, a stack that works end to end, updates in
place, replacements, REST APIs served with REST events, failures that leave a record to clean up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lamina.deploy import engine
from lamina.deploy.model import Concat, GetAtt, LocalPath, Ref, Resource, Stack
from lamina.deploy.state import CREATE_COMPLETE, FAILED, StackState
from tests.conftest import BEACON_CODE, Beacon, Server, http_request, unique_name, wait_for
from tests.integration.test_function_urls import call

APP = BEACON_CODE + '''
import json, os

def handler(event, context):
    if "Records" in event:
        for record in event["Records"]:
            beacon(os.environ["BEACON"], body=record["body"], arn=context.invoked_function_arn)
        return {}
    context_ = event.get("requestContext") or {}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps({
        "answer": os.environ.get("ANSWER"), "version": event.get("version"), "httpMethod": event.get("httpMethod"),
        "resource": event.get("resource"), "stage": context_.get("stage"), "executed": context.function_version,
        "id": (event.get("pathParameters") or {}).get("id")})}
'''


@pytest.fixture
def code(tmp_path: Path) -> LocalPath:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    return LocalPath(folder, "function", "python3.12")


def clients(server: Server) -> engine.Clients:
    return engine.Clients(server.client("lambda"), server.client("sqs"), server.client("apigatewayv2"))


def deploy(server: Server, stack: Stack, prior: StackState | None = None) -> engine.Outcome:
    prior = prior or StackState(stack.name, stack.region, stack.account_id)
    plan = engine.plan(stack, prior, build=engine.builder(stack.source.parent / ".lamina-build"))
    return engine.apply(plan, clients(server))


def make_stack(name: str, source: Path, *resources: Resource, outputs: dict[str, Any] | None = None) -> Stack:
    return Stack(name, source / "template.yaml", "us-east-1", "000000000000", {r.logical_id: r for r in resources},
                 outputs or {})


def function(code: LocalPath, lid: str = "Fn", env: dict[str, Any] | None = None, **props: Any) -> Resource:
    return Resource(lid, "AWS::Lambda::Function", {
        "Code": {"ZipFile": code}, "Handler": "app.handler", "Runtime": "python3.12",
        "Environment": {"Variables": env or {}}, **props})


def http_get(server: Server, api_id: str, path: str) -> tuple[int, Any]:
    answer = call(server, "GET", path, host=f"{api_id}.execute-api.localhost:{server.port}")
    return answer.status, json.loads(answer.body) if answer.body else None


# -- stack records ---------------------------------------------------------------------------------

def test_stack_records_are_kept_per_region_on_the_server(server: Server) -> None:
    name = unique_name("record")
    document = {"stackName": name, "status": "CREATE_COMPLETE", "resources": {"A": {}, "B": {}}}
    assert http_request(server, "PUT", f"/_lamina/stacks/{name}", json.dumps(document).encode()).status == 200
    got = http_request(server, "GET", f"/_lamina/stacks/{name}").json()
    assert got["document"] == document and got["region"] == "us-east-1" and got["lastModified"] > 0
    listed = http_request(server, "GET", "/_lamina/stacks").json()
    assert listed["accountId"] == "000000000000"
    assert {"name": name, "status": "CREATE_COMPLETE", "resources": 2} in [
        {k: v for k, v in item.items() if k != "lastModified"} for item in listed["stacks"]]
    assert http_request(server, "GET", f"/_lamina/stacks/{name}?region=eu-west-1").status == 404
    assert name not in [s["name"] for s in http_request(server, "GET", "/_lamina/stacks?region=eu-west-1").json()[
        "stacks"]]
    assert http_request(server, "DELETE", f"/_lamina/stacks/{name}").status == 204
    assert http_request(server, "DELETE", f"/_lamina/stacks/{name}").status == 404
    assert http_request(server, "GET", f"/_lamina/stacks/{name}").status == 404


def test_bad_stack_records_are_refused(server: Server) -> None:
    assert http_request(server, "PUT", "/_lamina/stacks/ok-name", b"not json").status == 400
    assert http_request(server, "PUT", "/_lamina/stacks/ok-name", b"[1, 2]").status == 400
    bad = http_request(server, "GET", "/_lamina/stacks/9starts-with-a-digit")
    assert bad.status == 400 and "Invalid stack name" in bad.json()["message"]
    assert http_request(server, "POST", "/_lamina/stacks").status == 405


# -- a stack end to end ----------------------------------------------------------------------------

def full_stack(name: str, source: Path, code: LocalPath, beacon: Beacon, answer: str = "one") -> Stack:
    invoke_uri = Concat(("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/", Ref("Live"),
                         "/invocations"))
    body = {"openapi": "3.0.1", "info": {"title": name}, "paths": {
        "/items/{id}": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "httpMethod": "POST", "uri": invoke_uri, "payloadFormatVersion": "2.0"}}}}}
    return make_stack(
        name, source,
        Resource("Dlq", "AWS::SQS::Queue", {}),
        Resource("Work", "AWS::SQS::Queue", {"VisibilityTimeout": 30, "RedrivePolicy": {
            "deadLetterTargetArn": GetAtt("Dlq", "Arn"), "maxReceiveCount": 3}}),
        Resource("Role", "AWS::IAM::Role", {"AssumeRolePolicyDocument": {}}),
        function(code, env={"BEACON": beacon.url, "ANSWER": answer}, Role=GetAtt("Role", "Arn"),
                 DeadLetterConfig={"TargetArn": GetAtt("Dlq", "Arn")}),
        Resource("Version", "AWS::Lambda::Version", {"FunctionName": Ref("Fn")}, deletion_policy="Retain"),
        Resource("Live", "AWS::Lambda::Alias", {"Name": "live", "FunctionName": Ref("Fn"),
                                                "FunctionVersion": GetAtt("Version", "Version")}),
        Resource("Poll", "AWS::Lambda::EventSourceMapping", {"EventSourceArn": GetAtt("Work", "Arn"),
                                                             "FunctionName": Ref("Live"), "BatchSize": 5}),
        Resource("Api", "AWS::ApiGatewayV2::Api", {"Body": body}),
        Resource("Stage", "AWS::ApiGatewayV2::Stage", {"ApiId": Ref("Api"), "StageName": "$default",
                                                       "AutoDeploy": True}),
        Resource("Invoke", "AWS::Lambda::Permission", {
            "FunctionName": Ref("Live"), "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
            "SourceArn": Concat(("arn:aws:execute-api:us-east-1:000000000000:", Ref("Api"), "/*/GET/items/*"))}),
        outputs={"Url": {"Value": Concat(("https://", Ref("Api"), ".execute-api.us-east-1.amazonaws.com/items/1"))}},
    )


def test_a_deployed_stack_answers_over_http_and_processes_its_queue(server: Server, tmp_path: Path,
                                                                     code: LocalPath, beacon: Beacon) -> None:
    name = unique_name("full")
    outcome = deploy(server, full_stack(name, tmp_path, code, beacon))
    state = outcome.state
    assert state.status == CREATE_COMPLETE
    lam, sqs = server.client("lambda"), server.client("sqs")
    fn = f"{name}-Fn"
    config = lam.get_function_configuration(FunctionName=fn)
    assert config["Role"] == f"arn:aws:iam::000000000000:role/{name}-Role"
    assert config["DeadLetterConfig"]["TargetArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}-Dlq"
    assert lam.get_alias(FunctionName=fn, Name="live")["FunctionVersion"] == "1"
    work_url = state.resources["Work"].physical_id
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=work_url, AttributeNames=["RedrivePolicy"])[
        "Attributes"]["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:000000000000:{name}-Dlq", "maxReceiveCount": 3}
    api_id = state.resources["Api"].physical_id
    assert state.outputs["Url"]["Value"] == f"http://{api_id}.execute-api.localhost:{server.port}/items/1"
    status, body = http_get(server, api_id, "/items/42")
    assert status == 200 and body["id"] == "42" and body["executed"] == "1" and body["version"] == "2.0"
    sqs.send_message(QueueUrl=work_url, MessageBody="hello queue")
    seen = beacon.wait(lambda m: m.get("body") == "hello queue", timeout=20)
    assert seen[0]["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn}:live"
    policy = json.loads(lam.get_policy(FunctionName=fn, Qualifier="live")["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["Invoke"]

    outcome = engine.destroy(state, clients(server))
    assert outcome.state.resources == {}
    assert fn not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert not [u for u in sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])]
    assert api_id not in [a["ApiId"] for a in server.client("apigatewayv2").get_apis()["Items"]]
    assert not lam.list_event_source_mappings(EventSourceArn=f"arn:aws:sqs:us-east-1:000000000000:{name}-Work")[
        "EventSourceMappings"]


def test_changes_are_applied_in_place_and_a_new_version_moves_the_alias(server: Server, tmp_path: Path,
                                                                        code: LocalPath, beacon: Beacon) -> None:
    name = unique_name("change")
    first = deploy(server, full_stack(name, tmp_path, code, beacon)).state
    api_id = first.resources["Api"].physical_id
    changed = full_stack(name, tmp_path, code, beacon, answer="two")
    resources = dict(changed.resources)
    resources["Work"] = Resource("Work", "AWS::SQS::Queue", {**resources["Work"].properties, "VisibilityTimeout": 45})
    resources["Poll"] = Resource("Poll", "AWS::Lambda::EventSourceMapping", {**resources["Poll"].properties,
                                                                             "BatchSize": 7})
    outcome = deploy(server, make_stack(name, tmp_path, *resources.values(), outputs=dict(changed.outputs)), first)
    actions = {d.logical_id: d.action for d in outcome.done}
    assert actions == {"Dlq": "unchanged", "Work": "update", "Role": "no-op", "Fn": "update", "Version": "retained",
                       "Live": "update", "Poll": "update", "Api": "unchanged", "Stage": "unchanged",
                       "Invoke": "unchanged"}
    sqs, lam = server.client("sqs"), server.client("lambda")
    work_url = outcome.state.resources["Work"].physical_id
    assert sqs.get_queue_attributes(QueueUrl=work_url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "45"}
    assert lam.get_event_source_mapping(UUID=outcome.state.resources["Poll"].physical_id)["BatchSize"] == 7
    assert lam.get_alias(FunctionName=f"{name}-Fn", Name="live")["FunctionVersion"] == "2"
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=f"{name}-Fn")["Versions"]] == [
        "$LATEST", "1", "2"]
    status, body = http_get(server, api_id, "/items/1")
    assert status == 200 and body["answer"] == "two" and body["executed"] == "2"
    engine.destroy(outcome.state, clients(server))


def test_a_new_function_name_replaces_the_function(server: Server, tmp_path: Path, code: LocalPath) -> None:
    name = unique_name("rename")
    lam = server.client("lambda")
    first = deploy(server, make_stack(name, tmp_path, function(code, FunctionName=f"{name}-a"))).state
    outcome = deploy(server, make_stack(name, tmp_path, function(code, FunctionName=f"{name}-b")), first)
    assert [(d.action, d.physical_id) for d in outcome.done] == [("replace", f"{name}-b"), ("delete", f"{name}-a")]
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert f"{name}-b" in names and f"{name}-a" not in names
    engine.destroy(outcome.state, clients(server))


def test_urls_and_event_invoke_configs_are_created_and_changed(server: Server, tmp_path: Path,
                                                              code: LocalPath) -> None:
    name = unique_name("url")

    def stack(retries: int, auth: str) -> Stack:
        return make_stack(
            name, tmp_path, function(code),
            Resource("Url", "AWS::Lambda::Url", {"TargetFunctionArn": GetAtt("Fn", "Arn"), "AuthType": auth}),
            Resource("Async", "AWS::Lambda::EventInvokeConfig", {"FunctionName": Ref("Fn"), "Qualifier": "$LATEST",
                                                                 "MaximumRetryAttempts": retries}),
            outputs={"Url": {"Value": GetAtt("Url", "FunctionUrl")}})

    lam = server.client("lambda")
    first = deploy(server, stack(2, "NONE")).state
    url = first.outputs["Url"]["Value"]
    assert url == lam.get_function_url_config(FunctionName=f"{name}-Fn")["FunctionUrl"]
    answer = call(server, "GET", "/", host=url.split("//")[1].rstrip("/"))
    assert answer.status == 200 and json.loads(answer.body)["answer"] is None
    second = deploy(server, stack(0, "AWS_IAM"), first).state
    assert lam.get_function_url_config(FunctionName=f"{name}-Fn")["AuthType"] == "AWS_IAM"
    assert lam.get_function_event_invoke_config(FunctionName=f"{name}-Fn",
                                                Qualifier="$LATEST")["MaximumRetryAttempts"] == 0
    engine.destroy(second, clients(server))
    assert not lam.list_functions()["Functions"] or f"{name}-Fn" not in [
        f["FunctionName"] for f in lam.list_functions()["Functions"]]


def test_a_rest_api_is_served_with_rest_proxy_events_under_its_stage(server: Server, tmp_path: Path,
                                                                     code: LocalPath) -> None:
    name = unique_name("rest")
    uri = Concat(("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/", GetAtt("Fn", "Arn"),
                  "/invocations"))
    body = {"swagger": "2.0", "info": {"title": name}, "paths": {
        "/hello": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": uri}},
                   "options": {"x-amazon-apigateway-integration": {"type": "mock"}}},
        "/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "httpMethod": "POST", "uri": uri}}}}}
    stack = make_stack(
        name, tmp_path, function(code),
        Resource("Rest", "AWS::ApiGateway::RestApi", {"Body": body}),
        Resource("Deployment", "AWS::ApiGateway::Deployment", {"RestApiId": Ref("Rest"), "StageName": "Stage"}),
        Resource("Prod", "AWS::ApiGateway::Stage", {"RestApiId": Ref("Rest"), "StageName": "Prod",
                                                    "DeploymentId": Ref("Deployment")}),
        outputs={"Url": {"Value": Concat(("https://", Ref("Rest"), ".execute-api.us-east-1.amazonaws.com/Prod/"))}})
    outcome = deploy(server, stack)
    api_id = outcome.state.resources["Rest"].physical_id
    assert {d.logical_id: d.action for d in outcome.done}["Deployment"] == "no-op"
    status, event = http_get(server, api_id, "/Prod/hello")
    assert status == 200
    # Payload format 1.0: the REST proxy event's fields (HTTP APIs add "version": "1.0").
    assert (event["version"], event["httpMethod"], event["resource"], event["stage"]) == ("1.0", "GET", "/hello",
                                                                                          "Prod")
    status, event = http_get(server, api_id, "/Prod/any/thing")
    assert status == 200 and event["resource"] == "/{proxy+}"
    assert http_get(server, api_id, "/hello")[0] == 404  # only the stage serves it
    routes = server.client("apigatewayv2").get_routes(ApiId=api_id)["Items"]
    assert sorted(r["RouteKey"] for r in routes) == ["ANY /{proxy+}", "GET /hello"]
    assert outcome.state.outputs["Url"]["Value"] == f"http://{api_id}.execute-api.localhost:{server.port}/Prod/"
    engine.destroy(outcome.state, clients(server))


def test_a_body_change_changes_only_the_routes_that_differ(server: Server, tmp_path: Path, code: LocalPath) -> None:
    name = unique_name("routes")
    uri = Concat(("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/", GetAtt("Fn", "Arn"),
                  "/invocations"))
    operation = {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": uri, "payloadFormatVersion": "2.0"}}

    def stack(*paths: str) -> Stack:
        return make_stack(name, tmp_path, function(code), Resource("Api", "AWS::ApiGatewayV2::Api", {
            "Body": {"openapi": "3.0.1", "info": {"title": name}, "paths": {p: {"get": operation} for p in paths}}}),
            Resource("Stage", "AWS::ApiGatewayV2::Stage", {"ApiId": Ref("Api"), "StageName": "$default"}))

    apigw = server.client("apigatewayv2")
    first = deploy(server, stack("/a", "/b")).state
    api_id = first.resources["Api"].physical_id
    before = {r["RouteKey"]: r["RouteId"] for r in apigw.get_routes(ApiId=api_id)["Items"]}
    second = deploy(server, stack("/a", "/c"), first).state
    after = {r["RouteKey"]: r["RouteId"] for r in apigw.get_routes(ApiId=api_id)["Items"]}
    assert set(after) == {"GET /a", "GET /c"} and after["GET /a"] == before["GET /a"]
    assert len(apigw.get_integrations(ApiId=api_id)["Items"]) == 1
    assert http_get(server, api_id, "/c")[0] == 200 and http_get(server, api_id, "/b")[0] == 404
    engine.destroy(second, clients(server))


def test_a_refused_resource_stops_the_deploy_and_what_exists_can_be_deleted(server: Server, tmp_path: Path,
                                                                             code: LocalPath) -> None:
    name = unique_name("fail")
    stack = make_stack(name, tmp_path, Resource("Q", "AWS::SQS::Queue", {}),
                       function(code, Runtime="cobol85", Environment={"Variables": {"QUEUE": Ref("Q")}}),
                       Resource("After", "AWS::SQS::Queue", {"DelaySeconds": GetAtt("Fn", "Arn")}))
    with pytest.raises(engine.ApplyError) as caught:
        deploy(server, stack)
    error = caught.value
    assert (error.logical_id, error.resource_type) == ("Fn", "AWS::Lambda::Function")
    # The server's own error, as it answered.
    assert error.message.startswith("ValidationException: 1 validation error detected: Value 'cobol85' at 'runtime'")
    record = error.state
    assert record.status == FAILED and set(record.resources) == {"Q"}
    assert record.error == {"logicalId": "Fn", "message": error.message}
    sqs = server.client("sqs")
    assert sqs.list_queues(QueueNamePrefix=f"{name}-")["QueueUrls"] == [record.resources["Q"].physical_id]
    engine.destroy(record, clients(server))
    assert wait_for(lambda: not sqs.list_queues(QueueNamePrefix=f"{name}-").get("QueueUrls"))
