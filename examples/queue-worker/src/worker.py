"""A queue worker: each message is an order (JSON); invalid ones are reported as failed items.

With ``ReportBatchItemFailures`` only the failed messages return to the queue (and, after
``maxReceiveCount`` receives, to the dead-letter queue); the rest of the batch is deleted.
"""

import json


def process(order):
    if not isinstance(order, dict) or "id" not in order:
        raise ValueError("an order needs an id")
    if order.get("quantity", 1) <= 0:
        raise ValueError(f"order {order['id']}: quantity must be positive")
    print(f"processed order {order['id']}")


def handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            process(json.loads(record["body"]))
        except ValueError as error:
            print(f"failed message {record['messageId']}: {error}")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
