"""``lamina local invoke`` and ``lamina local start-api`` as subprocesses, with no server running.

Each command starts its own ephemeral platform; every test runs it with ``TMPDIR`` pointing at a
folder of its own, so "nothing left behind" is checked as that folder being empty afterwards, and
the command's processes (zygotes, execution environments) are found through ``/proc`` while it
runs and checked gone after it stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import descendants, free_port, process_alive, wait_for

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      MemorySize: 256
  Fail:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.fail
      Runtime: python3.12
"""

CODE = """
def handler(event, context):
    print("echoing", sorted(event))
    return {"echo": event, "function": context.function_name}

def fail(event, context):
    raise ValueError("asked to fail")
"""

API_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Web:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Timeout: 60
      Environment:
        Variables:
          GATE: {gate}
      Events:
        Hello:
          Type: HttpApi
          Properties:
            Path: /hello/{{name}}
            Method: get
        Slow:
          Type: HttpApi
          Properties:
            Path: /slow
            Method: get
"""

ADDED_ROUTE = """\
        Added:
          Type: HttpApi
          Properties:
            Path: /added
            Method: post
"""

#: ``/slow`` blocks on the test's gate until the test opens it, so it is in flight for as long as
#: the test wants; every answer says which code answered it.
WEB = """
import os, urllib.request
VERSION = "{version}"

def handler(event, context):
    if event["rawPath"] == "/slow":
        urllib.request.urlopen(os.environ["GATE"], timeout=60).read()
    name = (event.get("pathParameters") or {{}}).get("name", "")
    return {{"statusCode": 200, "body": f"{{VERSION}} {{event['routeKey']}} {{name}}".strip()}}
"""


def lamina(*args: str, tmp: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd, env={**os.environ, "TMPDIR": str(tmp)})


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """The TMPDIR the command under test gets: must be empty again when it ends."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    (folder / "src").mkdir(parents=True)
    (folder / "template.yaml").write_text(TEMPLATE)
    (folder / "src" / "app.py").write_text(CODE)
    (tmp_path / "event.json").write_text(json.dumps({"order": 7}))
    return folder


# -- local invoke -----------------------------------------------------------------------------------

def test_local_invoke_prints_the_result_and_the_report(project: Path, scratch: Path) -> None:
    done = lamina("local", "invoke", "Echo", "--template", str(project), "-e", str(project.parent / "event.json"),
                  tmp=scratch)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"echo": {"order": 7}, "function": "demo-Echo"}
    assert "echoing ['order']" in done.stderr and "REPORT RequestId: " in done.stderr
    assert "Billed Duration: " in done.stderr and "Memory Size: 256 MB" in done.stderr
    assert "status 200, version $LATEST" in done.stderr
    assert list(scratch.iterdir()) == []


def test_local_invoke_output_json_and_a_function_error(project: Path, scratch: Path) -> None:
    # By function name, from the template's folder (the default --template is ".").
    done = lamina("local", "invoke", "demo-Fail", "--output", "json", "--payload", '{"n": 1}', tmp=scratch,
                  cwd=project)
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"statusCode", "executedVersion", "functionError", "payload", "log", "report",
                           "requestId"}
    assert result["statusCode"] == 200 and result["functionError"] == "Unhandled"
    assert result["payload"]["errorType"] == "ValueError" and result["payload"]["errorMessage"] == "asked to fail"
    assert "REPORT RequestId: " + result["requestId"] in result["log"]
    assert result["report"]["memorySizeMB"] == 128 and result["report"]["billedDurationMs"] >= 1
    assert list(scratch.iterdir()) == []


def test_local_invoke_refusals_exit_2(project: Path, scratch: Path) -> None:
    unknown = lamina("local", "invoke", "Nope", "--template", str(project), tmp=scratch)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert "no function Nope in the template; its functions: Echo (demo-Echo), Fail (demo-Fail)" in unknown.stderr
    ambiguous = lamina("local", "invoke", "--template", str(project), tmp=scratch)
    assert ambiguous.returncode == 2 and "the template has 2 functions; name one" in ambiguous.stderr
    not_json = lamina("local", "invoke", "Echo", "--template", str(project), "--payload", "{nope", tmp=scratch)
    assert not_json.returncode == 2 and "the payload is not JSON" in not_json.stderr
    assert list(scratch.iterdir()) == []


def test_local_invoke_of_a_bad_template_names_the_line(project: Path, scratch: Path) -> None:
    broken = TEMPLATE.replace("      Runtime: python3.12\n      MemorySize: 256\n",
                              "      Runtime: python3.12\n      Events:\n        Tick:\n          Type: Schedule\n"
                              "          Properties:\n            Schedule: rate(1 minute)\n", 1)
    (project / "template.yaml").write_text(broken)
    line = broken.splitlines().index("        Tick:") + 1
    started = time.monotonic()
    done = lamina("local", "invoke", "Echo", "--template", str(project), tmp=scratch)
    assert done.returncode == 2 and done.stdout == ""
    assert f"template.yaml:{line}: " in done.stderr and "Schedule" in done.stderr, done.stderr
    # Refused before any platform starts: no folder was even made.
    assert list(scratch.iterdir()) == []
    assert time.monotonic() - started < 30


# -- local start-api --------------------------------------------------------------------------------

