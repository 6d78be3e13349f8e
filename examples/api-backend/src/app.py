"""An API backend: GET /items/{id} reads an item, POST /items creates one (HTTP API, payload 2.0).

There is no database in this example: an item's name is made from its id, and a created item is
echoed back with a fresh id. The shape of the answers is what matters: status code, headers, JSON body.
Requests are told apart by method and path, so an event from `lamina generate-event apigateway`
(route `$default`) works as well as one the API sends.
"""

import base64
import json
import os
import uuid


def _answer(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def get_item(item_id):
    return _answer(200, {"id": item_id, "name": f"item {item_id}", "shop": os.environ["SHOP_NAME"]})


def create_item(event):
    body = event.get("body") or "{}"
    if event.get("isBase64Encoded"):
        # A body sent without a JSON content type (curl -d sends a form type) arrives base64-encoded.
        body = base64.b64decode(body).decode()
    try:
        item = json.loads(body)
    except ValueError:
        return _answer(400, {"message": "the body must be JSON"})
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return _answer(400, {"message": 'the body needs a "name"'})
    print(f"creating item {item['name']!r}")
    return _answer(201, {"id": uuid.uuid4().hex[:8], "name": item["name"], "shop": os.environ["SHOP_NAME"]})


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    parts = event["rawPath"].strip("/").split("/")
    if method == "GET" and len(parts) == 2 and parts[0] == "items":
        return get_item((event.get("pathParameters") or {}).get("id", parts[1]))
    if method == "POST" and parts == ["items"]:
        return create_item(event)
    return _answer(404, {"message": f"no route for {method} {event['rawPath']}"})
