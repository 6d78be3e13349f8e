"""G3: an accepted asynchronous event survives ``kill -9`` of the server and is delivered at least once.

Thousands of Event invokes with distinct ids go to a function that reports every id it sees to the
test (over HTTP, so the record of deliveries outlives the server). The server is killed with
SIGKILL while events are still queued and running, restarted on the same data directory, and the
rest are sent. Every id the server answered 202 for must arrive at least once; nothing arrives that
was never sent; and the durable queue ends empty.
"""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import threading
from pathlib import Path

from tests.conftest import BEACON_CODE, Beacon, Server, create_python_function, start_server, wait_for

EVENTS = 2000
SENDERS = 8
# The test's HTTP listener is the record of deliveries, not the system under test: a report that
# cannot get through (a full listen backlog) is tried again rather than failing the invocation.
REPORT = BEACON_CODE + '''
import os
import time

def handler(event, context):
    for attempt in range(50):
        try:
            return beacon(os.environ["BEACON"], id=event["id"])
        except OSError:
            time.sleep(0.05 * (attempt + 1))
    raise RuntimeError("the test's listener never answered")
'''


def send(server: Server, name: str, ids: list[str], accepted: set[str], lock: threading.Lock) -> None:
    """Event invokes over one keep-alive connection until the ids run out or the server dies."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for event_id in ids:
            try:
                connection.request("POST", f"/2015-03-31/functions/{name}/invocations",
                                   body=json.dumps({"id": event_id}),
                                   headers={"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"})
                answer = connection.getresponse()
                answer.read()
            except OSError:
                return  # the server was killed: this one and the rest were never accepted
            if answer.status == 202:
                with lock:
                    accepted.add(event_id)
    finally:
        connection.close()


def send_all(server: Server, name: str, ids: list[str], accepted: set[str]) -> list[threading.Thread]:
    lock = threading.Lock()
    threads = [threading.Thread(target=send, args=(server, name, ids[i::SENDERS], accepted, lock), daemon=True)
               for i in range(SENDERS)]
    for thread in threads:
        thread.start()
    return threads


def delivered(beacon: Beacon) -> list[str]:
    return [str(message["id"]) for message in list(beacon.messages)]


def test_accepted_events_survive_kill_9(tmp_path: Path, beacon: Beacon) -> None:
    data = tmp_path / "data"
    ids = [f"event-{i:05d}" for i in range(EVENTS)]
    accepted: set[str] = set()
    first = start_server(data)
    try:
        name = create_python_function(first.client(), REPORT, Environment={"Variables": {"BEACON": beacon.url}},
                                      MemorySize=128, Timeout=10)
        threads = send_all(first, name, ids, accepted)
        # Kill once the queue is busy: some events done, many accepted and waiting or running.
        assert wait_for(lambda: len(accepted) >= EVENTS // 2 and len(beacon.messages) >= 50, timeout=60)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
        for thread in threads:
            thread.join(timeout=15)
    finally:
        first.stop(signal.SIGKILL)
    seen_before = set(delivered(beacon))
    assert len(seen_before) < len(accepted), "the kill came too late to test anything"

    second = start_server(data)
    try:
        rest = [event_id for event_id in ids if event_id not in accepted]
        for thread in send_all(second, name, rest, accepted):
            thread.join(timeout=60)
        assert len(accepted) == EVENTS  # the restarted server took every one not taken before
        assert wait_for(lambda: accepted <= set(delivered(beacon)), timeout=60), \
            f"{len(accepted - set(delivered(beacon)))} accepted events never arrived"
    finally:
        assert second.stop(signal.SIGTERM) == 0
    deliveries = delivered(beacon)
    assert set(deliveries) <= set(ids)  # nothing arrives that was never sent
    assert len(deliveries) >= EVENTS  # at least once each; duplicates are the ones the kill cut short
    with sqlite3.connect(data / "lamina.db") as db:
        (left,) = db.execute("SELECT count(*) FROM async_events").fetchone()
    assert left == 0
