"""Resources live per region: the region comes from each request's SigV4 credential scope."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, create_python_function, http_request, invoke_json, make_zip, unique_name

CODE = """
import os

def handler(event, context):
    return {"region": os.environ["AWS_REGION"], "arn": context.invoked_function_arn, "tag": event.get("tag")}
"""


def test_regions_see_different_functions(server: Server) -> None:
    west = server.client(region="us-west-2")
    london = server.client(region="eu-west-2")
    only_west = create_python_function(west, CODE, name=unique_name("west"))
    only_london = create_python_function(london, CODE, name=unique_name("london"))

    west_names = {fn["FunctionName"] for fn in west.list_functions()["Functions"]}
    london_names = {fn["FunctionName"] for fn in london.list_functions()["Functions"]}
    assert only_west in west_names and only_west not in london_names
    assert only_london in london_names and only_london not in west_names

    with pytest.raises(ClientError) as excinfo:
        london.get_function(FunctionName=only_west)
    assert excinfo.value.response["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": f"Function not found: arn:aws:lambda:eu-west-2:000000000000:function:{only_west}"}
    with pytest.raises(ClientError):
        west.invoke(FunctionName=only_london)


def test_same_name_in_two_regions(server: Server) -> None:
    west = server.client(region="us-west-2")
    london = server.client(region="eu-west-2")
    name = unique_name("twin")
    created_west = west.create_function(**_params(name, "west"))
    created_london = london.create_function(**_params(name, "london"))
    assert created_west["FunctionArn"] == f"arn:aws:lambda:us-west-2:000000000000:function:{name}"
    assert created_london["FunctionArn"] == f"arn:aws:lambda:eu-west-2:000000000000:function:{name}"

    assert west.get_function(FunctionName=name)["Configuration"]["Description"] == "west"
    assert london.get_function(FunctionName=name)["Configuration"]["Description"] == "london"
    assert invoke_json(west, name, {"tag": 1})[1] == {
        "region": "us-west-2", "arn": created_west["FunctionArn"], "tag": 1}
    assert invoke_json(london, name, {"tag": 2})[1] == {
        "region": "eu-west-2", "arn": created_london["FunctionArn"], "tag": 2}

    # Deleting one leaves the other.
    west.delete_function(FunctionName=name)
    assert london.get_function(FunctionName=name)["Configuration"]["FunctionArn"] == created_london["FunctionArn"]
    with pytest.raises(ClientError):
        west.get_function(FunctionName=name)


def test_unsigned_requests_use_the_default_region(server: Server) -> None:
    name = create_python_function(server.client(region="us-east-1"), CODE)
    answer = http_request(server, "GET", f"/2015-03-31/functions/{name}/configuration")
    assert answer.status == 200
    assert answer.json()["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    west_only = create_python_function(server.client(region="us-west-2"), CODE)
    assert http_request(server, "GET", f"/2015-03-31/functions/{west_only}/configuration").status == 404


def _params(name: str, description: str) -> dict[str, object]:
    return {"FunctionName": name, "Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler",
            "Description": description, "Code": {"ZipFile": make_zip({"app.py": CODE})}}
