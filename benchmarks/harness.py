"""What every benchmark shares: a ``lamina serve`` it owns, function zips, statistics, the machine.

A benchmark server listens on 127.0.0.1 only, on a free port, with a fresh temporary data
directory, and is stopped with SIGTERM (then SIGKILL of its own process group after a grace
period). Processes are only ever signalled by the PID this module started.
"""

from __future__ import annotations

import base64
import io
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.rawhttp import KeepAliveClient

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable
INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"

HELLO = """\
def handler(event, context):
    return {"statusCode": 200, "body": "hello world"}
"""
NOOP = """\
def handler(event, context):
    return event
"""


# -- statistics ------------------------------------------------------------------------------

def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile, as in performance.md's scripts (so numbers are comparable)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rep_stats(values: Sequence[float]) -> dict[str, float]:
    return {"n": len(values), "p50": pct(values, 50), "p99": pct(values, 99), "min": min(values),
            "max": max(values), "mean": statistics.fmean(values)}


def median_of(reps: Sequence[dict[str, float]], key: str) -> float:
    return statistics.median(rep[key] for rep in reps)


def verdict(value: float, target: float, higher_is_better: bool = False) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "MET" if ok else "MISSED"


# -- function code ---------------------------------------------------------------------------

def zip_of(source: str, tag: str = "") -> bytes:
    """A one-file zip with ``lambda_function.py``; ``tag`` makes each zip's bytes (and code) unique."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lambda_function.py", source + (f"# {tag}\n" if tag else ""))
    return buf.getvalue()


def report_fields(log_result_b64: str) -> dict[str, float]:
    """Durations from the REPORT line of an ``X-Amz-Log-Result`` header, in milliseconds."""
    text = base64.b64decode(log_result_b64).decode("utf-8", "replace")
    fields: dict[str, float] = {}
    for name, key in (("Duration", "duration_ms"), ("Init Duration", "init_ms")):
        match = re.search(rf"\t{name}: ([0-9.]+) ms", "\t" + text.split("REPORT", 1)[-1])
        if match:
            fields[key] = float(match[1])
    return fields


# -- the machine -----------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    with suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": PYTHON,
        "loadavg": os.getloadavg(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "commit": _git_head(),
        "uncommitted": _git_dirty(),
        "compiled": _compiled(),
    }


def _server_environ() -> dict[str, str]:
    """This process's environment without its LAMINA_ and AWS_ variables: what every server starts from."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("LAMINA_", "AWS_"))}


