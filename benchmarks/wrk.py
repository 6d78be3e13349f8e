"""wrk (Debian's package): installing it when missing, a POST script, running it, reading its output.

wrk is a C load generator; on a 2-core box it still takes CPU from the server, as any client on the
same machine does (performance.md B.3 measured the floors the same way).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ensure_wrk() -> tuple[str | None, str]:
    """The wrk binary, installing it with apt-get when missing and root; else (None, why)."""
    found = shutil.which("wrk")
    if found:
        return found, "found"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "wrk is missing and apt-get is unavailable (not root)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (["apt-get", "install", "-y", "-q", "wrk"], ["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "wrk"]):
        try:
            subprocess.run(step, env=env, capture_output=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, f"apt-get failed: {error}"
        found = shutil.which("wrk")
        if found:
            return found, "installed with apt-get"
    return None, "apt-get install -y wrk did not install wrk"


def post_script(body: bytes) -> Path:
    """A Lua script making every wrk request a POST with ``body``."""
    lua = (
        'wrk.method = "POST"\n'
        f"wrk.body = {_lua_string(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    fd, name = tempfile.mkstemp(prefix="lamina-bench-", suffix=".lua")
    with os.fdopen(fd, "w") as script:
        script.write(lua)
    return Path(name)


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run(binary: str, url: str, connections: int, seconds: float, script: Path) -> dict[str, Any]:
    """``wrk -t1 -cN -dS --latency -s script url``; parsed figures, and wrk's own CPU seconds
    (``cpu_s``, from its rusage: the load generator's share of the machine)."""
    argv = [binary, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script), url]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stderr or stdout}")
    return parse(stdout) | {"command": " ".join(argv), "cpu_s": usage.ru_utime + usage.ru_stime}


def parse(output: str) -> dict[str, Any]:
    result: dict[str, Any] = {"non_2xx": 0, "socket_errors": 0}
    match = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    if not match:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    result["req_per_s"] = float(match[1])
    match = re.search(r"(\d+) requests in ([0-9.]+)(\w+)", output)
    if match:
        result["requests"] = int(match[1])
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+([0-9.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        if match:
            result[f"p{pct}_ms"] = float(match[1]) * _UNITS[match[2]]
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match:
        result["non_2xx"] = int(match[1])
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if match:
        result["socket_errors"] = sum(int(x) for x in match.groups())
    return result


#: ``load(port, path, connections, seconds) -> wrk-style results``
Load = Callable[[int, str, int, float], dict[str, Any]]


@contextlib.contextmanager
def loader(payload: bytes) -> Iterator[tuple[Load, str]]:
    """A closed-loop POST load of ``payload``: wrk when it can be had, else the Python raw-socket
    client (which under-reports, and says so); yields the load function and its description."""
    from benchmarks.rawhttp import build_request, closed_loop_load

    binary, how = ensure_wrk()
    if binary is not None:
        script = post_script(payload)

        def by_wrk(port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
            return run(binary, f"http://127.0.0.1:{port}{path}", connections, seconds, script)

        try:
            yield by_wrk, f"wrk ({how})"
        finally:
            script.unlink(missing_ok=True)
        return

    def by_python(port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
        return closed_loop_load(port, build_request("POST", path, payload), connections, seconds)

    print(f"  NOTE: {how}; falling back to the Python multi-connection raw-socket client (under-reports)")
    yield by_python, "python raw-socket client (wrk unavailable)"