class Gate:
    """An HTTP endpoint a function blocks on (GET) until the test opens it."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.opened = threading.Event()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gate.arrived.set()
                gate.opened.wait(60)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/wait"

    def close(self) -> None:
        self.opened.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def gate() -> Iterator[Gate]:
    running = Gate()
    yield running
    running.close()


class StartApi:
    """``lamina local start-api`` running as a subprocess in its own session; stdout read line by line."""

    def __init__(self, *args: str, tmp: Path, cwd: Path | None = None) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lamina", "local", "start-api", "--port", str(self.port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, start_new_session=True,
            env={**os.environ, "TMPDIR": str(tmp)})
        self.lines: list[str] = []
        self.errors: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.errors), daemon=True).start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines)]

    def wait_listening(self) -> dict[str, Any]:
        assert wait_for(lambda: self.lines or self.process.poll() is not None, timeout=90), "never listened"
        assert self.process.poll() is None, "\n".join(self.errors)
        return self.events()[0]

    def get(self, path: str, method: str = "GET") -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                         data=b"{}" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()

    def descendants(self) -> set[tuple[int, str]]:
        """(pid, start time) of every live process below the command."""
        return set(descendants(self.process.pid).items())

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def still_running(processes: set[tuple[int, str]]) -> list[int]:
    """Those of ``processes`` that still run (the same pid with the same start time, not a zombie)."""
    alive = []
    for pid, start in processes:
        try:
            same = (Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]) == start
        except OSError:
            continue
        if same and process_alive(pid):
            alive.append(pid)
    return alive


def in_session(sid: int) -> list[int]:
    """Live processes whose session is ``sid`` (what start_new_session gave the command)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[3]) == sid and process_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def test_start_api_watch_redeploys_code_and_template_and_keeps_in_flight_requests(
        tmp_path: Path, scratch: Path, gate: Gate) -> None:
    project = tmp_path / "site"
    (project / "src").mkdir(parents=True)
    (project / "template.yaml").write_text(API_TEMPLATE.format(gate=gate.url))
    (project / "src" / "app.py").write_text(WEB.format(version="v1"))
    api = StartApi("--template", str(project), "--watch", "--output", "json", tmp=scratch)
    try:
        listening = api.wait_listening()
        assert listening["event"] == "listening" and listening["url"] == f"http://127.0.0.1:{api.port}"
        assert listening["stackName"] == "site"
        (mounted,) = listening["apis"]
        assert mounted["logicalId"] == "ServerlessHttpApi" and mounted["stage"] == "$default"
        assert [r["routeKey"] for r in mounted["routes"]] == ["GET /hello/{name}", "GET /slow"]
        assert {r["function"] for r in mounted["routes"]} == {"site-Web"}
        assert len(listening["watching"]) == 2
        assert api.get("/hello/ada") == (200, "v1 GET /hello/{name} ada")
        assert api.get("/nowhere")[0] == 404

        # A request that is running when the code changes...
        slow: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: slow.update(answer=api.get("/slow")))
        worker.start()
        assert gate.arrived.wait(30), "the slow request never reached the function"
        processes = api.descendants()

        # ...does not stop the next request from reaching the new code,
        (project / "src" / "app.py").write_text(WEB.format(version="v2"))
        assert api.get("/hello/bob") == (200, "v2 GET /hello/{name} bob")
        redeployed = next(e for e in api.events() if e["event"] == "redeployed")
        assert redeployed["files"] == [str(project / "src" / "app.py")] and redeployed["error"] is None
        assert {"logicalId": "Web", "type": "AWS::Lambda::Function", "action": "update"} in redeployed["changes"]
        # and finishes on the code it started with.
        assert "answer" not in slow
        gate.opened.set()
        worker.join(60)
        assert slow["answer"] == (200, "v1 GET /slow")

        # A template edit adding a route is picked up too.
        assert api.get("/added", "POST")[0] == 404
        (project / "template.yaml").write_text(API_TEMPLATE.format(gate=gate.url) + ADDED_ROUTE)
        assert api.get("/added", "POST") == (200, "v2 POST /added")
        assert sum(e["event"] == "redeployed" for e in api.events()) == 2

        processes |= api.descendants()
        assert len(processes) >= 2, processes  # at least a zygote and an environment
        assert api.stop(signal.SIGINT) == 0, "\n".join(api.errors)
    finally:
        api.kill()
    assert still_running(processes) == []
    assert in_session(api.process.pid) == []
    assert list(scratch.iterdir()) == []


def test_start_api_sigterm_stops_cleanly_and_reports_a_broken_redeploy(project: Path, scratch: Path) -> None:
    (project / "template.yaml").write_text(TEMPLATE + """\
      Events:
        Get:
          Type: Api
          Properties:
            Path: /echo
            Method: get
""")
    api = StartApi("--watch", tmp=scratch, cwd=project)
    try:
        assert wait_for(lambda: any("Press Ctrl+C" in line for line in api.lines) or api.process.poll() is not None,
                        timeout=90), api.errors
        banner = "\n".join(api.lines)
        # A REST API (Api event) is served from its stage (SAM's Prod) without the stage in the path.
        assert "API ServerlessRestApi (" in banner and ", stage Prod) at http://127.0.0.1:" in banner
        assert "GET /echo  -> demo-Fail" in banner
        status, body = api.get("/echo")
        assert status == 502 and json.loads(body) == {"message": "Internal Server Error"}

        # A template that no longer loads is reported, and the previous deployment keeps serving.
        (project / "template.yaml").write_text(TEMPLATE + "  Broken: [\n")
        assert api.get("/echo")[0] == 502
        # Printed before the request is served; the reader thread may take the line a moment later.
        assert wait_for(lambda: any(line.startswith("Changed: template.yaml. Redeploy failed")
                                    for line in api.lines), timeout=10), api.lines
        processes = api.descendants()
        assert processes
        assert api.stop(signal.SIGTERM) == 0, "\n".join(api.errors)
    finally:
        api.kill()
    assert still_running(processes) == []
    assert in_session(api.process.pid) == []
    assert list(scratch.iterdir()) == []