def _compiled() -> str:
    """Whether the servers run the invoke path compiled (lamina.native), as a server sees it."""
    probe = "import lamina.native as n; print(n.STATE[0] + ': ' + n.STATE[1])"
    try:
        return subprocess.run([PYTHON, "-c", probe], cwd=str(ROOT), env=_server_environ(), capture_output=True,
                              text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown ({error})"


def describe_interpreters(paths: Sequence[str]) -> str:
    """``/path/python3.12 (3.12.1)`` for each interpreter a zygote runs."""
    described = []
    for path in paths:
        try:
            version = subprocess.run([path, "-c", "import platform; print(platform.python_version())"],
                                     capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            version = "?"
        described.append(f"{path} ({version})")
    return ", ".join(described) or "none"


def machine_line(info: dict[str, Any]) -> str:
    load = " ".join(f"{x:.2f}" for x in info["loadavg"])
    return (f"machine: {info['nproc']} CPU x {info['cpu']}, {info['mem_gib']} GiB, kernel {info['kernel']}, "
            f"server Python {info['python']}; load average {load}; {info['date_utc']} UTC; commit {info['commit']}"
            + (f" ({len(info['uncommitted'])} src files with uncommitted changes)" if info.get("uncommitted") else "")
            + f"; compiled invoke path {info.get('compiled', 'unknown')}")


def _git_dirty() -> list[str]:
    """Tracked files with uncommitted changes (read-only ``git status``): what was measured beyond
    the commit."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line[3:] for line in out.splitlines() if line[3:].startswith("src/")]


def _git_head() -> str:
    """The commit measured, read-only (``+dirty`` when the work tree has changes)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# -- processes -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parents() -> dict[int, int]:
    """pid -> parent pid for every process, from one pass over ``/proc/*/stat``."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields resume after the last ')'.
        parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return parents


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``, from ``/proc/PID/task/*/children``: a few small reads, where one
    pass over every process's ``stat`` (the fallback, for kernels without CONFIG_PROC_CHILDREN) read
    thousands during a burst and took half a core from the platform it measured. Like any listing of
    processes, it can miss one being created or reaped at that instant."""
    if not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
        if not os.path.exists(f"/proc/{pid}"):
            return []
        return [child for child, parent in _parents().items() if parent == pid]
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []   # it has just exited
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children") as children:
                found.extend(int(child) for child in children.read().split())
        except OSError:
            continue   # that thread has just exited
    return found


def descendants(pids: Sequence[int]) -> dict[int, list[int]]:
    """For each of ``pids``: itself and every process below it."""
    below: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        below.setdefault(parent, []).append(child)
    trees = {}
    for root in pids:
        tree, todo = [], [root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(below.get(pid, []))
        trees[root] = tree
    return trees


def pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def is_namespace_init(pid: int) -> bool:
    """Whether ``pid`` is PID 1 of a PID namespace below ours (``NSpid`` in its status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            ids = line.split()[1:]
            return len(ids) > 1 and ids[-1] == "1"
    return False


def cpu_us(pid: int) -> tuple[float, float]:
    """(time on CPU, time runnable but waiting for a CPU) of ``pid``'s main thread, in µs, from
    ``/proc/PID/schedstat``; (0, 0) once it is gone."""
    try:
        run_ns, wait_ns, _slices = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(run_ns) / 1e3, int(wait_ns) / 1e3


def minor_faults(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[7])
    except (OSError, ValueError, IndexError):
        return 0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def wait_until(probe: Any, timeout_s: float, what: str, interval_s: float = 0.005) -> float:
    """Poll ``probe()`` until truthy; returns the seconds it took."""
    started = time.perf_counter()
    while True:
        if probe():
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class LaminaServer:
    """One ``lamina serve`` process owned by a benchmark."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    startup_s: float = 0.0
    _log: Any = None
    #: pid -> whether it is a namespace's init, each zygote child looked at once (a burst's count
    #: every 50 ms would otherwise read a thousand status files each time).
    _init_of: dict[int, bool] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        environ = _server_environ() | self.env
        self._log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [PYTHON, "-m", "lamina", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data_dir)],
            cwd=str(ROOT), env=environ, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            start_new_session=True)

        def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"lamina serve exited with {self.process.returncode}; see "
                                   f"{self.data_dir / 'server.log'}:\n{self.log_tail()}")
            if not _port_open(self.port):
                return False
            with KeepAliveClient(self.port) as client:
                return client.request("GET", "/_lamina/health").status == 200

        wait_until(healthy, timeout_s, "lamina serve to answer /_lamina/health", interval_s=0.01)
        self.startup_s = time.perf_counter() - started

    def zygotes(self) -> list[int]:
        assert self.process is not None
        return [pid for pid in children_of(self.process.pid) if "zygote.py" in cmdline(pid)]

    def runtime_interpreters(self) -> list[str]:
        """The interpreters the zygotes run (the function runtimes' Python, not the server's)."""
        return sorted({cmdline(pid).split(" ", 1)[0] for pid in self.zygotes()})

    def environment_pids(self) -> list[int]:
        """Live execution environments, one pid each: its runtime. The zygotes' children are the
        runtimes and, with PID namespaces, each namespace's init beside its runtime."""
        return [pid for pid in self._zygote_children() if not self._is_init(pid)]

    def environment_trees(self, exclude: Collection[int] = ()) -> dict[int, list[int]]:
        """For each live environment (its runtime's pid, but those in ``exclude``): every process of
        it, the runtime, the init of its PID namespace and anything either has below it."""
        children = self._zygote_children()
        init_in = {pid_namespace(pid): pid for pid in children if self._is_init(pid)}
        runtimes = [pid for pid in children if not self._is_init(pid) and pid not in exclude]
        namespace_init = {runtime: init_in.get(pid_namespace(runtime)) for runtime in runtimes}
        below = descendants([*runtimes, *(init for init in namespace_init.values() if init is not None)])
        return {runtime: below[runtime] + (below[init] if init is not None else [])
                for runtime, init in namespace_init.items()}

    def environment_processes(self) -> list[int]:
        """Every process of every live environment (runtime, namespace init, anything they started)."""
        return [pid for tree in self.environment_trees().values() for pid in tree]

    def _zygote_children(self) -> list[int]:
        return [pid for zygote in self.zygotes() for pid in children_of(zygote)]

    def _is_init(self, pid: int) -> bool:
        if pid not in self._init_of:
            self._init_of[pid] = is_namespace_init(pid)
        return self._init_of[pid]

    def environments(self) -> int:
        return len(self.environment_pids())

    def stop(self, grace_s: float = 20.0) -> dict[str, Any]:
        """SIGTERM, wait; SIGKILL the process group we created if it does not exit in time.

        Returns how long the shutdown took and whether any zygote outlived the server.
        """
        if self.process is None:
            return {}
        zygotes = self.zygotes() if self.process.poll() is None else []
        started = time.perf_counter()
        forced = False
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                forced = True
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        took = time.perf_counter() - started
        leftover = [pid for pid in zygotes if Path(f"/proc/{pid}").exists()]
        if self._log is not None:
            self._log.close()
        self.process = None
        return {"shutdown_s": round(took, 3), "forced": forced, "leftover_zygotes": leftover}

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.data_dir / "server.log").read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def lambda_client(self) -> Any:
        """A boto3 Lambda client for setup only (never on a measured path)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "lambda", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=60))


@contextmanager
def lamina_server(data_dir: Path | None = None, env: dict[str, str] | None = None) -> Iterator[LaminaServer]:
    """A started server in a fresh temporary data directory (or ``data_dir``), stopped on exit."""
    owned = data_dir is None
    path = Path(tempfile.mkdtemp(prefix="lamina-bench-")) if data_dir is None else data_dir
    server = LaminaServer(path, env=dict(env or {}))
    try:
        server.start()
        yield server
    finally:
        outcome = server.stop()
        if outcome.get("leftover_zygotes"):
            print(f"  WARNING: zygote(s) {outcome['leftover_zygotes']} outlived the server")
        if owned:
            shutil.rmtree(path, ignore_errors=True)


def create_function(client: Any, name: str, source: str = HELLO, tag: str = "",
                    memory_mb: int = 128, env: dict[str, str] | None = None) -> None:
    """Create a python3.12 function and wait (polling, not boto3's 1 s waiter) until it is Active."""
    kwargs: dict[str, Any] = {}
    if env:
        kwargs["Environment"] = {"Variables": env}
    client.create_function(
        FunctionName=name, Runtime="python3.12", Role="arn:aws:iam::000000000000:role/bench",
        Handler="lambda_function.handler", Code={"ZipFile": zip_of(source, tag or name)},
        MemorySize=memory_mb, Timeout=30, **kwargs)
    wait_until(lambda: client.get_function_configuration(FunctionName=name)["State"] == "Active",
               30, f"{name} to become Active", interval_s=0.01)
