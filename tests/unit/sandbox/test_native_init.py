"""The native init of an environment's PID namespace (lamina.sandbox.init): built with the
machine's C compiler, it reaps every child and ends when the zygote closes its lifeline."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from tests.conftest import children_of, wait_for

from lamina.sandbox import init as native_init


def test_it_is_built_once_and_cached(tmp_path: Path) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.fail("this machine has no C compiler; .ci/run installs gcc")
    first = native_init.build(tmp_path)
    assert first is not None and os.access(first, os.X_OK)
    stamp = os.stat(first).st_mtime_ns
    assert native_init.build(tmp_path) == first
    assert os.stat(first).st_mtime_ns == stamp  # not rebuilt


def test_it_reaps_every_child_and_exits_when_the_lifeline_closes(tmp_path: Path) -> None:
    program = native_init.build(tmp_path)
    assert program is not None
    read_end, write_end = os.pipe()
    init = os.fork()
    if init == 0:  # becomes the init, with two children: one ends at once, one a little later
        os.close(write_end)
        for delay in (0.0, 0.2):
            if os.fork() == 0:
                time.sleep(delay)
                os._exit(3)
        os.set_inheritable(read_end, True)
        os.execv(program, ["lamina-init", str(read_end)])
    os.close(read_end)
    try:
        # Both children are forked before the exec: once it is the init, they are there to reap.
        assert wait_for(lambda: _name(init).startswith("lamina-init"), timeout=5), _name(init)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and children_of(init):  # a zombie counts until reaped
            time.sleep(0.02)
        assert children_of(init) == [], "the init left its children unreaped"
        assert os.waitpid(init, os.WNOHANG) == (0, 0), "the init ended before its lifeline closed"
    finally:
        os.close(write_end)
    deadline = time.monotonic() + 5
    while (ended := os.waitpid(init, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ended[0] == init and os.WIFEXITED(ended[1]) and os.WEXITSTATUS(ended[1]) == 0


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
