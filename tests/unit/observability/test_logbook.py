"""The CloudWatch Logs domain over a real store: ingestion, groups and streams, reading, retention."""

from __future__ import annotations

import pytest

from lamina.observability.errors import InvalidParameterException, LogsResourceNotFound, ResourceAlreadyExistsException
from lamina.observability.filterpattern import compile_pattern
from lamina.observability.logbook import DAY_MS, LogBook
from lamina.observability.logs import LogRecord
from lamina.store.db import Store
from lamina.store.observability import LogTables

GROUP = "/aws/lambda/fn"
NOW = 1_800_000_000_000


def invocation(n: int, stream: str = "s1", at: float = NOW / 1000) -> LogRecord:
    return LogRecord(GROUP, stream, at + n, f"START {n}\nline {n}\nEND {n}\n", "us-east-1")


@pytest.fixture
def book(store: Store) -> LogBook:
    found = LogBook(LogTables(store))
    found.load()
    return found


def test_ingest_creates_group_and_stream_and_splits_lines(book: LogBook, store: Store) -> None:
    book.ingest([invocation(0), invocation(1)], "us-east-1", NOW)
    assert [g["name"] for g in book.groups("us-east-1")] == [GROUP]
    (stream,) = book.streams("us-east-1", GROUP)
    assert stream["first_event_ms"] == NOW and stream["last_event_ms"] == NOW + 1000
    events = book.read_stream("us-east-1", GROUP, "s1", start_ms=None, end_ms=None, after=0, before=None,
                              limit=100, max_bytes=1 << 20)
    assert [e.message for e in events] == ["START 0\n", "line 0\n", "END 0\n", "START 1\n", "line 1\n", "END 1\n"]
    reloaded = LogBook(LogTables(store))
    reloaded.load()
    assert reloaded.stream("us-east-1", GROUP, "s1")["stored_bytes"] == stream["stored_bytes"]


def test_read_stream_pages_forward_and_backward(book: LogBook) -> None:
    book.ingest([invocation(n) for n in range(5)], "us-east-1", NOW)
    read = book.read_stream
    first = read("us-east-1", GROUP, "s1", start_ms=None, end_ms=None, after=0, before=None, limit=4, max_bytes=1 << 20)
    second = read("us-east-1", GROUP, "s1", start_ms=None, end_ms=None, after=first[-1].id, before=None, limit=100,
                  max_bytes=1 << 20)
    assert len(first) == 4 and len(second) == 11
    assert [e.id for e in first + second] == sorted({e.id for e in first + second})
    last = read("us-east-1", GROUP, "s1", start_ms=None, end_ms=None, after=None, before=1 << 62, limit=4,
                max_bytes=1 << 20)
    assert [e.message for e in last] == ["END 3\n", "START 4\n", "line 4\n", "END 4\n"]
    earlier = read("us-east-1", GROUP, "s1", start_ms=None, end_ms=None, after=None, before=last[0].id, limit=2,
                   max_bytes=1 << 20)
    assert [e.message for e in earlier] == ["START 3\n", "line 3\n"]


def test_filter_events_resumes_from_its_cursor(book: LogBook) -> None:
    for n in range(6):    # one flush each: chunks in time order
        book.ingest([invocation(n, stream=f"s{n % 2}")], "us-east-1", NOW)
    match = compile_pattern("line")
    found, cursor = book.filter_events("us-east-1", GROUP, streams=None, start_ms=None, end_ms=None, after=None,
                                       match=match, limit=4, max_bytes=1 << 20)
    assert [e.message for e in found] == [f"line {n}\n" for n in range(4)]
    rest, done = book.filter_events("us-east-1", GROUP, streams=None, start_ms=None, end_ms=None, after=cursor,
                                    match=match, limit=4, max_bytes=1 << 20)
    assert [e.message for e in rest] == ["line 4\n", "line 5\n"] and done is None
    only, _ = book.filter_events("us-east-1", GROUP, streams=["s1"], start_ms=NOW + 2000, end_ms=None, after=None,
                                 match=compile_pattern(""), limit=100, max_bytes=1 << 20)
    assert {e.stream for e in only} == {"s1"} and {e.timestamp for e in only} == {NOW + 3000, NOW + 5000}


def test_one_flush_is_one_chunk_per_stream_with_line_times(book: LogBook) -> None:
    book.ingest([invocation(n, stream=f"s{n % 2}") for n in range(4)], "us-east-1", NOW)
    found, _ = book.filter_events("us-east-1", GROUP, streams=None, start_ms=NOW + 1000, end_ms=NOW + 2000,
                                  after=None, match=compile_pattern("line"), limit=100, max_bytes=1 << 20)
    assert [(e.stream, e.message, e.timestamp) for e in found] == [("s0", "line 2\n", NOW + 2000),
                                                                   ("s1", "line 1\n", NOW + 1000)]
    assert len({e.id >> 20 for e in found}) == 2


def test_groups_and_streams_lifecycle(book: LogBook) -> None:
    book.create_group("us-east-1", "/app", NOW, tags={"team": "a"})
    with pytest.raises(ResourceAlreadyExistsException):
        book.create_group("us-east-1", "/app", NOW)
    book.create_stream("us-east-1", "/app", "one", NOW)
    with pytest.raises(ResourceAlreadyExistsException):
        book.create_stream("us-east-1", "/app", "one", NOW)
    book.put_events("us-east-1", "/app", "one", [(NOW, "multi\nline message")], NOW)
    (event,) = book.read_stream("us-east-1", "/app", "one", start_ms=None, end_ms=None, after=0, before=None,
                                limit=10, max_bytes=1 << 20)
    assert event.message == "multi\nline message"
    assert book.groups("eu-west-1") == []
    book.delete_stream("us-east-1", "/app", "one")
    with pytest.raises(LogsResourceNotFound, match="log stream does not exist"):
        book.delete_stream("us-east-1", "/app", "one")
    book.delete_group("us-east-1", "/app")
    with pytest.raises(LogsResourceNotFound, match="log group does not exist"):
        book.group("us-east-1", "/app")


def test_retention_is_validated_and_enforced(book: LogBook) -> None:
    book.ingest([invocation(0, at=(NOW - 3 * DAY_MS) / 1000)], "us-east-1", NOW - 3 * DAY_MS)
    book.ingest([invocation(1)], "us-east-1", NOW)
    with pytest.raises(InvalidParameterException, match="Member must satisfy enum value set"):
        book.put_retention("us-east-1", GROUP, 2)
    book.put_retention("us-east-1", GROUP, 1)
    assert book.sweep(NOW) == 1
    left = book.read_stream("us-east-1", GROUP, "s1", start_ms=None, end_ms=None, after=0, before=None, limit=10,
                            max_bytes=1 << 20)
    assert [e.message for e in left] == ["START 1\n", "line 1\n", "END 1\n"]
