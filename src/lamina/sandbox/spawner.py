"""Starting environment processes: the platform side of :mod:`lamina.sandbox.zygote`.

One zygote per interpreter is started on first use and restarted if it dies. ``spawn`` sends one
fork request and awaits the child's pid; the zygote later reports the child's exit, which is routed
to the callback registered for that pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ZYGOTE = Path(__file__).with_name("zygote.py")
# Loads zygote.py as a module rather than running it as a script: a script is compiled on every
# start, a module's bytecode is cached (~5 ms of each zygote start).
_LAUNCH = ("import importlib.util as u, json, sys; s = u.spec_from_file_location('lamina_zygote', sys.argv[1]); "
           "m = u.module_from_spec(s); sys.modules['lamina_zygote'] = m; s.loader.exec_module(m); "
           "m.serve(int(sys.argv[2]), json.loads(sys.argv[3]))")
#: ``on_exit(waitpid_status, oom_killed, peak_memory_bytes)``
ExitCallback = Callable[[int, bool, int], None]


@dataclass(frozen=True, slots=True)
class ZygoteConfig:
    """What every zygote is told at start (see zygote.py)."""

    #: "auto": every isolation feature the machine allows; "off": none.
    isolation: str
    #: Folder holding every function's unpacked code, one subfolder per SHA-256.
    code_root: str
    #: Folders environments must not see (the data directory).
    hide: tuple[str, ...]
    #: Where private TMPDIRs go when there is no mount namespace.
    tmp_root: str
    #: The native init program for PID namespaces (:mod:`lamina.sandbox.init`); None: a Python one.
    init: str | None = None

    def to_json(self) -> str:
        return json.dumps({"isolation": self.isolation, "code_root": self.code_root,
                           "hide": list(self.hide), "tmp_root": self.tmp_root, "init": self.init})


@dataclass(frozen=True, slots=True)
class Spawned:
    pid: int
    #: The environment's memory cgroup folder, for peak-memory readings; None without cgroups.
    memory_dir: str | None


class ZygoteError(RuntimeError):
    """The zygote could not start an environment."""


class Zygote:
    """A running zygote process and the socket to it."""

    def __init__(self, python: str, config: ZygoteConfig) -> None:
        self.python = python
        self.config = config
        self._features: asyncio.Future[dict[str, Any]] | None = None
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._next_id = 0
        #: Spawn requests awaiting their pid, with the callback for their exit.
        self._pending: dict[int, tuple[asyncio.Future[Spawned], ExitCallback]] = {}
        self._exits: dict[int, ExitCallback] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_used = time.monotonic()
        self._outbox: deque[tuple[bytes, list[int], asyncio.Future[None]]] = deque()
        self._writing = False

    @property
    def environments(self) -> int:
        """Live environments this zygote started."""
        return len(self._exits)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process = subprocess.Popen(
            # -I: no script folder on sys.path (Lamina's modules stay invisible to user code), no PYTHON* variables.
            [self.python, "-I", "-c", _LAUNCH, str(ZYGOTE), str(theirs.fileno()), self.config.to_json()],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, close_fds=True,
            # A zygote shares nothing with the platform's environment variables: children get theirs
            # from each spawn request.
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
        theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._features = self._loop.create_future()
        self._loop.add_reader(ours.fileno(), self._on_readable)

    async def features(self) -> dict[str, Any]:
        """What isolation this zygote applies: ``{feature: {"state": ..., "reason": ...}}``."""
        if self._sock is None or not self.alive:
            self.close()
            self.start()
        assert self._features is not None
        return await asyncio.shield(self._features)

    async def spawn(self, request: dict[str, Any], fds: list[int], on_exit: ExitCallback) -> Spawned:
        """Fork an environment (``request`` as zygote.py documents, without ``id``); ``fds`` are the
        output pipe's write end and, for Lamina's bootstrap, the runtime's end of its channel."""
        if self._sock is None or not self.alive:
            self.close()
            self.start()
        assert self._sock is not None and self._loop is not None
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[Spawned] = self._loop.create_future()
        self._pending[request_id] = (future, on_exit)
        message = json.dumps({"id": request_id, **request}).encode()
        sent = self._send(message, fds)
        try:
            await sent
        except OSError as error:
            self._pending.pop(request_id, None)
            raise ZygoteError(f"zygote for {self.python} is unavailable: {error}") from error
        except asyncio.CancelledError:
            if sent.cancelled():  # still in the outbox, so never sent: no answer will come
                self._pending.pop(request_id, None)
            raise
        return await future

    def _send(self, message: bytes, fds: list[int]) -> asyncio.Future[None]:
        """Send one request; the future is done once it is sent. A burst of cold starts can outrun
        the zygote and a datagram socket's queue is short (``net.unix.max_dgram_qlen``), so requests
        wait in order in an outbox that is flushed whenever the socket becomes writable."""
        assert self._loop is not None
        sent: asyncio.Future[None] = self._loop.create_future()
        self._outbox.append((message, fds, sent))
        if len(self._outbox) == 1:
            self._flush_outbox()
        return sent

    def _flush_outbox(self) -> None:
        while self._outbox:
            message, fds, sent = self._outbox[0]
            if sent.done():  # the waiting request was cancelled
                self._outbox.popleft()
                continue
            try:
                assert self._sock is not None
                socket.send_fds(self._sock, [message], fds)
            except BlockingIOError:
                if not self._writing and self._sock is not None and self._loop is not None:
                    self._loop.add_writer(self._sock.fileno(), self._flush_outbox)
                    self._writing = True
                return
            except OSError as error:
                self._outbox.popleft()
                sent.set_exception(error)
                continue
            self._outbox.popleft()
            sent.set_result(None)
        if self._writing and self._sock is not None and self._loop is not None:
            self._loop.remove_writer(self._sock.fileno())
            self._writing = False

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            self._dispatch(json.loads(data))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "exit" in message:
            callback = self._exits.pop(message["exit"], None)
            if callback is not None:
                callback(message["status"], bool(message.get("oom")), int(message.get("peak", 0)))
            return
        if "features" in message:
            if self._features is not None and not self._features.done():
                self._features.set_result(message["features"])
            return
        pending = self._pending.pop(message["id"], None)
        if pending is None:
            return
        future, on_exit = pending
        if "pid" in message:
            if future.done():  # the caller gave up waiting: nobody will use or stop it
                kill_environment(message["pid"])
                return
            # Registered now, not when the caller resumes: a runtime that fails its init at once
            # can exit before then, and its exit message may be read in this same batch.
            self._exits[message["pid"]] = on_exit
            future.set_result(Spawned(message["pid"], message.get("memory")))
        elif not future.done():
            future.set_exception(ZygoteError(message.get("error", "spawn failed")))

    def _lost(self) -> None:
        """The zygote died: its children die with it (PR_SET_PDEATHSIG); tell everyone."""
        log.warning("zygote for %s exited", self.python)
        self._detach()
        if self._features is not None and not self._features.done():
            self._features.set_exception(ZygoteError(f"zygote for {self.python} exited during start"))
        for future, _on_exit in self._pending.values():
            if not future.done():
                future.set_exception(ZygoteError(f"zygote for {self.python} exited"))
        self._pending.clear()
        exits, self._exits = self._exits, {}
        for callback in exits.values():
            callback(9, False, 0)  # as if killed

    def _detach(self) -> None:
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            if self._writing:
                self._loop.remove_writer(self._sock.fileno())
                self._writing = False
            self._sock.close()
        self._sock = None
        while self._outbox:
            _message, _fds, sent = self._outbox.popleft()
            if not sent.done():
                sent.set_exception(ConnectionResetError(f"zygote for {self.python} exited"))

    def close(self) -> None:
        """Stop the zygote; it kills every environment it started before exiting."""
        self._detach()
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


class Spawner:
    """Zygotes by interpreter path, created on first use."""

    def __init__(self, config: ZygoteConfig) -> None:
        self.config = config
        self._zygotes: dict[str, Zygote] = {}

    def zygote(self, python: str) -> Zygote:
        zygote = self._zygotes.get(python)
        if zygote is None:
            zygote = self._zygotes[python] = Zygote(python, self.config)
        zygote.last_used = time.monotonic()
        return zygote

    def reap_idle(self, idle_s: float, keep: str) -> None:
        """Stop zygotes (other than ``keep``) with no environments, unused for ``idle_s`` seconds."""
        now = time.monotonic()
        for python, zygote in list(self._zygotes.items()):
            if python != keep and zygote.environments == 0 and now - zygote.last_used > idle_s:
                zygote.close()
                del self._zygotes[python]

    def close(self) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()


def kill_environment(pid: int) -> None:
    """SIGKILL an environment: its process group (whatever it started), and the process itself,
    which may not have made its group yet (``setsid`` is a new environment's first act, and a spare
    forked on demand is answered for before it runs)."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)
