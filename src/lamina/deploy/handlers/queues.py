"""``AWS::SQS::Queue``: CreateQueue, then SetQueueAttributes and tags on updates.

CloudFormation gives attributes as typed properties (numbers, booleans, ``RedrivePolicy`` as an
object); SQS takes strings, JSON documents as text. ``Ref`` is the queue's URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lamina.deploy.handlers.base import Applied, Context, DeployError, Handler, ignore_missing, tag_dict
from lamina.deploy.model import Resource, Stack
from lamina.deploy.state import ResourceState

#: Queue attributes a template may set, and (for updates that drop one) the value it returns to.
ATTRIBUTES: Mapping[str, str | None] = {
    "DelaySeconds": "0", "MaximumMessageSize": "1048576", "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0", "VisibilityTimeout": "30", "RedrivePolicy": "",
    "RedriveAllowPolicy": "", "KmsMasterKeyId": None, "KmsDataKeyReusePeriodSeconds": None,
    "SqsManagedSseEnabled": None, "FifoQueue": None, "ContentBasedDeduplication": "false",
    "DeduplicationScope": None, "FifoThroughputLimit": None,
}
QUEUE_PROPERTIES = frozenset(ATTRIBUTES) | {"QueueName", "Tags"}
_NAME_LIMIT = 80


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def queue_attributes(props: Mapping[str, Any]) -> dict[str, str]:
    """The SQS attributes of a queue's properties, as strings."""
    return {name: _text(props[name]) for name in ATTRIBUTES if props.get(name) is not None}


def _fifo(props: Mapping[str, Any]) -> bool:
    return _text(props.get("FifoQueue", False)).lower() == "true"


class QueueHandler(Handler):
    type = "AWS::SQS::Queue"
    attributes = frozenset({"Arn", "QueueName", "QueueUrl"})
    replace_on = frozenset({"QueueName", "FifoQueue"})

    def check(self, resource: Resource, stack: Stack) -> None:
        unknown = sorted(set(resource.properties) - QUEUE_PROPERTIES)
        if unknown:
            raise DeployError(f"unknown AWS::SQS::Queue properties: {', '.join(unknown)}")

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        sqs = ctx.clients.sqs
        fifo = _fifo(props)
        name = props.get("QueueName") or ctx.generated_name(_NAME_LIMIT, ".fifo" if fifo else "")
        tags = tag_dict(props.get("Tags"))
        url = sqs.create_queue(QueueName=name, Attributes=queue_attributes(props),
                               **({"tags": tags} if tags else {}))["QueueUrl"]
        applied = Applied(url, {"Ref": url, "QueueUrl": url, "QueueName": name})
        ctx.record(applied)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        applied.attributes["Arn"] = arn
        return applied

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        sqs = ctx.clients.sqs
        url = prior.physical_id
        wanted = queue_attributes(props)
        changes = {name: wanted.get(name, ATTRIBUTES[name]) for name in changed
                   if name in ATTRIBUTES and (name in wanted or ATTRIBUTES[name] is not None)}
        if changes:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={k: v for k, v in changes.items() if v is not None})
        if "Tags" in changed:
            before, after = tag_dict(prior.properties.get("Tags")), tag_dict(props.get("Tags"))
            gone = sorted(set(before) - set(after))
            if gone:
                sqs.untag_queue(QueueUrl=url, TagKeys=gone)
            if after:
                sqs.tag_queue(QueueUrl=url, Tags=after)
        return Applied(url, dict(prior.attributes))

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.sqs.delete_queue(QueueUrl=prior.physical_id),
                       "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
