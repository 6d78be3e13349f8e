"""The platform's side of a real zygote: an environment whose process ends at once still has its
exit reported, even when the zygote's answer with its pid and the news of its exit are read together;
an environment whose caller gave up before the answer is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import process_alive, wait_for

from lamina.sandbox import init as native_init
from lamina.sandbox.environment import Spec
from lamina.sandbox.spawner import Spawner, Zygote, ZygoteConfig, kill_environment


@contextlib.asynccontextmanager
async def _zygote(tmp_path: Path, isolation: str = "off", init: str | None = None) -> AsyncIterator[Zygote]:
    """A started zygote (without isolation unless asked), for ``_request(tmp_path, ...)``."""
    code = tmp_path / "code"
    code.mkdir()
    # With isolation, the code folder is what an environment must not see beyond its /var/task.
    spawner = Spawner(ZygoteConfig(isolation, str(code), (str(code),), str(tmp_path), init))
    try:
        zygote = spawner.zygote(sys.executable)
        await asyncio.wait_for(zygote.features(), 30)
        yield zygote
    finally:
        spawner.close()


def _request(tmp_path: Path, argv: list[str]) -> dict[str, Any]:
    """The spawn request of an environment that runs ``argv`` instead of the Python bootstrap."""
    return dict(Spec(env={"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"}, code_sha="x", code_path=str(tmp_path / "code"),
                     memory_mb=128, tmp_mb=64, exec_argv=argv).request())


def test_an_exit_read_together_with_the_pid_still_reaches_the_environment(tmp_path: Path) -> None:
    exits: list[int] = []

    async def main() -> None:
        async with _zygote(tmp_path) as zygote:
            exited = asyncio.get_running_loop().create_future()

            def on_exit(status: int, oom: bool, peak_bytes: int) -> None:
                exits.append(os.waitstatus_to_exitcode(status))
                exited.set_result(None)

            read_fd, write_fd = os.pipe()
            spawn = asyncio.ensure_future(zygote.spawn(_request(tmp_path, ["/bin/sh", "-c", "exit 3"]), [write_fd],
                                                       on_exit))
            await asyncio.sleep(0)  # the request is sent
            os.close(write_fd)
            # Keep the loop busy while the zygote forks, answers with the pid, and reports the exit:
            # both messages are then waiting, and one read takes them both before spawn() resumes.
            time.sleep(1.0)
            spawned = await asyncio.wait_for(spawn, 10)
            await asyncio.wait_for(exited, 10)
            assert spawned.pid > 0 and zygote.environments == 0
            os.close(read_fd)

    asyncio.run(main())
    assert exits == [3]


@pytest.mark.parametrize(("isolation", "init"), [("off", None), ("auto", None), ("auto", "native"), ("auto", "broken")])
def test_requests_waiting_together_each_get_their_own_environment(tmp_path: Path, isolation: str,
                                                                  init: str | None) -> None:
    """More requests than one batch of forks, all waiting when the zygote reads: every one gets its
    own environment, its own output and its own exit. With isolation, whichever init the PID
    namespaces get: the Python one, the native one, or the Python one after the native one failed
    to start (here: a file that is not a program)."""
    count = 20
    exits: dict[int, int] = {}
    program = None
    if init == "native":
        program = native_init.build(tmp_path / "bin")
        assert program is not None
    elif init == "broken":
        program = str(tmp_path / "not-a-program")
        Path(program).write_text("not a program\n")

    async def main() -> None:
        async with _zygote(tmp_path, isolation, program) as zygote:
            done = asyncio.get_running_loop().create_future()

            def on_exit(index: int) -> Callable[[int, bool, int], None]:
                def exited(status: int, oom: bool, peak_bytes: int) -> None:
                    exits[index] = os.waitstatus_to_exitcode(status)
                    if len(exits) == count:
                        done.set_result(None)
                return exited

            pipes = [os.pipe() for _ in range(count)]
            spawns = [asyncio.ensure_future(zygote.spawn(
                _request(tmp_path, ["/bin/sh", "-c", f"echo environment {index}; exit {index}"]), [write_fd],
                on_exit(index))) for index, (_read_fd, write_fd) in enumerate(pipes)]
            await asyncio.sleep(0)  # every request is sent before the zygote answers any
            time.sleep(0.5)
            spawned = await asyncio.wait_for(asyncio.gather(*spawns), 30)
            await asyncio.wait_for(done, 30)
            assert len({environment.pid for environment in spawned}) == count
            for index, (read_fd, write_fd) in enumerate(pipes):
                os.close(write_fd)
                with os.fdopen(read_fd) as output:
                    assert output.read() == f"environment {index}\n"

    asyncio.run(main())
    assert exits == {index: index for index in range(count)}


def test_an_environment_whose_spawn_was_cancelled_is_stopped(tmp_path: Path) -> None:
    marker = f"{os.getpid() % 1000 + 1000}.{time.time_ns() % 1000000}"  # a sleep nobody else runs

    def running() -> bool:
        found = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, check=False)
        return found.returncode == 0

    async def main() -> None:
        async with _zygote(tmp_path) as zygote:
            read_fd, write_fd = os.pipe()
            spawn = asyncio.ensure_future(zygote.spawn(_request(tmp_path, ["/bin/sleep", marker]), [write_fd],
                                                       lambda *_: None))
            await asyncio.sleep(0)  # the request is sent; its caller gives up before the answer
            spawn.cancel()
            os.close(write_fd)
            deadline = time.monotonic() + 10
            while zygote._pending and time.monotonic() < deadline:  # until the zygote's answer is read
                await asyncio.sleep(0.01)
            assert not zygote._pending, "the zygote never answered"
            await asyncio.sleep(0.2)
            assert not running(), "the environment of a cancelled spawn is still running"
            os.close(read_fd)

    asyncio.run(main())


def test_killing_an_environment_reaches_one_that_has_no_group_of_its_own_yet() -> None:
    """A process still in its parent's group (before its setsid) is killed too, and the test's
    own group is left alone."""
    early = subprocess.Popen(["sleep", "60"])
    assert os.getpgid(early.pid) == os.getpgid(0)
    kill_environment(early.pid)
    assert early.wait(timeout=5) == -9


def test_killing_an_environment_takes_its_whole_group() -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE,
                              start_new_session=True)
    assert leader.stdout is not None
    grandchild = int(leader.stdout.readline())
    kill_environment(leader.pid)
    leader.wait(timeout=5)
    assert wait_for(lambda: not process_alive(grandchild), timeout=5), \
        f"the grandchild {grandchild} outlived its environment"
