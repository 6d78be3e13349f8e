"""The zygote: a long-lived process that forks execution environments (SOCK / OpenLambda style).

Run as ``python zygote.py <fd>`` by :mod:`lamina.sandbox.spawner`; stdlib only, because it runs on
the function's interpreter and not Lamina's. It imports the runtime bootstrap once, freezes the heap
(``gc.freeze``) so forked children share those pages copy-on-write, then serves requests on a
``SOCK_SEQPACKET`` Unix socket whose message boundaries frame the JSON messages:

platform → zygote  ``{"id": n, "env": {...}, "cwd": "...", "exec": [argv] | null}`` with one fd
                   (the write end of the environment's output pipe) attached by ``SCM_RIGHTS``.
zygote → platform  ``{"id": n, "pid": pid}`` or ``{"id": n, "error": "..."}``, and, for every
                   environment that ends, ``{"exit": pid, "status": <waitpid status>}``.

The zygote is every environment's parent, so it reaps them and reports each exit. When the platform
goes away (EOF on the socket, including after ``kill -9``) it kills every environment and exits;
children also ask the kernel for ``SIGKILL`` when the zygote dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib.util
import json
import os
import selectors
import signal
import socket
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
MAX_MESSAGE = 1 << 20


def _load_bootstrap() -> Any:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtimes", "python", "bootstrap.py")
    spec = importlib.util.spec_from_file_location("lamina_bootstrap", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lamina_bootstrap"] = module
    spec.loader.exec_module(module)
    return module


def _child(message: dict[str, Any], output_fd: int, zygote_pid: int, libc: Any, bootstrap: Any) -> None:
    """Runs in the forked child; never returns."""
    try:
        os.setsid()  # own process group: the platform kills the whole group, grandchildren included
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != zygote_pid:  # the zygote died between fork and prctl
            os._exit(1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.closerange(3, 65536)
        os.chdir(message["cwd"])
        os.umask(0o022)
        os.environ.clear()
        os.environ.update(message["env"])
        argv = message.get("exec")
        if argv:
            os.execve(argv[0], argv, message["env"])
        sys.argv = ["bootstrap"]
        bootstrap.main()
        os._exit(0)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
        os._exit(code)
    except BaseException as error:
        try:
            os.write(2, f"lamina: environment failed to start: {error!r}\n".encode())
        finally:
            os._exit(127)


def serve(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    libc = ctypes.CDLL(None, use_errno=True)
    bootstrap = _load_bootstrap()
    zygote_pid = os.getpid()
    children: set[int] = set()

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the platform, which tells us

    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)

    # Everything imported so far is shared with every child; don't let their GC touch it.
    gc.collect()
    gc.freeze()

    def send(obj: dict[str, Any]) -> None:
        sock.sendmsg([json.dumps(obj).encode()])

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            send({"exit": pid, "status": status})

    try:
        while True:
            for key, _ in selector.select():
                if key.fileobj is wake_r:
                    os.read(wake_r, 4096)
                    reap()
                    continue
                data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 4)
                if not data:
                    return
                message = json.loads(data)
                output_fd = fds[0]
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    _child(message, output_fd, zygote_pid, libc, bootstrap)
                os.close(output_fd)
                children.add(pid)
                send({"id": message["id"], "pid": pid})
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
