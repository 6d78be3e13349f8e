"""Isolation applied inside the zygote and its children (stdlib only; runs on the function's interpreter).

What an environment gets, each part used when the machine allows it and reported by :func:`probe`:

- **cgroup** (v1 or v2): memory limit = MemorySize, CPU weight proportional to memory (1,769 MB = one
  vCPU, https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), ``pids`` limit.
  Cgroups are pooled: an empty one is reused for the next environment instead of removed. A zygote
  removes its whole tree when it stops; a tree whose zygote died without stopping (``SIGKILL``) is
  removed by :func:`sweep_cgroups` the next time a server starts.
- **namespaces**: each environment gets its own PID namespace, whose PID 1 is a small init (see
  lamina.sandbox.zygote), and the runtime, PID 2, its own mount namespace. Everything it starts
  dies with the namespace; ``/proc`` shows only its own processes.
- **mounts**: the zygote first enters a private mount namespace of its own where the platform's data
  directory is hidden and only the parts of the interpreter's install that an unprivileged user must
  read are exposed. Each environment then gets its code read-only at ``/var/task``, an empty
  read-only ``/opt`` (layers later), a private ``/tmp`` of EphemeralStorage size and its own ``/proc``.
- **user**: an unprivileged uid/gid (AWS runs functions as ``sbx_user1051``, uid 993).
- **rlimits**: 1,024 open files (AWS's quota), no core dumps; without cgroups, a data-size limit.

Without root none of the kernel features are available: environments then run as the platform's
user with rlimits, their own process group and a private TMPDIR, and :func:`probe` says why.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import resource
import stat
import sys
import time
from collections.abc import Iterator
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
SIGCHLD = 17
SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine, 56)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
TASK_ROOT = "/var/task"
SANDBOX_UID = 993
MB = 1024 * 1024
#: A memory cgroup's high-water mark in bytes: cgroup v1's name, then v2's.
PEAK_FILES = ("memory.max_usage_in_bytes", "memory.peak")
ONE_VCPU_MB = 1769

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_pylibc = ctypes.PyDLL(None, use_errno=True)
_pylibc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


class JailError(OSError):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise JailError(errno, f"{what}: {os.strerror(errno)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, flags, data.encode() if data else None),
           f"mount {source} on {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def clone(flags: int) -> int:
    """fork() into new namespaces: returns 0 in the child, the child's pid in the parent.

    A raw clone with no new stack behaves like fork at the kernel level; CPython's own bookkeeping is
    redone in the child with PyOS_AfterFork_Child, as os.fork does. The zygote is single-threaded.
    """
    # The same sequence as os.fork, with the GIL held throughout (PyDLL does not release it).
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = int(_pylibc.syscall(SYS_CLONE, flags | SIGCHLD, 0, 0, 0, 0))
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0
    errno = ctypes.get_errno()
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise JailError(errno, f"clone: {os.strerror(errno)}")
    return pid


# -- cgroups ---------------------------------------------------------------------------------

def cpu_share(memory_mb: int) -> tuple[int, int]:
    """A function's CPU share for its memory, as (v1 ``cpu.shares``, v2 ``cpu.weight``): one vCPU's
    worth (1,024 and 100, the defaults) at :data:`ONE_VCPU_MB`, in proportion below and above, within
    each file's range. Each is rounded once, from the memory size."""
    return (max(2, memory_mb * 1024 // ONE_VCPU_MB), max(1, min(10000, memory_mb * 100 // ONE_VCPU_MB)))


class Cgroups:
    """A pool of per-environment cgroups under ``<root>/lamina-<zygote pid>``.

    The zygote holds an ``flock`` on its tree's directory for as long as it lives (the kernel drops
    it when the process dies, however it dies, and whatever PID namespace looks on): a tree nobody
    holds is stale, which is how :func:`sweep_cgroups` tells it from a live zygote's.
    """

    V1_CONTROLLERS = ("memory", "cpu", "pids")

    def __init__(self, version: str, root: str = "/sys/fs/cgroup") -> None:
        self.version = version
        self.root = root
        self.base = f"lamina-{os.getpid()}"
        self._free: list[str] = []
        self._next = 0
        self._oom_baseline: dict[str, int] = {}
        #: The memory size each cgroup's limits were last set for: rewriting the same values costs
        #: the zygote a few file writes per environment, on the path of every cold start.
        self._memory_mb: dict[str, int] = {}
        #: The tree's directory in each controller; the lock is on the first.
        self._trees = tree_dirs(version, root, self.base)
        if version == "v2":
            _write(f"{root}/cgroup.subtree_control", "+memory +cpu +pids", missing_ok=True)
        self._lock = self._hold()

    def _hold(self) -> int:
        """Make the tree and lock it. Between the ``mkdir`` and the ``flock`` a sweep can see the tree
        unlocked, lock it first and remove it; the lock taken then is on a removed directory, so
        make the tree again and lock that, until the lock is on the tree in place."""
        path = self._trees[0]
        while True:
            self._make_base()
            lock = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _same_directory(lock, path):
                self._make_base()  # the other controllers' directories may have gone with it
                return lock
            os.close(lock)

    def _make_base(self) -> None:
        for tree in self._trees:
            os.makedirs(tree, exist_ok=True)
        if self.version == "v2":
            _write(f"{self._trees[0]}/cgroup.subtree_control", "+memory +cpu +pids")

    def dirs(self, name: str) -> list[str]:
        return [f"{tree}/{name}" for tree in self._trees]

    def memory_dir(self, name: str) -> str:
        return self.dirs(name)[0]

    def acquire(self, memory_mb: int, pids: int) -> str:
        """A cgroup with these limits, reused from the pool when one is free."""
        if self._free:
            name = self._free.pop()
        else:
            self._next += 1
            name = f"env{self._next}"
            for directory in self.dirs(name):
                os.makedirs(directory, exist_ok=True)
        self._memory_mb[name] = memory_mb
        limit = memory_mb * MB
        shares, weight = cpu_share(memory_mb)
        if self.version == "v1":
            memory, cpu, pid_dir = self.dirs(name)
            _write(f"{memory}/memory.limit_in_bytes", str(limit))
            _write(f"{memory}/memory.memsw.limit_in_bytes", str(limit), missing_ok=True)
            _write(f"{memory}/memory.max_usage_in_bytes", "0")
            _write(f"{cpu}/cpu.shares", str(shares))
            _write(f"{pid_dir}/pids.max", str(pids))
        else:
            directory = self.dirs(name)[0]
            _write(f"{directory}/memory.max", str(limit))
            _write(f"{directory}/memory.swap.max", "0", missing_ok=True)
            _write(f"{directory}/cpu.weight", str(weight))
            _write(f"{directory}/pids.max", str(pids))
        self._oom_baseline[name] = self._oom_kills(name)
        return name

    def set_memory(self, name: str, memory_mb: int) -> None:
        """Set a (pooled, already attached) cgroup's limits for the function it now serves."""
        if self._memory_mb.get(name) == memory_mb:
            return
        self._memory_mb[name] = memory_mb
        limit = memory_mb * MB
        shares, weight = cpu_share(memory_mb)
        if self.version == "v1":
            memory, cpu, _pids = self.dirs(name)
            # Raise memsw first when growing, lower it last when shrinking: memsw >= memory always.
            _write(f"{memory}/memory.memsw.limit_in_bytes", "-1", missing_ok=True)
            _write(f"{memory}/memory.limit_in_bytes", str(limit))
            _write(f"{memory}/memory.memsw.limit_in_bytes", str(limit), missing_ok=True)
            _write(f"{cpu}/cpu.shares", str(shares))
        else:
            directory = self.dirs(name)[0]
            _write(f"{directory}/memory.max", str(limit))
            _write(f"{directory}/cpu.weight", str(weight))

    def attach_self(self, name: str) -> None:
        """Called in the child: move the calling process into the cgroup."""
        pid = str(os.getpid())
        for directory in self.dirs(name):
            _write(f"{directory}/cgroup.procs", pid)

    def peak_bytes(self, name: str) -> int:
        directory = self.memory_dir(name)
        for file in PEAK_FILES:
            try:
                with open(f"{directory}/{file}") as source:
                    return int(source.read())
            except (OSError, ValueError):
                continue
        return 0

    def open_peak(self, name: str) -> int:
        """The cgroup's memory high-water mark file, open for reading (-1 if there is none)."""
        directory = self.memory_dir(name)
        for file in PEAK_FILES:
            try:
                return os.open(f"{directory}/{file}", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
        return -1

    def release(self, name: str) -> bool:
        """Called when the environment is reaped: True if it was OOM-killed. Pools the cgroup."""
        oom = self._oom_kills(name) > self._oom_baseline.pop(name, 0)
        if self._empty(name):
            self._free.append(name)
        else:  # stragglers still exiting: don't reuse, try to remove later
            self._remove(name)
        return oom

    def close(self) -> None:
        """Remove every cgroup of the tree and the tree itself; call once the environments have been
        reaped (a cgroup with a process left in it cannot be removed, and is left to the sweep)."""
        _remove_trees(self._trees, patient=True)
        self._free.clear()
        os.close(self._lock)

    def _oom_kills(self, name: str) -> int:
        directory = self.memory_dir(name)
        path = f"{directory}/memory.oom_control" if self.version == "v1" else f"{directory}/memory.events"
        try:
            with open(path) as source:
                for line in source:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _empty(self, name: str) -> bool:
        try:
            with open(f"{self.dirs(name)[0]}/cgroup.procs") as procs:
                return not procs.read().strip()
        except OSError:
            return False

    def _remove(self, name: str) -> None:
        self._memory_mb.pop(name, None)
        for directory in self.dirs(name):
            _rmdir(directory)


def _write(path: str, value: str, missing_ok: bool = False) -> None:
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        os.write(fd, value.encode())
    except OSError:
        if not missing_ok:
            raise
    finally:
        os.close(fd)


def _rmdir(path: str, patient: bool = False) -> None:
    """Remove a cgroup directory if it can be. A cgroup whose last process is still exiting
    answers EBUSY for a moment: ``patient`` retries that for up to about 100 ms."""
    for _attempt in range(20 if patient else 1):
        try:
            os.rmdir(path)
            return
        except OSError as error:
            if error.errno != errno.EBUSY or not patient:
                return
        time.sleep(0.005)


def _same_directory(fd: int, path: str) -> bool:
    """Whether ``fd`` is (still) the directory at ``path``."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def tree_dirs(version: str, root: str, base: str) -> list[str]:
    """A zygote's tree ``base``: its directory in each controller, the memory controller's first."""
    if version == "v1":
        return [f"{root}/{controller}/{base}" for controller in Cgroups.V1_CONTROLLERS]
    return [f"{root}/{base}"]


def _remove_trees(trees: list[str], patient: bool = False) -> None:
    """Remove the cgroups in each of ``trees``, then the trees; what still has a process stays."""
    for tree in trees:
        with contextlib.suppress(OSError):
            for entry in os.scandir(tree):
                if entry.is_dir(follow_symlinks=False):
                    _rmdir(entry.path, patient)
        _rmdir(tree)


def _stale_trees(root: str) -> Iterator[list[str]]:
    """The trees (see :func:`tree_dirs`) whose lock nobody holds: zygotes that died without
    removing theirs (see :class:`Cgroups`). Each is locked while the caller has it."""
    version = cgroup_version(root)
    if version is None:
        return
    parent = os.path.dirname(tree_dirs(version, root, "lamina-")[0])
    try:
        bases = [name for name in os.listdir(parent) if name.startswith("lamina-")]
    except OSError:
        return
    for base in bases:
        trees = tree_dirs(version, root, base)
        try:
            lock = os.open(trees[0], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)  # a live zygote's
            continue
        try:
            # Removed since it was opened, what is there now is someone else's.
            if _same_directory(lock, trees[0]):
                yield trees
        finally:
            os.close(lock)


def stale_cgroup_trees(root: str = "/sys/fs/cgroup") -> int:
    """How many trees :func:`sweep_cgroups` would remove."""
    return sum(1 for _trees in _stale_trees(root))


def sweep_cgroups(root: str = "/sys/fs/cgroup") -> int:
    """Remove the cgroup trees of zygotes that died without removing them; return how many.

    A tree is stale when no process holds its lock (see :class:`Cgroups`). Its cgroups are removed
    when empty; one that still has a process in it (which a dead zygote's ``PR_SET_PDEATHSIG``
    should have killed) is left alone, and so is its tree. Takes about 0.1 ms per cgroup, each
    ``rmdir`` holding the kernel's cgroup lock, which zygotes need to start environments: call it
    before starting any (a sweep of hundreds of trees beside a live zygote held its environments'
    starts up until invocations timed out).

    They matter: 38,000 empty cgroups left this way made a cold start 2.3 times as slow and warm
    throughput 22 % lower on the development machine (docs/performance.md, "Leaked cgroups").
    """
    swept = 0
    for trees in _stale_trees(root):
        _remove_trees(trees)
        swept += not os.path.exists(trees[0])
    return swept


def cgroup_count(root: str = "/sys/fs/cgroup") -> int | None:
    """How many cgroups the memory controller has (``/proc/cgroups``), or None if unknown."""
    try:
        with open("/proc/cgroups") as table:
            for line in table:
                fields = line.split()
                if fields and fields[0] == "memory" and len(fields) >= 3:
                    return int(fields[2])
    except (OSError, ValueError):
        pass
    if cgroup_version(root) == "v2":
        with contextlib.suppress(OSError):
            return sum(1 for _ in os.walk(root))
    return None


def cgroup_version(root: str = "/sys/fs/cgroup") -> str | None:
    if os.path.exists(f"{root}/cgroup.controllers"):
        return "v2"
    if os.path.isdir(f"{root}/memory") and os.path.isdir(f"{root}/pids"):
        return "v1"
    return None


# -- the zygote's own mount namespace --------------------------------------------------------

def _world_traversable(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IXOTH)
    except OSError:
        return False


def exposures(needed: list[str]) -> dict[str, list[str]]:
    """For each folder an unprivileged user cannot traverse, the needed paths beneath it.

    E.g. an interpreter installed under ``/root/.pyenv`` with ``/root`` mode 0700:
    ``{"/root": ["/root/.pyenv/versions/3.11.7"]}``.
    """
    plan: dict[str, list[str]] = {}
    for path in sorted({os.path.realpath(p) for p in needed if os.path.isdir(p)}):
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            ancestor = "/" + "/".join(parts[:depth])
            if not _world_traversable(ancestor):
                entries = plan.setdefault(ancestor, [])
                if not any(path == e or path.startswith(e + "/") for e in entries):
                    entries[:] = [e for e in entries if not e.startswith(path + "/")] + [path]
                break
    return plan


def enter_zygote_namespace(needed: list[str]) -> None:
    """Give the zygote a private mount namespace that every environment starts from.

    Folders an unprivileged uid cannot traverse (``/root`` of a pyenv install) are covered with a
    read-only tmpfs holding only the ``needed`` paths (the interpreter's install, the code store),
    bound back at their own paths.
    """
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    plan = exposures(needed)
    keep = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for paths in plan.values() for path in paths}
    for blocked, paths in plan.items():
        mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        for path in paths:
            os.makedirs(path, mode=0o755, exist_ok=True)
            mount(f"/proc/self/fd/{keep[path]}", path, None, MS_BIND | MS_REC)
        mount(None, blocked, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for fd in keep.values():
        os.close(fd)


# -- each environment ------------------------------------------------------------------------

def enter_environment(code_path: str, opt_path: str | None, hide: list[str], tmp_mb: int,
                      uid: int | None, keep: tuple[str, ...] = ()) -> None:
    """In the cloned child (new PID + mount namespaces): mount its world, then drop privileges.

    The code is bound first, then ``hide`` (the data directory: database, every function's code) is
    covered with an empty read-only tmpfs, so only this function's code stays reachable.
    """
    mount(code_path, TASK_ROOT, None, MS_BIND | MS_REC)
    mount(None, TASK_ROOT, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if opt_path is not None:
        mount(opt_path, "/opt", None, MS_BIND | MS_REC)
        mount(None, "/opt", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    elif os.path.isdir("/opt"):
        mount("tmpfs", "/opt", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0755")
    for path in hide:
        mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    # What the runtime needs that lives under /tmp (Lamina installed in a temporary checkout, say)
    # must survive the private /tmp: hold it open now, bind it back afterwards.
    under_tmp = [path for path in keep if path.startswith("/tmp/") and os.path.isdir(path)]
    held = [os.open(path, os.O_PATH | os.O_DIRECTORY) for path in under_tmp]
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777{owner}")
    for path, fd in zip(under_tmp, held):  # noqa: B905 - runs on Python 3.8+, zip(strict=) is 3.10+
        os.makedirs(path, mode=0o755, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(TASK_ROOT)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


def set_rlimits(data_mb: int | None) -> None:
    """AWS's 1,024 file descriptors, no core files; ``data_mb`` when no cgroup limits memory."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if data_mb is not None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_mb * MB, data_mb * MB))


def private_tmp(base: str, name: str) -> str:
    path = os.path.join(base, name)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def remove_tree(path: str) -> None:
    import shutil  # only without namespaces; shutil is a slow import on every zygote start

    shutil.rmtree(path, ignore_errors=True)


# -- what this machine allows ----------------------------------------------------------------

def probe(want: str) -> dict[str, Any]:
    """Which isolation features can be used: ``{feature: {"state": on|off|unavailable, "reason"}}``.

    ``want`` is the platform's setting: ``auto`` uses what is available, ``off`` nothing.
    """
    root = os.geteuid() == 0
    features: dict[str, Any] = {}

    def record(name: str, available: bool, reason: str) -> None:
        state = "off" if want == "off" else ("on" if available else "unavailable")
        features[name] = {"state": state, "reason": "disabled by setting" if want == "off" else reason}

    version = cgroup_version()
    writable = version is not None and os.access(
        "/sys/fs/cgroup/memory" if version == "v1" else "/sys/fs/cgroup", os.W_OK)
    record("cgroup", root and writable,
           f"cgroup {version} is writable" if root and writable
           else "not root" if not root else "no writable cgroup hierarchy (memory + pids)")
    namespaces = False
    reason = "not root"
    if root:
        try:
            pid = clone(CLONE_NEWNS | CLONE_NEWPID)
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            namespaces = os.path.isdir(TASK_ROOT) or _make_task_root()
            reason = "PID and mount namespaces" if namespaces else f"cannot create {TASK_ROOT}"
        except OSError as error:
            reason = f"clone with new namespaces failed: {error}"
    record("namespaces", namespaces, reason)
    record("unprivileged_user", root and namespaces,
           f"uid {SANDBOX_UID}" if root and namespaces else "needs root and mount namespaces")
    features["rlimits"] = {"state": "on", "reason": "1024 files, no core dumps"}
    features["python"] = {"state": "on", "reason": f"{sys.executable} {sys.version.split()[0]}"}
    return features


def _make_task_root() -> bool:
    try:
        os.makedirs(TASK_ROOT, mode=0o755, exist_ok=True)
        return True
    except OSError:
        return False
