"""The native init of an environment's PID namespace (lamina.sandbox.init): built with the
machine's C compiler, it reaps its children and reports the runtime's wait status."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from lamina.sandbox import init as native_init


def test_it_is_built_once_and_cached(tmp_path: Path) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.fail("this machine has no C compiler; .ci/run installs gcc")
    first = native_init.build(tmp_path)
    assert first is not None and os.access(first, os.X_OK)
    stamp = os.stat(first).st_mtime_ns
    assert native_init.build(tmp_path) == first
    assert os.stat(first).st_mtime_ns == stamp  # not rebuilt


def run_as_init(program: str, runtime_action: str) -> int:
    """Fork a process that forks a 'runtime' (which does ``runtime_action``), then execs the init;
    returns the wait status the init reported."""
    read_end, write_end = os.pipe()
    parent = os.fork()
    if parent == 0:  # the environment's first process
        os.close(read_end)
        runtime = os.fork()
        if runtime == 0:
            if runtime_action == "exit 7":
                os._exit(7)
            os.kill(os.getpid(), signal.SIGKILL)
        orphan = os.fork()  # another process the init must reap, which ends after the runtime
        if orphan == 0:
            time.sleep(0.2)
            os._exit(0)
        os.set_inheritable(write_end, True)
        os.execv(program, ["lamina-init", str(runtime), str(write_end)])
    os.close(write_end)
    data = os.read(read_end, 4)
    os.close(read_end)
    _, status = os.waitpid(parent, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return int.from_bytes(data, "little")


def test_the_runtime_wait_status_is_reported(tmp_path: Path) -> None:
    program = native_init.build(tmp_path)
    assert program is not None
    status = run_as_init(program, "exit 7")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7
    status = run_as_init(program, "kill -9")
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
