"""Shared fixtures: a real ``lamina serve`` on a free port, and boto3 clients pointed at it."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running Lamina server process."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str = "lambda", region: str = "us-east-1", **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        config.setdefault("retries", {"max_attempts": 1})
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region,
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(read_timeout=120, **config))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "lamina", "serve", "--port", str(port), "--data-dir", str(data_dir), *extra],
        stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    server = Server(port, data_dir, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"lamina serve exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.endpoint}/_lamina/health", timeout=1) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"lamina serve did not become healthy:\n{server.log()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by the tests that don't restart or kill it."""
    running = start_server(tmp_path_factory.mktemp("lamina") / "data")
    yield running
    running.stop()


@pytest.fixture
def lambda_client(server: Server) -> Any:
    return server.client()


def make_zip(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    """A zip of ``files`` (name -> content); ``modes`` sets unix permissions per name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


_counter = 0


def unique_name(prefix: str = "fn") -> str:
    global _counter
    _counter += 1
    return f"{prefix}-{os.getpid()}-{_counter}"


def create_python_function(client: Any, code: str, *, name: str | None = None, handler: str = "app.handler",
                           files: dict[str, str | bytes] | None = None, **config: Any) -> str:
    """Create a python3.12 function whose ``app.py`` is ``code``; returns its name."""
    name = name or unique_name()
    client.create_function(FunctionName=name, Runtime=config.pop("Runtime", "python3.12"), Role=ROLE,
                           Handler=handler, Code={"ZipFile": make_zip({"app.py": code, **(files or {})})},
                           **config)
    return name


# -- helpers for the integration and compat suites ------------------------------------------------


def invoke_json(client: Any, name: str, event: Any = None, **params: Any) -> tuple[dict[str, Any], Any]:
    """Invoke ``name`` with ``event`` as JSON; returns (the boto3 answer, the decoded payload)."""
    import json

    answer = client.invoke(FunctionName=name, Payload=json.dumps({} if event is None else event), **params)
    body = answer["Payload"].read()
    return answer, json.loads(body) if body else None


def log_tail(answer: dict[str, Any]) -> str:
    """The log tail of an invoke made with ``LogType="Tail"``, decoded."""
    import base64

    return base64.b64decode(answer["LogResult"]).decode("utf-8", "replace")


def parallel_invokes(client: Any, name: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Invoke ``name`` once per event, all at once; the payloads, each checked for no function error."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(events)) as pool:
        answers = list(pool.map(lambda event: invoke_json(client, name, event), events))
    for answer, payload in answers:
        assert "FunctionError" not in answer, payload
    return [payload for _, payload in answers]


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def http_request(server: Server, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> RawAnswer:
    """An unsigned HTTP request to the server (the default region), whatever its status."""
    import urllib.error

    request = urllib.request.Request(server.endpoint + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return RawAnswer(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return RawAnswer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by its new parent) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)


def processes_with_env(needle: str) -> list[int]:
    """Pids of live processes whose environment contains ``needle`` (e.g. ``NAME=value``)."""
    found = []
    marker = needle.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


# Functions run isolated (their own /tmp, PID namespace, another uid), so they report to the test
# over HTTP and mark their process with a name the test can find from outside.

#: Put at the top of a function's code: ``beacon(url, **data)`` POSTs ``data`` as JSON to the test.
BEACON_CODE = '''
import json as _beacon_json
import urllib.request as _beacon_request


def beacon(url, **data):
    request = _beacon_request.Request(url, data=_beacon_json.dumps(data).encode(), method="POST",
                                      headers={"Content-Type": "application/json"})
    _beacon_request.urlopen(request, timeout=10).read()
'''

#: Put at the top of a function's code: ``ENVIRONMENT`` names this execution environment, and its
#: process carries that name (``/proc/<pid>/comm``), so :func:`pids_named` finds it from outside.
TAG_CODE = '''
import ctypes as _tag_ctypes
import uuid as _tag_uuid

ENVIRONMENT = "lam" + _tag_uuid.uuid4().hex[:12]
_tag_ctypes.CDLL(None).prctl(15, ENVIRONMENT.encode(), 0, 0, 0)  # PR_SET_NAME
'''


class Beacon:
    """An HTTP endpoint in the test process that collects the JSON objects functions POST to it."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.messages: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        beacon = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with beacon._changed:
                    beacon.messages.append(json.loads(body))
                    beacon._changed.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def wait(self, predicate: Any = None, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` messages matching ``predicate``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in self.messages if predicate is None or predicate(m)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} beacon message(s), got {found} of {self.messages}")
                self._changed.wait(left)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def beacon() -> Iterator[Beacon]:
    running = Beacon()
    yield running
    running.close()


def children_of(pid: int) -> list[int]:
    """Pids of the live children of ``pid`` (from each process's ``/proc/<pid>/stat``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def doctor_report(env: dict[str, str] | None = None) -> dict[str, Any]:
    """``lamina doctor --output json`` (with ``env`` over this process's environment), decoded."""
    out = subprocess.run([sys.executable, "-m", "lamina", "doctor", "--output", "json", "--port", "1"],
                         capture_output=True, text=True, check=True, timeout=60,
                         env={**os.environ, **(env or {})}).stdout
    report: dict[str, Any] = json.loads(out)
    return report


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid``, each with its start time (to tell a reused pid), from one
    pass over /proc."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        started[int(entry.name)] = fields[19]
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = started[child]
            todo.append(child)
    return found


def pids_named(name: str) -> list[int]:
    """Pids of live processes whose name (``/proc/<pid>/comm``) is ``name`` (see TAG_CODE)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == name[:15] and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def pid_named(name: str, timeout: float = 5.0) -> int:
    """The one live process named ``name``.

    Waits, because a child the process just started keeps its parent's name until its exec completes.
    """
    found: list[int] = []

    def one() -> bool:
        found[:] = pids_named(name)
        return len(found) == 1

    assert wait_for(one, timeout=timeout), f"processes named {name}: {found}"
    return found[0]
