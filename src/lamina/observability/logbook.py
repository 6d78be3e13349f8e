"""CloudWatch Logs, the domain: log groups, log streams and their events, usable without a socket.

Synchronous and thread-safe (one lock around the group and stream tables, which live in memory and
in the store); callers run it in a worker thread. Times are epoch milliseconds. Events come in
*chunks* (see :mod:`lamina.store.observability`): an invocation's log text is one chunk of one event
per line, every line keeping its ``\\n`` as Lambda's do in CloudWatch; one flush writes the records
of each stream as one chunk, with each line's time. An event's id is its chunk's id shifted left 20
bits plus its line number, so ids grow with arrival within a stream and tokens (``f/<id>/s``,
``b/<id>/s``, AWS's shape) are plain positions. FilterLogEvents scans chunks in order of their first
event's time, so events of different streams written within one flush interval (a quarter of a
second) come in stream order rather than strictly by time.

Messages follow AWS (CloudWatch Logs API reference) word for word where clients show them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.observability.errors import (
    InvalidParameterException,
    LogsResourceNotFound,
    ResourceAlreadyExistsException,
)
from lamina.observability.logs import LogRow
from lamina.store.observability import Chunk, LogTables

LINE_BITS = 20
#: The values PutRetentionPolicy accepts (API reference, PutRetentionPolicy).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    stream: str
    timestamp: int
    ingestion: int
    message: str


def events_of(chunk: Chunk) -> Iterator[Event]:
    """The events of one chunk, in order."""
    base = chunk.id << LINE_BITS
    if chunk.lines == 0:
        yield Event(base, chunk.stream, chunk.timestamp_ms, chunk.ingestion_ms, chunk.text)
        return
    times = json.loads(chunk.times) if chunk.times else [[chunk.timestamp_ms, chunk.lines]]
    start = 0
    text = chunk.text
    line = 0
    for timestamp, count in times:
        for _ in range(count):
            end = text.find("\n", start)
            end = len(text) if end < 0 else end + 1
            yield Event(base + line, chunk.stream, timestamp, chunk.ingestion_ms, text[start:end])
            start = end
            line += 1


@dataclass(slots=True)
class _Part:
    """A stream's records in one flush: their text, and each line's time as [ms, line count] runs."""

    texts: list[str] = field(default_factory=list)
    times: list[list[int]] = field(default_factory=list)
    lines: int = 0

    def row(self, region: str, group: str, stream: str, now_ms: int) -> tuple[Any, ...]:
        """The chunk, a row in CHUNK_COLUMNS order."""
        first = min(t for t, _ in self.times)
        last = max(t for t, _ in self.times)
        encoded = json.dumps(self.times, separators=(",", ":")) if len(self.times) > 1 else None
        return (region, group, stream, first, now_ms, self.lines, "".join(self.texts),
                last if last != first else None, encoded)


@dataclass(slots=True)
class Prepared:
    """One flush's records, one part per stream, with the streams and the new groups they touch.
    :meth:`LogBook.prepare` fills it a slice at a time; :meth:`LogBook.write` stores it."""

    now_ms: int
    parts: dict[tuple[str, str, str], _Part] = field(default_factory=dict)
    streams: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)


def _group_missing() -> LogsResourceNotFound:
    return LogsResourceNotFound("The specified log group does not exist.")


def _stream_missing() -> LogsResourceNotFound:
    return LogsResourceNotFound("The specified log stream does not exist.")


class LogBook:
    """Every log group of this node, by (region, name)."""

    def __init__(self, tables: LogTables) -> None:
        self._tables = tables
        self._lock = threading.RLock()
        self._groups: dict[tuple[str, str], dict[str, Any]] = {}
        self._streams: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    def load(self) -> None:
        with self._lock:
            for group in self._tables.groups():
                self._groups[(group["region"], group["name"])] = group
                self._streams.setdefault((group["region"], group["name"]), {})
            for stream in self._tables.streams():
                self._streams.setdefault((stream["region"], stream["group"]), {})[stream["name"]] = stream

    # -- ingestion (the invoker's records, via the log service) ------------------------------------

    def ingest(self, records: Sequence[LogRow], default_region: str, now_ms: int) -> None:
        """Store invocation log records; groups and streams are created on first use, as Lambda does."""
        self.write(self.prepare(records, default_region, Prepared(now_ms)))

    def prepare(self, records: Sequence[LogRow], default_region: str, into: Prepared) -> Prepared:
        """The Python half of :meth:`ingest` (records into per-stream parts, stream figures), run on
        the event loop a slice at a time; :meth:`write` is the SQL half, run in a worker thread."""
        now_ms = into.now_ms
        parts = into.parts
        touched: dict[tuple[str, str, str], list[int]] = {}     # first ms, last ms, bytes
        # _Part.add and the figures, inlined: this loop runs once per invocation's log text.
        for group, stream_name, seconds, text, region in records:
            if not text:
                continue
            key = (region or default_region, group, stream_name)
            part = parts.get(key)
            if part is None:
                part = parts[key] = _Part()
            if not text.endswith("\n"):
                text += "\n"
            count = text.count("\n")
            timestamp = int(seconds * 1000)
            times = part.times
            if times and times[-1][0] == timestamp:
                times[-1][1] += count
            else:
                times.append([timestamp, count])
            part.texts.append(text)
            part.lines += count
            figures = touched.get(key)
            if figures is None:
                touched[key] = [timestamp, timestamp, len(text)]
            else:
                if timestamp < figures[0]:
                    figures[0] = timestamp
                elif timestamp > figures[1]:
                    figures[1] = timestamp
                figures[2] += len(text)
        with self._lock:
            for (region, group, name), (first, last, size) in touched.items():
                if (region, group) not in self._groups:
                    into.groups.append(dict(self._new_group(region, group, now_ms)))
                stream = self._stream(region, group, name, now_ms)
                self._note(stream, first, last, now_ms, size)
                into.streams[(region, group, name)] = stream
        return into

    def write(self, prepared: Prepared) -> None:
        """Store one chunk per stream (and the latest figures of those streams) in one transaction."""
        with self._lock:
            streams = [dict(stream) for stream in prepared.streams.values()]
        rows = [part.row(*key, prepared.now_ms) for key, part in prepared.parts.items()]
        self._tables.append(rows, streams, prepared.groups)

    def _new_group(self, region: str, name: str, now_ms: int, tags: dict[str, str] | None = None,
                   kms_key_id: str | None = None, log_group_class: str = "STANDARD") -> dict[str, Any]:
        group = {"region": region, "name": name, "created_ms": now_ms, "retention_days": None,
                 "kms_key_id": kms_key_id, "log_group_class": log_group_class, "tags": dict(tags or {})}
        self._groups[(region, name)] = group
        self._streams.setdefault((region, name), {})
        return group

    def _stream(self, region: str, group: str, name: str, now_ms: int) -> dict[str, Any]:
        streams = self._streams.setdefault((region, group), {})
        stream = streams.get(name)
        if stream is None:
            stream = streams[name] = {"region": region, "group": group, "name": name, "created_ms": now_ms,
                                      "first_event_ms": None, "last_event_ms": None, "last_ingestion_ms": None,
                                      "stored_bytes": 0}
        return stream

    @staticmethod
    def _note(stream: dict[str, Any], first: int, last: int, now_ms: int, size: int) -> None:
        if stream["first_event_ms"] is None or first < stream["first_event_ms"]:
            stream["first_event_ms"] = first
        if stream["last_event_ms"] is None or last > stream["last_event_ms"]:
            stream["last_event_ms"] = last
        stream["last_ingestion_ms"] = now_ms
        stream["stored_bytes"] += size

    # -- groups -----------------------------------------------------------------------------------

    def create_group(self, region: str, name: str, now_ms: int, tags: dict[str, str] | None = None,
                     kms_key_id: str | None = None, log_group_class: str | None = None) -> None:
        with self._lock:
            if (region, name) in self._groups:
                raise ResourceAlreadyExistsException("The specified log group already exists")
            group = self._new_group(region, name, now_ms, tags, kms_key_id, log_group_class or "STANDARD")
            self._tables.put_group(group)

    def delete_group(self, region: str, name: str) -> None:
        with self._lock:
            if self._groups.pop((region, name), None) is None:
                raise _group_missing()
            self._streams.pop((region, name), None)
            self._tables.drop_group(region, name)

    def group(self, region: str, name: str) -> dict[str, Any]:
        with self._lock:
            found = self._groups.get((region, name))
            if found is None:
                raise _group_missing()
            return dict(found)

    def groups(self, region: str) -> list[dict[str, Any]]:
        """Every group of ``region`` with its stored bytes, sorted by name."""
        with self._lock:
            found = []
            for (group_region, name), group in sorted(self._groups.items()):
                if group_region == region:
                    streams = self._streams.get((region, name), {})
                    found.append({**group, "stored_bytes": sum(s["stored_bytes"] for s in streams.values())})
            return found

    def put_retention(self, region: str, name: str, days: int | None) -> None:
        if days is not None and days not in RETENTION_DAYS:
            raise InvalidParameterException(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]")
        with self._lock:
            group = self._groups.get((region, name))
            if group is None:
                raise _group_missing()
            group["retention_days"] = days
            self._tables.put_group(group)

    def tag_group(self, region: str, name: str, tags: dict[str, str] | None = None,
                  untag: Sequence[str] = ()) -> dict[str, str]:
        with self._lock:
            group = self._groups.get((region, name))
            if group is None:
                raise _group_missing()
            group["tags"].update(tags or {})
            for key in untag:
                group["tags"].pop(key, None)
            self._tables.put_group(group)
            return dict(group["tags"])

    # -- streams ----------------------------------------------------------------------------------

    def create_stream(self, region: str, group: str, name: str, now_ms: int) -> None:
        with self._lock:
            if (region, group) not in self._groups:
                raise _group_missing()
            if name in self._streams.get((region, group), {}):
                raise ResourceAlreadyExistsException("The specified log stream already exists")
            self._tables.append([], [dict(self._stream(region, group, name, now_ms))])

    def delete_stream(self, region: str, group: str, name: str) -> None:
        with self._lock:
            if (region, group) not in self._groups:
                raise _group_missing()
            if self._streams.get((region, group), {}).pop(name, None) is None:
                raise _stream_missing()
            self._tables.drop_stream(region, group, name)

    def streams(self, region: str, group: str) -> list[dict[str, Any]]:
        with self._lock:
            if (region, group) not in self._groups:
                raise _group_missing()
            return [dict(s) for s in self._streams.get((region, group), {}).values()]

    def stream(self, region: str, group: str, name: str) -> dict[str, Any]:
        with self._lock:
            if (region, group) not in self._groups:
                raise _group_missing()
            found = self._streams.get((region, group), {}).get(name)
            if found is None:
                raise _stream_missing()
            return dict(found)

    # -- events -----------------------------------------------------------------------------------

    def put_events(self, region: str, group: str, stream: str, events: Sequence[tuple[int, str]],
                   now_ms: int) -> None:
        """Store accepted PutLogEvents events (already checked and ordered by the caller)."""
        with self._lock:
            if (region, group) not in self._groups:
                raise _group_missing()
            found = self._streams.get((region, group), {}).get(stream)
            if found is None:
                raise _stream_missing()
            if not events:
                return
            size = sum(len(message.encode()) for _, message in events)
            self._note(found, min(t for t, _ in events), max(t for t, _ in events), now_ms, size)
            chunks = [(region, group, stream, timestamp, now_ms, 0, message, None, None)
                      for timestamp, message in events]
            self._tables.append(chunks, [dict(found)])

    def read_stream(self, region: str, group: str, stream: str, *, start_ms: int | None, end_ms: int | None,
                    after: int | None, before: int | None, limit: int, max_bytes: int) -> list[Event]:
        """Events of one stream with ids after ``after`` (ascending, the first ``limit``) or, when
        ``before`` is given, ids before it (the last ``limit``, still ascending)."""
        self.stream(region, group, stream)
        backward = before is not None
        bound = before if backward else after            # an event id, exclusive
        chunk_bound = None if bound is None else bound >> LINE_BITS   # a chunk id, inclusive
        picked: list[Event] = []
        size = 0
        while True:
            batch = self._tables.stream_chunks(
                region, group, stream, start_ms=start_ms, end_ms=end_ms,
                after_id=None if backward else chunk_bound, before_id=chunk_bound if backward else None,
                backward=backward, limit=200)
            for chunk in batch:
                events = list(events_of(chunk))
                for event in reversed(events) if backward else events:
                    if bound is not None and (event.id >= bound if backward else event.id <= bound):
                        continue
                    if (start_ms is not None and event.timestamp < start_ms) or (
                            end_ms is not None and event.timestamp >= end_ms):
                        continue
                    cost = len(event.message.encode()) + 26
                    if len(picked) >= limit or size + cost > max_bytes:
                        return _ascending(picked, backward)
                    picked.append(event)
                    size += cost
            if len(batch) < 200:
                return _ascending(picked, backward)
            chunk_bound = batch[-1].id - 1 if backward else batch[-1].id + 1

    def filter_events(self, region: str, group: str, *, streams: Sequence[str] | None, start_ms: int | None,
                      end_ms: int | None, after: tuple[int, int] | None, match: Any, limit: int, max_bytes: int,
                      max_chunks: int = 5000) -> tuple[list[Event], tuple[int, int] | None]:
        """Matching events of a group in scan order (chunks by first event time, then id; lines in
        order) after the cursor ``after`` = (chunk time, event id); returns them and the cursor to
        resume from (None: nothing left)."""
        self.group(region, group)
        picked: list[Event] = []
        size = 0
        scanned = 0
        cursor = after
        # The cursor's own chunk may hold events still to return: start at it, then strictly after.
        chunk_cursor = None if after is None else (after[0], (after[1] >> LINE_BITS) - 1)
        while True:
            batch = self._tables.chunks(region, group, streams=streams, start_ms=start_ms, end_ms=end_ms,
                                        after=chunk_cursor, limit=500)
            for chunk in batch:
                scanned += 1
                for event in events_of(chunk):
                    position = (chunk.timestamp_ms, event.id)
                    if cursor is not None and position <= cursor:
                        continue
                    cursor = position
                    if (start_ms is not None and event.timestamp < start_ms) or (
                            end_ms is not None and event.timestamp > end_ms) or not match(event.message):
                        continue
                    picked.append(event)
                    size += len(event.message.encode()) + 26
                    if len(picked) >= limit or size >= max_bytes:
                        return picked, cursor
                if scanned >= max_chunks:
                    return picked, cursor
            if len(batch) < 500:
                return picked, None
            chunk_cursor = (batch[-1].timestamp_ms, batch[-1].id)

    # -- retention --------------------------------------------------------------------------------

    def sweep(self, now_ms: int) -> int:
        """Delete events older than their group's retention; returns how many chunks went."""
        with self._lock:
            policies = [(region, name, group["retention_days"]) for (region, name), group in self._groups.items()
                        if group["retention_days"]]
        return sum(self._tables.expire(region, name, now_ms - days * DAY_MS) for region, name, days in policies)


def _ascending(events: list[Event], backward: bool) -> list[Event]:
    if backward:
        events.reverse()
    return events
