"""The zygote: a long-lived process that forks execution environments (SOCK / OpenLambda style).

Run as ``python -I zygote.py <fd> <config json>`` by :mod:`lamina.sandbox.spawner`; stdlib only,
because it runs on the function's interpreter, not Lamina's. At start it imports the runtime
bootstrap, probes which isolation features the machine allows (:func:`jail.probe`), prepares its own
mount namespace, freezes the heap (``gc.freeze``) so children share those pages copy-on-write, and
serves requests on a ``SOCK_SEQPACKET`` Unix socket whose message boundaries frame JSON messages:

zygote → platform  first ``{"features": {...}}``; then ``{"id": n, "pid": pid, "memory": dir|null}``
                   or ``{"id": n, "error": "..."}`` per spawn; and ``{"exit": pid, "status": s,
                   "oom": bool, "peak": bytes}`` for every environment that ends.
platform → zygote  ``{"id": n, "env": {...}, "code": {"sha": ..., "path": ...}, "memory_mb": m,
                   "tmp_mb": t, "exec": [argv] | null}`` with fds attached (``SCM_RIGHTS``):
                   the write end of the environment's output pipe, and for Lamina's own
                   bootstrap the runtime's end of its channel (:mod:`lamina.sandbox.channel`),
                   which the runtime finds as fd 3, named in ``_LAMINA_RUNTIME_FD``; with a
                   cgroup, that bootstrap also gets its memory high-water mark file as fd 4
                   (``_LAMINA_PEAK_FD``).

The zygote is every environment's parent: it reaps them, returns their cgroups to the pool and
reports each exit. When the platform goes away (EOF, including after ``kill -9``) it kills every
environment and exits; children also get ``SIGKILL`` if the zygote dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import fcntl
import gc
import importlib.util
import json
import os
import select
import selectors
import signal
import socket
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
#: Where a namespace's init finds the read end of its lifeline (see lamina.sandbox.init).
LIFELINE_FD = 3
#: Where the runtime finds its end of the platform's channel (see lamina.sandbox.channel).
CHANNEL_FD = 3
#: Where the runtime finds its cgroup's memory high-water mark file (``_LAMINA_PEAK_FD``).
PEAK_FD = 4
MAX_MESSAGE = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


jail = _load("lamina_jail", os.path.join(HERE, "jail.py"))


def _preload() -> None:
    """Import once, in the zygote, what most environments would otherwise each import:
    socket.getaddrinfo and str.encode("idna") pull in encodings.idna; importing a handler from
    source (its read-only folder holds no .pyc) pulls in tokenize; dataclasses (with inspect) is
    imported by most real function code. About 15 ms: :func:`serve` runs it when idle, after any
    request already waiting, so the cold start that started the zygote does not wait for it."""
    import dataclasses  # noqa: F401
    import encodings.idna  # noqa: F401
    import tokenize  # noqa: F401


class Child:
    """An environment the zygote started, known by its runtime's pid."""

    __slots__ = ("cgroup", "init", "lifeline", "spare", "status", "tmp")

    def __init__(self, cgroup: str | None, tmp: str | None, init: int = -1, lifeline: int = -1) -> None:
        self.cgroup = cgroup
        self.tmp = tmp
        #: The pid of its namespace's init, until that is reaped (-1 without a PID namespace).
        self.init = init
        #: The write end of the init's lifeline: closing it ends the init, and the namespace with it.
        self.lifeline = lifeline
        #: The runtime's wait status, once it is reaped.
        self.status: int | None = None
        #: Still a spare: its end is not reported, nobody asked for it.
        self.spare = True


class Spare:
    """An environment forked ahead of need, waiting for its assignment on ``channel``.

    Everything that does not depend on the function happens before a request arrives: the new
    namespaces and their init, the runtime's fork, its move into a cgroup (on cgroup v1 that write
    can wait 10-20 ms on a machine-wide lock while other processes fork).
    """

    __slots__ = ("channel", "child", "pid")

    def __init__(self, pid: int, channel: socket.socket, child: Child) -> None:
        self.pid = pid
        self.channel = channel
        self.child = child


