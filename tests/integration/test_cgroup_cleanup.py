"""Cgroups do not pile up: a stopped zygote removes its tree, a killed one's tree is swept.

Every zygote keeps its environments' cgroups under ``lamina-<zygote pid>`` in each controller
(cgroup v1) or under the unified root (v2). These need root and cgroups, as the isolation tests do:
on a machine without them the test fails with the doctor's reason.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from lamina.sandbox import jail
from tests.conftest import (
    Server,
    children_of,
    create_python_function,
    doctor_report,
    invoke_json,
    process_alive,
    start_server,
    wait_for,
)
from tests.integration.test_isolation import _require, features  # noqa: F401 - a fixture

ROOT = "/sys/fs/cgroup"
CODE = "def handler(event, context):\n    return 'ok'\n"


def _all_trees(base: str) -> list[str]:
    """One zygote's tree: its directory in each controller."""
    version = jail.cgroup_version(ROOT)
    assert version is not None
    return jail.tree_dirs(version, ROOT, base)


def _trees(base: str) -> list[str]:
    """The directories of one zygote's tree that exist now."""
    return [path for path in _all_trees(base) if os.path.isdir(path)]


def _zygote(server_pid: int) -> int:
    for pid in children_of(server_pid):
        with open(f"/proc/{pid}/cmdline", "rb") as source:
            if b"zygote" in source.read():
                return pid
    raise AssertionError(f"no zygote among the children of {server_pid}")


def _invoked(server: Server) -> int:
    """Invoke a new function on ``server`` (so its zygote has a tree); return the zygote's pid."""
    client = server.client()
    assert invoke_json(client, create_python_function(client, CODE))[1] == "ok"
    return _zygote(server.process.pid)


def test_a_stopped_server_leaves_no_cgroup_tree(tmp_path: Path, features: dict[str, Any]) -> None:  # noqa: F811
    _require(features, "cgroup")
    server = start_server(tmp_path / "data")
    try:
        base = f"lamina-{_invoked(server)}"
        trees = _trees(base)
        assert trees, f"the zygote made no cgroup tree {base}"
        # The environment and the spares each have a cgroup in the tree, which the zygote holds.
        assert any(entry.startswith("env") for entry in os.listdir(trees[0]))
        assert _locked(base)
    finally:
        assert server.stop() == 0, server.log()
    assert _trees(base) == []


def test_a_killed_zygotes_tree_is_swept_and_a_live_one_kept(tmp_path: Path,
                                                            features: dict[str, Any]) -> None:  # noqa: F811
    _require(features, "cgroup")
    first = start_server(tmp_path / "first")
    try:
        zygote = _invoked(first)
        dead = f"lamina-{zygote}"
        orphans = children_of(zygote)  # each environment's runtime and, with namespaces, its init
        assert orphans
        os.kill(zygote, signal.SIGKILL)
        # Its environments die with it (PR_SET_PDEATHSIG for the runtimes; each init's lifeline
        # closes); the tree stays behind, empty.
        assert wait_for(lambda: not any(process_alive(pid) for pid in orphans), timeout=10), orphans
        assert wait_for(lambda: all(not _procs(tree) for tree in _subtrees(dead)), timeout=10)
        assert _trees(dead), "the killed zygote's tree should still be there before a sweep"
        second = start_server(tmp_path / "second")
        try:
            live = f"lamina-{_invoked(second)}"
            # The second server's start sweeps the dead tree (before its own zygotes start).
            assert _trees(dead) == [], _trees(dead)
            assert _trees(live) and _locked(live)
            assert invoke_json(second.client(), create_python_function(second.client(), CODE))[1] == "ok"
        finally:
            assert second.stop() == 0, second.log()
    finally:
        first.stop()


def test_the_sweep_skips_a_locked_tree_and_removes_an_unlocked_one(features: dict[str, Any]) -> None:  # noqa: F811
    _require(features, "cgroup")
    # A process that holds a tree the way a zygote does: jail.Cgroups in a child interpreter.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from lamina.sandbox import jail; c = jail.Cgroups(jail.cgroup_version()); "
         "c.acquire(128, 64); print(c.base, flush=True); sys.stdin.read(); c.close()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    held = holder.stdout.readline().strip()
    stale = f"lamina-test-{os.getpid()}"
    for tree in _all_trees(stale):
        os.makedirs(f"{tree}/env1")
    try:
        jail.sweep_cgroups(ROOT)
        assert _trees(stale) == []
        assert _trees(held), "the sweep removed a tree whose zygote is alive"
        assert os.path.isdir(f"{_trees(held)[0]}/env1")
        # The lock is the test of life: released, the same tree is stale.
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
        assert _trees(held) == [], "Cgroups.close() left its tree"
    finally:
        if holder.poll() is None:
            holder.kill()
        jail.sweep_cgroups(ROOT)


def _subtrees(base: str) -> list[str]:
    return [f"{tree}/{entry}" for tree in _trees(base) for entry in os.listdir(tree)
            if os.path.isdir(f"{tree}/{entry}")]


def _procs(cgroup: str) -> str:
    with open(f"{cgroup}/cgroup.procs") as source:
        return source.read().strip()


def _locked(base: str) -> bool:
    fd = os.open(_trees(base)[0], os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _doctor_cgroups() -> dict[str, str]:
    line: dict[str, str] = doctor_report()["server"]["cgroups"]
    return line


def test_doctor_counts_cgroups_and_stale_trees(features: dict[str, Any]) -> None:  # noqa: F811
    """Thousands of cgroups slow every start and invoke (docs/performance.md): the doctor says so."""
    _require(features, "cgroup")
    base = _all_trees(f"lamina-doctor-{os.getpid()}")[0]
    try:
        os.makedirs(f"{base}/env1")
        line = _doctor_cgroups()
        assert line["state"] == "on", line
        assert re.search(r"^\d+ cgroups; [1-9]\d* stale Lamina trees", line["reason"]), line
        for number in range(2, 5200):
            os.mkdir(f"{base}/env{number}")
        line = _doctor_cgroups()
        assert line["state"] == "off" and "above 5000" in line["reason"], line
    finally:
        jail.sweep_cgroups(ROOT)
    assert not os.path.exists(base)
