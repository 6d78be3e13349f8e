"""Starting environment processes: the platform side of :mod:`lamina.sandbox.zygote`.

One zygote per interpreter is started on first use and restarted if it dies. ``spawn`` sends one
fork request and awaits the child's pid; the zygote later reports the child's exit, which is routed
to the callback registered for that pid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ZYGOTE = Path(__file__).with_name("zygote.py")
ExitCallback = Callable[[int], None]


class ZygoteError(RuntimeError):
    """The zygote could not start an environment."""


class Zygote:
    """A running zygote process and the socket to it."""

    def __init__(self, python: str) -> None:
        self.python = python
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, ExitCallback] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process = subprocess.Popen(
            # -I: no script folder on sys.path (Lamina's modules stay invisible to user code), no PYTHON* variables.
            [self.python, "-I", str(ZYGOTE), str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, close_fds=True,
            # A zygote shares nothing with the platform's environment variables: children get theirs
            # from each spawn request.
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
        theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._loop.add_reader(ours.fileno(), self._on_readable)

    async def spawn(self, env: dict[str, str], cwd: str, output_fd: int,
                    on_exit: ExitCallback, exec_argv: list[str] | None = None) -> int:
        """Fork an environment; ``on_exit(status)`` runs when it ends (``waitpid`` status)."""
        if self._sock is None or not self.alive:
            self.close()
            self.start()
        assert self._sock is not None and self._loop is not None
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[int] = self._loop.create_future()
        self._pending[request_id] = future
        message = json.dumps({"id": request_id, "env": env, "cwd": cwd, "exec": exec_argv}).encode()
        try:
            socket.send_fds(self._sock, [message], [output_fd])
        except OSError as error:
            self._pending.pop(request_id, None)
            raise ZygoteError(f"zygote for {self.python} is unavailable: {error}") from error
        pid = await future
        self._exits[pid] = on_exit
        return pid

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
                callback(message["status"])
            return
        future = self._pending.pop(message["id"], None)
        if future is None or future.done():
            return
        if "pid" in message:
            future.set_result(message["pid"])
        else:
            future.set_exception(ZygoteError(message.get("error", "spawn failed")))

    def _lost(self) -> None:
        """The zygote died: its children die with it (PR_SET_PDEATHSIG); tell everyone."""
        log.warning("zygote for %s exited", self.python)
        self._detach()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ZygoteError(f"zygote for {self.python} exited"))
        self._pending.clear()
        exits, self._exits = self._exits, {}
        for callback in exits.values():
            callback(9)  # as if killed

    def _detach(self) -> None:
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        self._sock = None

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

    def __init__(self) -> None:
        self._zygotes: dict[str, Zygote] = {}

    def zygote(self, python: str) -> Zygote:
        zygote = self._zygotes.get(python)
        if zygote is None:
            zygote = self._zygotes[python] = Zygote(python)
        return zygote

    def close(self) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()