class _Prepared:
    """A spare's parts made before its fork (see :meth:`Zygote._fork_spares`)."""

    __slots__ = ("cgroup", "init", "lifeline_r", "lifeline_w", "ours", "theirs", "tmp")

    def __init__(self, cgroup: str | None, tmp: str | None, lifeline_r: int, lifeline_w: int,
                 ours: socket.socket, theirs: socket.socket) -> None:
        self.cgroup = cgroup
        self.tmp = tmp
        self.lifeline_r = lifeline_r
        self.lifeline_w = lifeline_w
        self.ours = ours
        self.theirs = theirs
        self.init = -1

    def close(self) -> None:
        """Close the descriptors (when the spare was never forked)."""
        _close(self.lifeline_r, self.lifeline_w)
        self.ours.close()
        self.theirs.close()


class Zygote:
    #: Spare environments kept ready per zygote.
    SPARES = 2
    #: Most spares forked back to back for requests waiting together: bounds how long the first
    #: request of a burst waits for the rest of its batch.
    BATCH = 16

    def __init__(self, sock: socket.socket, config: dict[str, Any]) -> None:
        self.sock = sock
        self.config = config
        self.pid = os.getpid()
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.bootstrap = _load("lamina_bootstrap", os.path.join(HERE, "runtimes", "python", "bootstrap.py"))
        self.children: dict[int, Child] = {}
        #: Each live namespace init's pid -> its environment's runtime pid.
        self.inits: dict[int, int] = {}
        self.spares: list[Spare] = []
        self.forked = 0
        self.features = jail.probe(config.get("isolation", "auto"))
        self.namespaces = self.features["namespaces"]["state"] == "on"
        self.uid: int | None = jail.SANDBOX_UID if self.features["unprivileged_user"]["state"] == "on" else None
        self.cgroups = jail.Cgroups(jail.cgroup_version()) if self.features["cgroup"]["state"] == "on" else None
        self.init_fd = self._native_init(config.get("init"))
        #: This zygote's own PID namespace, to return to after making each environment's.
        self.pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC) if self.namespaces else -1
        #: What environments must still reach: the interpreter's install, Lamina's runtimes, the code.
        self.needed = tuple(os.path.realpath(p) for p in
                            [sys.prefix, sys.base_prefix, HERE, config["code_root"], *[p for p in sys.path if p]])
        if self.namespaces:
            jail.enter_zygote_namespace(list(self.needed))

    def _native_init(self, path: str | None) -> int:
        """An fd of the native init program (each environment's PID 1), or -1 with the reason in
        :attr:`features`. Opened once: ``/proc/self/fd/N`` needs no path inside the zygote's mounts."""
        if not self.namespaces:
            self.features["native_init"] = {"state": "unavailable", "reason": "no PID namespace, so no init"}
            return -1
        if not path:
            self.features["native_init"] = {"state": "off", "reason": "not built (no C compiler): a Python init"}
            return -1
        if not hasattr(os, "posix_spawn"):
            self.features["native_init"] = {"state": "unavailable", "reason": "no posix_spawn: a Python init"}
            return -1
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            self.features["native_init"] = {"state": "off", "reason": f"{path}: {error.strerror}"}
            return -1
        self.features["native_init"] = {"state": "on", "reason": path}
        return fd

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendmsg([json.dumps(message).encode()])

    def spawn(self, message: dict[str, Any], fds: list[int]) -> None:
        """Hand a spare environment its function (forking one if none is ready) and answer its pid."""
        try:
            spare = self.spares.pop(0) if self.spares else self._fork_spare()
        except OSError as error:
            for fd in fds:
                os.close(fd)
            self.send({"id": message["id"], "error": f"cannot start an environment: {error}"})
            return
        child = spare.child
        child.spare = False
        try:
            if child.cgroup is not None and self.cgroups is not None:
                self.cgroups.set_memory(child.cgroup, message["memory_mb"])
            socket.send_fds(spare.channel, [json.dumps(message).encode()], fds)
        except OSError as error:
            _kill_environment(spare.pid)
            self.send({"id": message["id"], "error": f"cannot start an environment: {error}"})
            return
        finally:
            for fd in fds:
                os.close(fd)
            spare.channel.close()
        memory = self.cgroups.memory_dir(child.cgroup) if self.cgroups and child.cgroup else None
        self.send({"id": message["id"], "pid": spare.pid, "memory": memory})

    def spawn_all(self, requests: list[tuple[dict[str, Any], list[int]]]) -> None:
        """Serve requests that were waiting together: fork the spares they lack in batches, then
        hand each its spare (see :meth:`_fork_spares` for why in batches)."""
        for start in range(0, len(requests), self.BATCH):
            chunk = requests[start:start + self.BATCH]
            if len(self.spares) < len(chunk):
                with contextlib.suppress(OSError):  # spawn() forks one more and reports the error
                    self.spares.extend(self._fork_spares(len(chunk) - len(self.spares)))
            for message, fds in chunk:
                self.spawn(message, fds)

    def replenish(self) -> None:
        """Fork spares up to :attr:`SPARES` (called when the zygote has nothing else to do)."""
        if len(self.spares) < self.SPARES:
            with contextlib.suppress(OSError):
                self.spares.extend(self._fork_spares(self.SPARES - len(self.spares)))

    def _fork_spare(self) -> Spare:
        return self._fork_spares(1)[0]

    def _fork_spares(self, count: int) -> list[Spare]:
        """Fork up to ``count`` spares back to back (at least one, else OSError).

        Why back to back: every fork write-protects the zygote's whole heap, so each page the zygote
        writes afterwards is copied, once per fork. Interleaving a spare's preparation (cgroup, pipes,
        bookkeeping) with the forks copied about 240 pages per environment in the zygote during a
        burst of 1,000 (its minor faults in ``/proc/PID/stat``); preparing a batch first and
        bookkeeping after copies those pages once per batch: about 56 per environment.
        """
        batch: list[_Prepared] = []
        try:
            while len(batch) < count:
                batch.append(self._prepare())
        except OSError:
            if not batch:
                raise
        pids: list[int] = []
        try:
            for prepared in batch:
                pid = self._fork(prepared)
                if pid == 0:
                    self._child(prepared.theirs, prepared.cgroup, prepared.tmp)
                pids.append(pid)
        except OSError:
            for prepared in batch[len(pids):]:
                self._discard(prepared)
            if not pids:
                raise
        spares = []
        for prepared, pid in zip(batch, pids):  # noqa: B905 - runs on Python 3.8+; batch may be longer
            prepared.theirs.close()
            _close(prepared.lifeline_r)  # the init's; the write end goes to the Child
            child = Child(prepared.cgroup, prepared.tmp, prepared.init, prepared.lifeline_w)
            self.children[pid] = child
            if child.init > 0:
                self.inits[child.init] = pid
            spares.append(Spare(pid, prepared.ours, child))
        return spares

    def _fork(self, prepared: _Prepared) -> int:
        """Fork one environment's runtime: 0 in the runtime, its pid in the zygote.

        With namespaces the zygote first makes a new PID namespace, whose first process (PID 1)
        is the init started by :meth:`_start_init`; the runtime is then forked into it as PID 2,
        with a new mount namespace, and the zygote returns to its own PID namespace. The runtime
        is not PID 1 because the kernel ignores signals a namespace's PID 1 sends itself: it could
        not ``os.abort()`` or ``kill -9`` itself. It is the zygote's child, not the init's: forking
        it from a forked init would copy the zygote's page tables twice.
        """
        if not self.namespaces:
            return os.fork()
        jail.unshare(jail.CLONE_NEWPID)  # for the children made from now on
        try:
            prepared.init = self._start_init(prepared.lifeline_r)
            pid: int = jail.clone(jail.CLONE_NEWNS)
        except BaseException:
            if prepared.init > 0:
                _stop(prepared.init)
                prepared.init = -1
            jail.setns(self.pidns, jail.CLONE_NEWPID)
            raise
        if pid != 0:
            jail.setns(self.pidns, jail.CLONE_NEWPID)
        return pid

    def _start_init(self, lifeline: int) -> int:
        """Start the init of the PID namespace just made: the native program by ``posix_spawn``
        (``vfork`` and ``exec``: it shares nothing of the zygote's memory), else a forked Python
        loop (:func:`_init`). It reaps the namespace's orphans until ``lifeline`` closes."""
        if self.init_fd >= 0:
            try:
                return os.posix_spawn(f"/proc/self/fd/{self.init_fd}", ["lamina-init", str(LIFELINE_FD)], {},
                                      file_actions=[(os.POSIX_SPAWN_DUP2, lifeline, LIFELINE_FD)], setsid=True)
            except OSError as error:  # say so once, and keep starting environments
                os.write(2, f"lamina: the native init did not start ({error}); a Python init from now on\n".encode())
                os.close(self.init_fd)
                self.init_fd = -1
        pid = os.fork()
        if pid == 0:
            _init(lifeline)
        return pid

    def _prepare(self) -> _Prepared:
        """What one spare needs before its fork: a cgroup, a private /tmp without namespaces, its
        init's lifeline and the socket pair on which it gets its assignment."""
        cgroup = self.cgroups.acquire(128, 1024) if self.cgroups else None
        self.forked += 1
        tmp = None if self.namespaces else jail.private_tmp(self.config["tmp_root"], f"{self.pid}-{self.forked}")
        lifeline_r, lifeline_w = -1, -1
        try:
            if self.namespaces:
                lifeline_r, lifeline_w = os.pipe2(os.O_CLOEXEC)
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError:
            _close(lifeline_r, lifeline_w)
            self._release(cgroup, tmp)
            raise
        return _Prepared(cgroup, tmp, lifeline_r, lifeline_w, ours, theirs)

    def _discard(self, prepared: _Prepared) -> None:
        """Undo :meth:`_prepare` for a spare that was never forked."""
        prepared.close()
        self._release(prepared.cgroup, prepared.tmp)

    def _release(self, cgroup: str | None, tmp: str | None) -> bool:
        """Return a cgroup to the pool and remove a private /tmp; True if the cgroup saw an OOM kill."""
        oom = bool(cgroup and self.cgroups and self.cgroups.release(cgroup))
        if tmp:
            jail.remove_tree(tmp)
        return oom

    def _child(self, channel: socket.socket, cgroup: str | None, tmp: str | None) -> None:
        """Runs in a new environment's runtime process (see :meth:`_fork`); never returns.

        It waits on ``channel`` for its assignment (see :meth:`_assigned`).
        """
        try:
            os.setsid()  # own process group: killing it takes grandchildren along
            self.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            # The zygote died before prctl? (In a PID namespace the parent is outside it, so
            # getppid() says 0; there the init's lifeline ends the namespace instead.)
            if not self.namespaces and os.getppid() != self.pid:
                os._exit(1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            # Nothing of the zygote's stays open here: not its socket, not other environments' pipes
            # and channels (a spare keeping another's channel open would hide that one's EOF), and
            # the runtime's fd numbers start low, under its RLIMIT_NOFILE.
            _close_fds_except(0, 1, 2, channel.fileno())
            if cgroup is not None and self.cgroups is not None:
                self.cgroups.attach_self(cgroup)
            data, fds, _flags, _addr = socket.recv_fds(channel, MAX_MESSAGE, 2)
            if not data or not fds:
                os._exit(0)  # the zygote went away before assigning work
            self._assigned(json.loads(data), fds, cgroup, tmp)
        except BaseException as error:
            try:
                os.write(2, f"lamina: environment failed to start: {error}\n".encode())
            finally:
                os._exit(127)

    def _assigned(self, message: dict[str, Any], fds: list[int], cgroup: str | None, tmp: str | None) -> None:
        """The runtime process, once it knows its function: mount its world, drop privileges, run."""
        output_fd = fds[0]
        channel_fd = fds[1] if len(fds) > 1 else -1
        try:
            # Output first, so a failure below is reported in the invocation's log.
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            peak_fd = -1
            if channel_fd >= 0 and not message.get("exec") and cgroup is not None and self.cgroups is not None:
                # Lamina's bootstrap reads its cgroup's high-water mark itself and sends it with each
                # result, sparing the server a read per invocation. Opened before the mount namespace
                # hides /sys and before the uid drop; moved above the fds set up below.
                raw = self.cgroups.open_peak(cgroup)
                if raw >= 0:
                    peak_fd = fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, PEAK_FD + 1)
                    os.close(raw)
            env = dict(message["env"])
            if self.namespaces:
                jail.enter_environment(message["code"]["path"], message.get("opt"), self.config["hide"],
                                       message["tmp_mb"], self.uid,
                                       tuple(p for p in self.needed if p != self.config["code_root"]))
                task_root = jail.TASK_ROOT
            else:
                task_root = message["code"]["path"]
                os.chdir(task_root)
                env["TMPDIR"] = tmp or "/tmp"
                if message.get("opt"):
                    # No mount namespace: point the runtime's /opt paths at the merged layers.
                    env["_LAMINA_OPT"] = message["opt"]
                    for name in ("PATH", "LD_LIBRARY_PATH", "NODE_PATH"):
                        if name in env:
                            env[name] = env[name].replace("/opt", message["opt"])
            env["LAMBDA_TASK_ROOT"] = task_root
            jail.set_rlimits(None if cgroup else message["memory_mb"] + 64)
            argv = message.get("exec")
            if argv and "/" not in argv[0]:
                argv = [os.path.join(task_root, argv[0]), *argv[1:]]
            if argv and not os.access(argv[0], os.X_OK):
                self._invalid_entrypoint(argv[0], env)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            keep = 3
            if channel_fd >= 0 and not argv:
                os.dup2(channel_fd, CHANNEL_FD)
                env["_LAMINA_RUNTIME_FD"] = str(CHANNEL_FD)
                keep = CHANNEL_FD + 1
                if peak_fd >= 0:
                    os.dup2(peak_fd, PEAK_FD, inheritable=False)
                    env["_LAMINA_PEAK_FD"] = str(PEAK_FD)
                    keep = PEAK_FD + 1
            os.closerange(keep, 65536)
            os.umask(0o022)
            os.environ.clear()
            os.environ.update(env)
            if argv:
                os.execve(argv[0], argv, env)
            sys.argv = ["bootstrap"]
            self.bootstrap.main()
            os._exit(0)
        except SystemExit as stop:
            os._exit(stop.code if isinstance(stop.code, int) else 1)
        except BaseException as error:
            try:
                os.write(2, f"lamina: environment failed to start: {error}\n".encode())
            finally:
                os._exit(127)

    def _invalid_entrypoint(self, program: str, env: dict[str, str]) -> None:
        """A custom runtime without a usable bootstrap: report it as AWS does, then exit."""
        if os.path.exists(program):
            message = f"Error: fork/exec {program}: permission denied"
        else:
            message = f"Error: Couldn't find valid bootstrap(s): [{program} /opt/bootstrap]"
        error_type = "Runtime.InvalidEntrypoint"
        body = json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": []}).encode()
        try:
            self.bootstrap.RuntimeApiClient(env["AWS_LAMBDA_RUNTIME_API"]).post_init_error(body, error_type)
        finally:
            os.write(2, f"{message}\n{error_type}\n".encode())
            os._exit(1)

    def reap(self) -> None:
        """Reap what ended. An environment has ended when its runtime and its init both have:
        the runtime's end closes the init's lifeline, and the init's end (the kernel kills what is
        left in the namespace first) empties its cgroup for the pool."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            runtime = self.inits.pop(pid, None)
            if runtime is not None:  # an init; its runtime may still be ending
                child = self.children.get(runtime)
                if child is not None:
                    child.init = -1
                    if child.status is not None:
                        self._ended(runtime, child)
                continue
            child = self.children.get(pid)
            if child is None:
                continue
            child.status = status
            spare = next((spare for spare in self.spares if spare.pid == pid), None)
            if spare is not None:
                self.spares.remove(spare)
                spare.channel.close()
            if child.lifeline >= 0:
                os.close(child.lifeline)
                child.lifeline = -1
            if child.init > 0:
                _kill(child.init)  # no need to wait for the init to notice its lifeline
            else:
                self._ended(pid, child)

    def _ended(self, pid: int, child: Child) -> None:
        """Return an ended environment's cgroup to the pool and report its end."""
        del self.children[pid]
        peak = self.cgroups.peak_bytes(child.cgroup) if child.cgroup and self.cgroups else 0
        oom = self._release(child.cgroup, child.tmp)
        if not child.spare:
            self.send({"exit": pid, "status": child.status, "oom": oom, "peak": peak})

    def shutdown(self) -> None:
        for spare in self.spares:
            spare.channel.close()
        for pid, child in self.children.items():
            _kill_environment(pid)
            if child.init > 0:
                _kill(child.init)
        for pid, child in list(self.children.items()):
            for process in (pid, child.init):
                if process > 0:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(process, 0)
            if child.tmp:
                jail.remove_tree(child.tmp)
            _close(child.lifeline)
        if self.cgroups is not None:
            self.cgroups.close()


