"""The AWS CLI against Lamina's logs and metrics: ``aws logs`` / ``aws cloudwatch`` (the CLI from PyPI)
and ``aws logs tail --follow`` (a CLI v2 command: Debian's ``awscli`` package, /usr/bin/aws)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, create_python_function, invoke_json

AWS_V1 = str(Path(sys.executable).with_name("aws"))
SHOUTER = """
def handler(event, context):
    print("shout", event["word"])
    return event["word"]
"""


def aws_v2() -> str | None:
    """An AWS CLI v2 binary (``logs tail`` exists only there), or None."""
    for candidate in ("/usr/bin/aws", "/usr/local/bin/aws", shutil.which("aws")):
        if candidate and os.path.exists(candidate):
            try:
                version = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            if version.startswith("aws-cli/2."):
                return candidate
    return None


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
                "AWS_PAGER": "", "PYTHONUNBUFFERED": "1"})
    return env


@pytest.fixture(scope="module")
def shouter(server: Server) -> str:
    name = create_python_function(server.client(), SHOUTER)
    invoke_json(server.client(), name, {"word": "hello"})
    return name


def run_json(server: Server, home: Path, *args: str) -> Any:
    done = subprocess.run([AWS_V1, *args, "--endpoint-url", server.endpoint, "--output", "json"],
                          env=environment(home), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_aws_logs_commands(server: Server, shouter: str, tmp_path: Path) -> None:
    group = f"/aws/lambda/{shouter}"
    groups = run_json(server, tmp_path, "logs", "describe-log-groups", "--log-group-name-prefix", group)
    assert [g["logGroupName"] for g in groups["logGroups"]] == [group]
    found = run_json(server, tmp_path, "logs", "filter-log-events", "--log-group-name", group,
                     "--filter-pattern", "shout")
    assert [e["message"] for e in found["events"]] == ["shout hello\n"]
    streams = run_json(server, tmp_path, "logs", "describe-log-streams", "--log-group-name", group,
                       "--order-by", "LastEventTime", "--descending")
    assert len(streams["logStreams"]) == 1
    metrics = run_json(server, tmp_path, "cloudwatch", "list-metrics", "--namespace", "AWS/Lambda",
                       "--dimensions", f"Name=FunctionName,Value={shouter}")
    assert "Invocations" in {m["MetricName"] for m in metrics["Metrics"]}


def test_aws_logs_tail_follow(server: Server, shouter: str, tmp_path: Path) -> None:
    binary = aws_v2()
    if binary is None:
        pytest.fail("aws logs tail needs the AWS CLI v2: apt-get install awscli (.ci/run installs it)")
    process = subprocess.Popen([binary, "logs", "tail", f"/aws/lambda/{shouter}", "--follow", "--since", "10m",
                                "--endpoint-url", server.endpoint, "--format", "short"],
                               env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    seen: list[str] = []

    def wait_for_line(text: str) -> None:
        deadline = time.monotonic() + 30
        while not any(text in line for line in seen):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, seen
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=0.5))

    try:
        wait_for_line("shout hello")
        invoke_json(server.client(), shouter, {"word": "again"})
        wait_for_line("shout again")       # aws logs tail polls every 5 s
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert sum("shout hello" in line for line in seen) == 1
    assert any(line.split(" ", 1)[1].startswith("START RequestId: ") for line in seen)
