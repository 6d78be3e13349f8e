"""The limits :class:`jail.Cgroups` writes on a cgroup v2 hierarchy, laid out in a plain directory
(no root needed; the development machine runs cgroup v1, so this is the v2 path's only test).

On cgroupfs the kernel makes a cgroup's control files when its directory is made; here the test
makes them, empty, for the cgroups the pool will use (``env1``, ``env2``), so a value read back is
one the code wrote. A write to a regular file does not replace its content as a write to a control
file does, so before checking a rewrite the test empties the files again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.sandbox import jail

MIB = 1024 * 1024
LIMIT_FILES = ("memory.max", "memory.swap.max", "cpu.weight", "pids.max")


def _v2_root(tmp_path: Path, envs: int = 2, swap: bool = True) -> Path:
    """A cgroup v2 root and this process's (not yet made) tree, with the files cgroupfs would have."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    tree = root / f"lamina-{os.getpid()}"
    tree.mkdir()
    (tree / "cgroup.subtree_control").write_text("")
    for number in range(1, envs + 1):
        env = tree / f"env{number}"
        env.mkdir()
        for name in ("memory.max", "cpu.weight", "pids.max", "cgroup.procs", "memory.peak"):
            (env / name).write_text("")
        if swap:
            (env / "memory.swap.max").write_text("")
        (env / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
    return root


def _limits(root: Path, name: str) -> dict[str, str]:
    env = root / f"lamina-{os.getpid()}" / name
    return {file: (env / file).read_text() for file in LIMIT_FILES if (env / file).exists()}


def _clear(root: Path, name: str) -> None:
    env = root / f"lamina-{os.getpid()}" / name
    for file in LIMIT_FILES:
        if (env / file).exists():
            (env / file).write_text("")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return _v2_root(tmp_path)


@pytest.fixture
def cgroups(root: Path) -> Iterator[jail.Cgroups]:
    assert jail.cgroup_version(str(root)) == "v2"
    pool = jail.Cgroups("v2", root=str(root))
    yield pool
    pool.close()


def _expected(memory_mb: int, pids: int) -> dict[str, str]:
    """What AWS's model asks for: memory.max = MemorySize MiB, no swap, CPU in proportion to memory
    with 1,769 MB = one vCPU = cgroup v2's default weight of 100 (rounded down, at least 1)."""
    return {"memory.max": str(memory_mb * MIB), "memory.swap.max": "0",
            "cpu.weight": str(max(1, memory_mb * 100 // 1769)), "pids.max": str(pids)}


def test_the_tree_enables_the_controllers_it_limits(root: Path, cgroups: jail.Cgroups) -> None:
    assert (root / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (root / f"lamina-{os.getpid()}" / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"


@pytest.mark.parametrize(("memory_mb", "memory_max", "cpu_weight"),
                         [(128, "134217728", "7"), (160, "167772160", "9"), (1769, "1854930944", "100"),
                          (10240, "10737418240", "578")])
def test_acquire_writes_the_limits_of_the_memory_size(root: Path, cgroups: jail.Cgroups, memory_mb: int,
                                                      memory_max: str, cpu_weight: str) -> None:
    name = cgroups.acquire(memory_mb, 1024)
    assert name == "env1"
    assert cgroups.memory_dir(name) == str(root / f"lamina-{os.getpid()}" / "env1")
    assert _limits(root, name) == {"memory.max": memory_max, "memory.swap.max": "0", "cpu.weight": cpu_weight,
                                   "pids.max": "1024"}
    assert _limits(root, name) == _expected(memory_mb, 1024)


def test_cpu_weight_is_proportional_to_memory(root: Path, cgroups: jail.Cgroups) -> None:
    # 160 MB: 9 (one rounding, 100 * 160 // 1769); rounding the v1 shares first gave 8.
    for memory_mb in (128, 160, 256, 512, 1024, 1769, 3008, 3538, 5307, 10240):
        name = cgroups.acquire(memory_mb, 1024)
        weight = int(_limits(root, name)["cpu.weight"])
        assert memory_mb * 100 / 1769 - 1 < weight <= memory_mb * 100 / 1769, (memory_mb, weight)
        assert 1 <= weight <= 10000
        assert not cgroups.release(name)
        _clear(root, name)
    assert int(_limits(root, cgroups.acquire(3538, 1024))["cpu.weight"]) == 200  # two vCPUs: twice the weight


def test_without_swap_accounting_the_rest_is_still_written(tmp_path: Path) -> None:
    root = _v2_root(tmp_path, swap=False)
    pool = jail.Cgroups("v2", root=str(root))
    try:
        name = pool.acquire(1769, 512)
        assert _limits(root, name) == {"memory.max": "1854930944", "cpu.weight": "100", "pids.max": "512"}
        assert not (root / f"lamina-{os.getpid()}" / name / "memory.swap.max").exists()
    finally:
        pool.close()


def test_a_released_cgroup_is_reused_with_the_new_size(root: Path, cgroups: jail.Cgroups) -> None:
    small = cgroups.acquire(128, 1024)
    assert _limits(root, small) == _expected(128, 1024)
    assert cgroups.release(small) is False  # empty (no process in cgroup.procs), no OOM kill: pooled
    _clear(root, small)
    again = cgroups.acquire(1769, 2048)
    assert again == small
    assert _limits(root, again) == _expected(1769, 2048)
    # And back down: a large limit left over would let the next, smaller function use too much.
    assert cgroups.release(again) is False
    _clear(root, again)
    assert cgroups.acquire(128, 1024) == small
    assert _limits(root, small) == _expected(128, 1024)


def test_a_cgroup_with_a_process_left_is_not_reused(root: Path, cgroups: jail.Cgroups) -> None:
    first = cgroups.acquire(128, 1024)
    procs = root / f"lamina-{os.getpid()}" / first / "cgroup.procs"
    procs.write_text("4242\n")  # a straggler still exiting
    cgroups.release(first)
    second = cgroups.acquire(1769, 1024)
    assert second != first and second == "env2"
    assert _limits(root, second) == _expected(1769, 1024)


def test_release_reports_an_oom_kill_since_acquire(root: Path, cgroups: jail.Cgroups) -> None:
    events = root / f"lamina-{os.getpid()}" / "env1" / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n")  # from an earlier user of the cgroup
    name = cgroups.acquire(128, 1024)
    events.write_text("low 0\nhigh 0\nmax 4\noom 3\noom_kill 3\n")
    assert cgroups.release(name) is True
    assert cgroups.acquire(128, 1024) == name
    assert cgroups.release(name) is False


def test_set_memory_rewrites_a_spare_for_its_function(root: Path, cgroups: jail.Cgroups) -> None:
    """A spare environment's cgroup is acquired at 128 MB and resized when a function is assigned."""
    spare = cgroups.acquire(128, 1024)
    _clear(root, spare)
    cgroups.set_memory(spare, 1769)
    limits = _limits(root, spare)
    assert (limits["memory.max"], limits["cpu.weight"]) == ("1854930944", "100")
    _clear(root, spare)
    cgroups.set_memory(spare, 128)
    limits = _limits(root, spare)
    assert (limits["memory.max"], limits["cpu.weight"]) == ("134217728", "7")


def test_set_memory_to_the_size_a_cgroup_has_writes_nothing(root: Path, cgroups: jail.Cgroups) -> None:
    """The common case, a 128 MB function on a spare acquired at 128 MB, costs the zygote no writes;
    a pooled cgroup acquired again at another size is still resized."""
    spare = cgroups.acquire(128, 1024)
    _clear(root, spare)
    cgroups.set_memory(spare, 128)
    assert set(_limits(root, spare).values()) == {""}
    cgroups.set_memory(spare, 512)
    cgroups.release(spare)
    assert cgroups.acquire(128, 1024) == spare
    _clear(root, spare)
    cgroups.set_memory(spare, 512)
    assert _limits(root, spare)["memory.max"] == str(512 * MIB)


def test_attach_and_peak(root: Path, cgroups: jail.Cgroups) -> None:
    name = cgroups.acquire(128, 1024)
    cgroups.attach_self(name)
    env = root / f"lamina-{os.getpid()}" / name
    assert (env / "cgroup.procs").read_text() == str(os.getpid())
    (env / "memory.peak").write_text("123456789\n")
    assert cgroups.peak_bytes(name) == 123456789