def _init(lifeline: int) -> None:
    """PID 1 of an environment's namespace without the native init (lamina.sandbox.init), in a
    process forked from the zygote: the same work in Python. Reap every process until ``lifeline``
    ends, then exit (the kernel then kills what is left). Never returns."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        _close_fds_except(lifeline)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        poller = select.poll()
        poller.register(lifeline, select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        while True:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            ready = dict(poller.poll())
            if lifeline in ready:
                os._exit(0)
            if wake_r in ready:
                os.read(wake_r, 4096)
    finally:
        os._exit(0)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _kill_environment(pid: int) -> None:
    """SIGKILL a runtime's process group, and the runtime itself, which has no group of its own
    until its ``setsid``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _kill(pid)


def _close(*fds: int) -> None:
    """Close each of ``fds`` that is open (negative numbers are none)."""
    for fd in fds:
        if fd >= 0:
            os.close(fd)


def _stop(pid: int) -> None:
    """SIGKILL a child and reap it."""
    _kill(pid)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _close_fds_except(*keep: int) -> None:
    """Close every file descriptor but ``keep`` (negative numbers are ignored)."""
    low = 0
    for fd in sorted({fd for fd in keep if fd >= 0}):
        if low < fd:  # os.closerange(n, n) closes everything from n up: CPython passes fd - 1 as-is
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One waiting request and its file descriptors, without blocking (BlockingIOError when none).

    Not socket.recv_fds: before Python 3.12 it ignores its flags, so MSG_DONTWAIT would block.
    """
    fds = array.array("i")
    data, ancillary, _flags, _addr = sock.recvmsg(MAX_MESSAGE, socket.CMSG_LEN(4 * fds.itemsize),
                                                  socket.MSG_DONTWAIT)
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def serve(fd: int, config: dict[str, Any]) -> None:
    sock = socket.socket(fileno=fd)
    sock.set_inheritable(False)  # a spawned init must not keep the platform's socket open
    zygote = Zygote(sock, config)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the platform, which tells us
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    zygote.send({"features": zygote.features})
    preloaded = False
    try:
        while True:
            events = selector.select(timeout=0)
            if not events and not preloaded:
                # Idle for the first time (the request that started this zygote, if any, is served):
                # preload, then keep every child's GC away from what they all share.
                _preload()
                gc.collect()
                gc.freeze()
                preloaded = True
                continue
            if not events:
                # Nothing waiting: prepare spare environments now, off any request's path.
                zygote.replenish()
                events = selector.select()
            for key, _ in events:
                if key.fileobj is wake_r:
                    os.read(wake_r, 4096)
                    zygote.reap()
                    continue
                # Take every waiting request before replenishing spares: a burst is served first.
                requests = []
                while True:
                    try:
                        data, fds = _receive(sock)
                    except BlockingIOError:
                        break
                    if not data:
                        return
                    requests.append((json.loads(data), fds))
                zygote.spawn_all(requests)
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        zygote.shutdown()


if __name__ == "__main__":
    serve(int(sys.argv[1]), json.loads(sys.argv[2]))
