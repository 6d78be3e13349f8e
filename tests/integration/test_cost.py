"""Metering against a live server: a usage record per invocation and the cost of a known workload,
worked out independently from the REPORT lines the invocations returned, to the last digit."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import Server, create_python_function, http_request

SLEEPY = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise RuntimeError("failed on purpose")
    return "done"
"""
BILLED = re.compile(r"\tBilled Duration: (\d+) ms\tMemory Size: (\d+) MB\t")
EVENTS: tuple[dict[str, Any], ...] = ({"sleep": 0.05}, {"sleep": 0.01}, {}, {"fail": True})


def run_workload(server: Server, name: str) -> list[tuple[int, int]]:
    """Invoke with each event; (billed ms, memory MB) from each REPORT line."""
    client = server.client()
    billed = []
    for event in EVENTS:
        answer = client.invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail")
        match = BILLED.search(base64.b64decode(answer["LogResult"]).decode())
        assert match is not None
        billed.append((int(match[1]), int(match[2])))
    return billed


@pytest.fixture(scope="module")
def workload(server: Server) -> dict[str, list[tuple[int, int]]]:
    client = server.client()
    x86 = create_python_function(client, SLEEPY, MemorySize=256)
    arm = create_python_function(client, SLEEPY, MemorySize=1024, Architectures=["arm64"])
    return {x86: run_workload(server, x86), arm: run_workload(server, arm)}


def expected_cost(billed: list[tuple[int, int]], gb_second: str) -> Decimal:
    mb_ms = sum(ms * mb for ms, mb in billed)
    return Decimal(len(billed)) * Decimal("0.20") / 1_000_000 + Decimal(mb_ms) / 1_024_000 * Decimal(gb_second)


def test_usage_records(server: Server, workload: dict[str, list[tuple[int, int]]]) -> None:
    for name, billed in workload.items():
        records = http_request(server, "GET", f"/_lamina/usage?function={name}").json()["records"]
        assert sorted((r["billed_ms"], r["memory_mb"]) for r in records) == sorted(billed)
        assert [r["outcome"] for r in reversed(records)] == ["success"] * 3 + ["error"]    # newest first
        assert sum(r["cold_start"] for r in records) == 1
        assert all(r["peak_memory_mb"] > 0 and r["billed_ms"] >= r["duration_ms"] for r in records)


def test_cost_of_a_known_workload(server: Server, workload: dict[str, list[tuple[int, int]]]) -> None:
    (x86, x86_billed), (arm, arm_billed) = workload.items()
    report = http_request(server, "GET", "/_lamina/cost?since=1d").json()
    rows = {row["function"]: row for row in report["rows"] if row["function"] in workload}
    assert Decimal(rows[x86]["cost"]) == expected_cost(x86_billed, "0.0000166667")
    assert Decimal(rows[arm]["cost"]) == expected_cost(arm_billed, "0.0000133334")
    assert rows[x86]["requests"] == rows[arm]["requests"] == 4 and rows[arm]["architecture"] == "arm64"
    assert rows[x86]["errors"] == 1 and rows[x86]["coldStarts"] == 1
    assert Decimal(rows[x86]["gbSeconds"]) == Decimal(sum(ms * mb for ms, mb in x86_billed)) / 1_024_000
    assert report["costAfterFreeTier"] == "0"
    assert report["freeTier"][0]["freeRequests"] == str(report["total"]["requests"])


def test_lamina_cost_command(server: Server, workload: dict[str, list[tuple[int, int]]]) -> None:
    x86 = next(iter(workload))
    command = [sys.executable, "-m", "lamina", "cost", "--function", x86, "--since", "1d",
               "--endpoint", server.endpoint]
    done = subprocess.run([*command, "--output", "json"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    assert [row["function"] for row in data["rows"]] == [x86]
    assert Decimal(data["total"]["cost"]) == expected_cost(workload[x86], "0.0000166667")
    table = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False,
                           env={**os.environ, "COLUMNS": "200"})
    assert table.returncode == 0 and x86[:10] in table.stdout and "After the free tier: $0" in table.stdout
    bad = http_request(server, "GET", "/_lamina/cost?since=soon")
    assert bad.status == 400


def test_cost_rows_are_per_version_and_day(server: Server) -> None:
    """The report has one row per function, version and UTC day, each with its own requests and cost."""
    client = server.client()
    name = create_python_function(client, SLEEPY, MemorySize=512)
    version = client.publish_version(FunctionName=name)["Version"]
    for qualifier, count in (("$LATEST", 2), (version, 3)):
        for _ in range(count):
            client.invoke(FunctionName=name, Qualifier=qualifier, Payload=b"{}")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    report = http_request(server, "GET", f"/_lamina/cost?since=1d&function={name}").json()
    rows = {row["version"]: row for row in report["rows"] if row["function"] == name}
    assert sorted(rows) == sorted(["$LATEST", version]), report["rows"]
    assert rows["$LATEST"]["requests"] == 2 and rows[version]["requests"] == 3
    # The day is the invocations' UTC day (a run across midnight may have the other day's too).
    assert {row["date"] for row in rows.values()} <= {today, time.strftime("%Y-%m-%d", time.gmtime(time.time() - 60))}
    usage = http_request(server, "GET", f"/_lamina/usage?function={name}").json()["records"]
    for qualifier, row in rows.items():
        billed = [(r["billed_ms"], r["memory_mb"]) for r in usage if r["version"] == qualifier]
        assert Decimal(row["cost"]) == expected_cost(billed, "0.0000166667"), (qualifier, row, billed)
