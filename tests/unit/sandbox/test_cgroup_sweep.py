"""The sweep's rule on a cgroup v2 layout, laid out in a plain directory (no root needed): a tree
whose lock nobody holds is removed, a held one is kept. The same code on the real cgroupfs (v1 on
the development machine) is tested in tests/integration/test_cgroup_cleanup.py."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from lamina.sandbox import jail


def _v2_root(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    return tmp_path


def _tree(root: Path, name: str, envs: int) -> Path:
    for number in range(1, envs + 1):
        (root / name / f"env{number}").mkdir(parents=True)
    return root / name


def test_unheld_trees_go_and_a_held_one_stays(tmp_path: Path) -> None:
    root = _v2_root(tmp_path)
    dead = _tree(root, "lamina-101", 3)
    live = _tree(root, "lamina-202", 2)
    other = _tree(root, "system.slice", 1)  # not Lamina's
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()", str(live)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        assert jail.stale_cgroup_trees(str(root)) == 1
        assert dead.exists()  # counting removes nothing
        assert jail.sweep_cgroups(str(root)) == 1
        assert not dead.exists()
        assert sorted(p.name for p in live.iterdir()) == ["env1", "env2"]
        assert other.exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # Its holder gone, the tree is stale.
    assert jail.sweep_cgroups(str(root)) == 1
    assert not live.exists() and other.exists()


def test_a_tree_that_cannot_be_emptied_is_left(tmp_path: Path) -> None:
    """On cgroupfs a cgroup with a process in it refuses rmdir; here a file plays the process."""
    root = _v2_root(tmp_path)
    tree = _tree(root, "lamina-303", 2)
    (tree / "env2" / "busy").write_text("")
    assert jail.sweep_cgroups(str(root)) == 0
    assert not (tree / "env1").exists()
    assert (tree / "env2").exists()


def test_no_cgroup_hierarchy_means_nothing_to_sweep(tmp_path: Path) -> None:
    _tree(tmp_path, "lamina-404", 1)
    assert jail.cgroup_version(str(tmp_path)) is None
    assert jail.sweep_cgroups(str(tmp_path)) == 0
    assert (tmp_path / "lamina-404").exists()


def test_the_lock_is_released_with_its_process(tmp_path: Path) -> None:
    """What the sweep relies on: the kernel drops an flock when its holder dies, however it dies."""
    tree = _tree(tmp_path, "lamina-505", 1)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; "
                               "fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); "
                               "print('held', flush=True); time.sleep(60)", str(tree)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    fd = os.open(tree, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            raise AssertionError("the lock was free while its holder lived")
        except BlockingIOError:
            pass
        holder.kill()
        holder.wait(timeout=30)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
