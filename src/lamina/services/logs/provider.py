"""CloudWatch Logs (json 1.1, ``X-Amz-Target: Logs_20140328.<Operation>``): one method per operation,
wire shapes in, :class:`~lamina.observability.logbook.LogBook` calls (through the log service, which
flushes pending invocation records first and runs them in a worker thread), wire shapes out.

Limits and wording follow the CloudWatch Logs API reference: GetLogEvents and FilterLogEvents return
at most 10,000 events or 1 MB; DescribeLogGroups and DescribeLogStreams pages hold at most 50;
PutLogEvents takes events in chronological order, no older than 14 days (or the retention) and no
more than 2 hours ahead, spanning at most 24 hours.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from lamina.aws.jsonproto import JsonProtocol
from lamina.aws.protocol import RequestContext
from lamina.clock import Clock
from lamina.observability.errors import InvalidParameterException
from lamina.observability.filterpattern import compile_pattern
from lamina.observability.logbook import DAY_MS, Event
from lamina.observability.logservice import LogService

MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
PAGE = 50
_TOKEN = re.compile(r"([fb])/(\d{1,56})(?:/s)?")


def logs_protocol() -> JsonProtocol:
    return JsonProtocol("logs")


def _arn(ctx: RequestContext, group: str) -> str:
    return f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{group}"


def _group_name(params: dict[str, Any]) -> str:
    """``logGroupName``, or the name inside ``logGroupIdentifier`` (a name or an ARN)."""
    name = params.get("logGroupName")
    identifier = params.get("logGroupIdentifier")
    if name and identifier:
        raise InvalidParameterException("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if name:
        return str(name)
    if identifier:
        text = str(identifier)
        if text.startswith("arn:"):
            text = text.split(":log-group:", 1)[-1]
            text = text[:-2] if text.endswith(":*") else text
        return text
    raise InvalidParameterException("Should provide either name or ARN of the log group")


def _offset_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidParameterException("The specified nextToken is invalid.") from None


def _offset(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode()


class LogsProvider:
    service_name = "logs"

    def __init__(self, logs: LogService, clock: Clock) -> None:
        self._logs = logs
        self._book = logs.book
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock.time() * 1000)

    # -- groups -----------------------------------------------------------------------------------

    async def create_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._logs.call(self._book.create_group, ctx.region, params["logGroupName"], self._now_ms(),
                              params.get("tags"), params.get("kmsKeyId"), params.get("logGroupClass"))

    async def delete_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._logs.call(self._book.delete_group, ctx.region, params["logGroupName"])

    async def describe_log_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("logGroupNamePrefix")
        pattern = params.get("logGroupNamePattern")
        if prefix and pattern:
            raise InvalidParameterException("LogGroup name prefix and LogGroup name pattern are mutually "
                                            "exclusive parameters.")
        groups = await self._logs.call(self._book.groups, ctx.region)
        identifiers = params.get("logGroupIdentifiers")
        if identifiers:
            wanted = {_group_name({"logGroupIdentifier": i}) for i in identifiers}
            groups = [g for g in groups if g["name"] in wanted]
        if prefix:
            groups = [g for g in groups if g["name"].startswith(prefix)]
        if pattern:
            groups = [g for g in groups if pattern.lower() in g["name"].lower()]
        if params.get("logGroupClass"):
            groups = [g for g in groups if g["log_group_class"] == params["logGroupClass"]]
        start = _offset_token(params.get("nextToken"))
        limit = params.get("limit") or PAGE
        page = groups[start:start + limit]
        answer: dict[str, Any] = {"logGroups": [self._group_shape(ctx, g) for g in page]}
        if start + limit < len(groups):
            answer["nextToken"] = _offset(start + limit)
        return answer

    @staticmethod
    def _group_shape(ctx: RequestContext, group: dict[str, Any]) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "logGroupName": group["name"], "creationTime": group["created_ms"], "metricFilterCount": 0,
            "arn": _arn(ctx, group["name"]) + ":*", "storedBytes": group["stored_bytes"],
            "logGroupClass": group["log_group_class"], "logGroupArn": _arn(ctx, group["name"]),
        }
        if group["retention_days"]:
            shape["retentionInDays"] = group["retention_days"]
        if group["kms_key_id"]:
            shape["kmsKeyId"] = group["kms_key_id"]
        return shape

    async def put_retention_policy(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._logs.call(self._book.put_retention, ctx.region, params["logGroupName"],
                              params["retentionInDays"])

    async def delete_retention_policy(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._logs.call(self._book.put_retention, ctx.region, params["logGroupName"], None)

    async def list_tags_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"tags": await self._logs.call(self._book.tag_group, ctx.region, params["logGroupName"])}

    async def tag_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._logs.call(self._book.tag_group, ctx.region, params["logGroupName"], params["tags"])

    async def untag_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._logs.call(self._book.tag_group, ctx.region, params["logGroupName"], None, params["tags"])

    # -- streams ----------------------------------------------------------------------------------

    async def create_log_stream(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._logs.call(self._book.create_stream, ctx.region, params["logGroupName"],
                              params["logStreamName"], self._now_ms())

    async def delete_log_stream(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._logs.call(self._book.delete_stream, ctx.region, params["logGroupName"], params["logStreamName"])

    async def describe_log_streams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = _group_name(params)
        order = params.get("orderBy") or "LogStreamName"
        prefix = params.get("logStreamNamePrefix")
        if prefix and order == "LastEventTime":
            raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
        streams = await self._logs.call(self._book.streams, ctx.region, group)
        if prefix:
            streams = [s for s in streams if s["name"].startswith(prefix)]
        if order == "LastEventTime":
            streams.sort(key=lambda s: (s["last_event_ms"] or 0, s["name"]), reverse=bool(params.get("descending")))
        else:
            streams.sort(key=lambda s: s["name"], reverse=bool(params.get("descending")))
        start = _offset_token(params.get("nextToken"))
        limit = params.get("limit") or PAGE
        answer: dict[str, Any] = {"logStreams": [self._stream_shape(ctx, s) for s in streams[start:start + limit]]}
        if start + limit < len(streams):
            answer["nextToken"] = _offset(start + limit)
        return answer

    @staticmethod
    def _stream_shape(ctx: RequestContext, stream: dict[str, Any]) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "logStreamName": stream["name"], "creationTime": stream["created_ms"],
            "arn": f"{_arn(ctx, stream['group'])}:log-stream:{stream['name']}",
            "storedBytes": stream["stored_bytes"],
        }
        for key, member in (("first_event_ms", "firstEventTimestamp"), ("last_event_ms", "lastEventTimestamp"),
                            ("last_ingestion_ms", "lastIngestionTime")):
            if stream[key] is not None:
                shape[member] = stream[key]
        return shape

    # -- events -----------------------------------------------------------------------------------

    async def put_log_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        events = params["logEvents"]
        times = [e["timestamp"] for e in events]
        if times != sorted(times):
            raise InvalidParameterException("Log events in a single PutLogEvents request must be in chronological "
                                            "order.")
        if times and times[-1] - times[0] > DAY_MS:
            raise InvalidParameterException("The batch of log events in a single PutLogEvents request cannot span "
                                            "more than 24 hours.")
        if sum(len(e["message"].encode()) + 26 for e in events) > MAX_BYTES:
            raise InvalidParameterException("Upload too large: the batch exceeds 1048576 bytes.")
        group_name, stream_name = params["logGroupName"], params["logStreamName"]
        group = await self._logs.call(self._book.group, ctx.region, group_name)
        now = self._now_ms()
        oldest = now - 14 * DAY_MS
        retention = group["retention_days"]
        expired_before = now - retention * DAY_MS if retention else None
        rejected: dict[str, int] = {}
        accepted: list[tuple[int, str]] = []
        for index, event in enumerate(events):
            timestamp = event["timestamp"]
            if timestamp > now + 2 * 3_600_000:
                rejected.setdefault("tooNewLogEventStartIndex", index)
            elif expired_before is not None and timestamp < expired_before:
                rejected["expiredLogEventEndIndex"] = index
            elif timestamp < oldest:
                rejected["tooOldLogEventEndIndex"] = index
            else:
                accepted.append((timestamp, event["message"]))
        await self._logs.call(self._book.put_events, ctx.region, group_name, stream_name, accepted, now)
        answer: dict[str, Any] = {"nextSequenceToken": f"{now:056d}"}
        if rejected:
            answer["rejectedLogEventsInfo"] = rejected
        return answer

    async def get_log_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = _group_name(params)
        limit = min(params.get("limit") or MAX_EVENTS, MAX_EVENTS)
        token = params.get("nextToken")
        after: int | None = None
        before: int | None = None
        if token:
            match = _TOKEN.fullmatch(token)
            if match is None:
                raise InvalidParameterException("The specified nextToken is invalid.")
            position = int(match[2])
            if match[1] == "f":
                after = position
            else:
                before = position
        elif params.get("startFromHead"):
            after = 0
        else:
            before = 1 << 62
        events: list[Event] = await self._logs.call(
            self._book.read_stream, ctx.region, group, params["logStreamName"], start_ms=params.get("startTime"),
            end_ms=params.get("endTime"), after=after, before=before, limit=limit, max_bytes=MAX_BYTES)
        if events:
            forward, backward = events[-1].id, events[0].id
        else:
            # Nothing (more) that way: hand the same position back, which ends the client's paging.
            forward = after if after is not None else (before or 1) - 1
            backward = before if before is not None else (after or 0) + 1
        if before == 1 << 62 and not events:
            forward, backward = 0, 1
        return {"events": [{"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion}
                           for e in events],
                "nextForwardToken": f"f/{forward:056d}/s", "nextBackwardToken": f"b/{backward:056d}/s"}

    async def filter_log_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = _group_name(params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix")
        if names and prefix:
            raise InvalidParameterException("logStreamNames and logStreamNamePrefix are mutually exclusive "
                                            "parameters.")
        match = compile_pattern(params.get("filterPattern"))
        streams: list[str] | None = list(names) if names else None
        if prefix:
            found = await self._logs.call(self._book.streams, ctx.region, group)
            streams = [s["name"] for s in found if s["name"].startswith(prefix)]
        after = _cursor(params.get("nextToken"))
        limit = min(params.get("limit") or MAX_EVENTS, MAX_EVENTS)
        events, cursor = await self._logs.call(
            self._book.filter_events, ctx.region, group, streams=streams, start_ms=params.get("startTime"),
            end_ms=params.get("endTime"), after=after, match=match, limit=limit, max_bytes=MAX_BYTES)
        answer: dict[str, Any] = {
            "events": [{"logStreamName": e.stream, "timestamp": e.timestamp, "message": e.message,
                        "ingestionTime": e.ingestion, "eventId": f"{e.id:056d}"} for e in events],
            "searchedLogStreams": [],
        }
        if cursor is not None:
            answer["nextToken"] = base64.urlsafe_b64encode(f"{cursor[0]}:{cursor[1]}".encode()).decode()
        return answer


def _cursor(token: str | None) -> tuple[int, int] | None:
    if not token:
        return None
    try:
        timestamp, event_id = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        return int(timestamp), int(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidParameterException("The specified nextToken is invalid.") from None
