"""The framed channel between the platform and Lamina's Python bootstrap (lamina.sandbox.channel):
the platform's parser fed in pieces, and the real bootstrap process on the other end of a socket pair."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lamina.sandbox.channel import HEAD, FramedChannel, FramedReply, frame
from lamina.sandbox.runtime_api import Parked

BOOTSTRAP = Path(__file__).parents[3] / "src" / "lamina" / "sandbox" / "runtimes" / "python" / "bootstrap.py"


class Recorder:
    """A RuntimeApiHandler that notes every call; ``status`` is what results are answered."""

    def __init__(self, status: int = 202) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.parked: list[Parked] = []
        self.status = status

    def on_next(self, reply: Parked) -> None:
        self.parked.append(reply)
        self.calls.append(("next",))

    def on_response(self, request_id: str, body: bytes) -> int:
        self.calls.append(("response", request_id, body))
        return self.status

    def on_error(self, request_id: str, body: bytes, error_type: str) -> int:
        self.calls.append(("error", request_id, body, error_type))
        return self.status

    def on_init_error(self, body: bytes, error_type: str) -> int:
        self.calls.append(("init_error", body, error_type))
        return 202


class Transport:
    """Collects what the channel writes."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True


def frames(data: bytes) -> list[tuple[bytes, list[bytes], bytes]]:
    found = []
    while data:
        kind, header_length, body_length = HEAD.unpack_from(data)
        header = data[HEAD.size:HEAD.size + header_length]
        body = data[HEAD.size + header_length:HEAD.size + header_length + body_length]
        found.append((kind, header.split(b"\0") if header else [], body))
        data = data[HEAD.size + header_length + body_length:]
    return found


def channel(recorder: Recorder, limit: int = 100) -> tuple[FramedChannel, Transport]:
    transport = Transport()
    made = FramedChannel(recorder, limit)
    made.connection_made(transport)  # type: ignore[arg-type]
    return made, transport


def test_frames_split_anywhere_reach_the_handler_in_order() -> None:
    recorder = Recorder()
    made, transport = channel(recorder)
    stream = (frame(b"N", []) + frame(b"R", [b"id-1", b"application/json"], b'{"ok": 1}') + frame(b"N", [])
              + frame(b"E", [b"id-2", b"ValueError", b"{}"], b'{"errorType": "ValueError"}')
              + frame(b"X", [b"Runtime.ImportModuleError"], b"{}"))
    for index in range(len(stream)):  # one byte at a time: every boundary is a split
        made.data_received(stream[index:index + 1])
    assert recorder.calls == [("next",), ("response", "id-1", b'{"ok": 1}'), ("next",),
                              ("error", "id-2", b'{"errorType": "ValueError"}', "ValueError"),
                              ("init_error", b"{}", "Runtime.ImportModuleError")]
    assert transport.written == b""  # accepted results are not answered


def test_a_result_or_error_frame_carries_the_peak_memory_to_on_peak() -> None:
    recorder = Recorder()
    peaks: list[int] = []
    made = FramedChannel(recorder, 100, peaks.append)
    made.connection_made(Transport())  # type: ignore[arg-type]
    made.data_received(frame(b"R", [b"id-1", b"application/json", b"52428800"], b"{}")
                       + frame(b"E", [b"id-2", b"ValueError", b"", b"62914560"], b"{}")
                       + frame(b"R", [b"id-3", b"application/json"], b"{}")  # an older bootstrap: none
                       + frame(b"R", [b"id-4", b"application/json", b"lots"], b"{}"))  # not a number: ignored
    assert peaks == [52428800, 62914560]
    assert [call[1] for call in recorder.calls] == ["id-1", "id-2", "id-3", "id-4"]


def test_a_parked_reply_sends_the_invocation_with_its_headers() -> None:
    recorder = Recorder()
    made, transport = channel(recorder)
    made.data_received(frame(b"N", []))
    reply = recorder.parked[0]
    assert isinstance(reply, FramedReply) and reply.open
    reply.invocation(b'{"n": 1}', [(b"Lambda-Runtime-Aws-Request-Id", b"abc"), (b"Lambda-Runtime-Deadline-Ms", b"9")])
    [(kind, fields, body)] = frames(bytes(transport.written))
    assert kind == b"I" and body == b'{"n": 1}'
    assert fields == [b"content-type", b"application/json", b"lambda-runtime-aws-request-id", b"abc",
                      b"lambda-runtime-deadline-ms", b"9"]
    made.connection_lost(None)
    assert not reply.open


def test_a_refused_result_is_answered_with_its_status() -> None:
    recorder = Recorder(status=400)
    made, transport = channel(recorder)
    made.data_received(frame(b"R", [b"unknown-id", b"application/json"], b"{}"))
    assert frames(bytes(transport.written)) == [(b"S", [b"400", b"Invalid request ID"], b"")]


def test_an_oversized_result_fails_the_invocation_and_the_stream_goes_on() -> None:
    recorder = Recorder()
    made, transport = channel(recorder, limit=10)
    big = frame(b"R", [b"id-1", b"application/json"], b"x" * 25)
    stream = big + frame(b"N", [])
    made.data_received(stream[:HEAD.size + 8])  # the header, and part of the body
    made.data_received(stream[HEAD.size + 8:HEAD.size + 20])
    made.data_received(stream[HEAD.size + 20:])
    error = recorder.calls[0]
    assert error[:2] == ("error", "id-1") and error[3] == "Function.ResponseSizeTooLarge"
    assert json.loads(error[2])["errorMessage"] == ("Response payload size exceeded maximum allowed payload size "
                                                   "(10 bytes).")
    assert recorder.calls[1] == ("next",)
    [(kind, fields, _)] = frames(bytes(transport.written))
    assert kind == b"S" and fields[0] == b"413"


def test_an_unknown_frame_is_refused() -> None:
    recorder = Recorder()
    made, transport = channel(recorder)
    made.data_received(frame(b"Q", []))
    assert recorder.calls == []
    assert frames(bytes(transport.written))[0][:2] == (b"S", [b"400", b"Unknown frame b'Q'"])


# -- the bootstrap on the other end ------------------------------------------------------------------


def read_frame(sock: socket.socket) -> tuple[bytes, list[bytes], bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "the bootstrap closed the channel"
            data += chunk
        return data

    kind, header_length, body_length = struct.unpack("!cII", exactly(HEAD.size))
    header = exactly(header_length) if header_length else b""
    return kind, header.split(b"\0") if header else [], exactly(body_length) if body_length else b""


def start_bootstrap(tmp_path: Path, source: str) -> tuple[subprocess.Popen[bytes], socket.socket]:
    root = tmp_path / "task"
    root.mkdir()
    (root / "app.py").write_text(textwrap.dedent(source))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.settimeout(20)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "_HANDLER": "app.handler", "LAMBDA_TASK_ROOT": str(root),
           "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "_LAMINA_RUNTIME_FD": str(theirs.fileno()),
           "AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.Popen([sys.executable, str(BOOTSTRAP)], env=env, pass_fds=[theirs.fileno()],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    theirs.close()
    return process, ours


def invocation(request_id: str, payload: bytes) -> bytes:
    return frame(b"I", [b"content-type", b"application/json", b"lambda-runtime-aws-request-id", request_id.encode(),
                        b"lambda-runtime-deadline-ms", b"9999999999999",
                        b"lambda-runtime-invoked-function-arn", b"arn:aws:lambda:us-east-1:0:function:fn"], payload)


@pytest.fixture
def finish() -> Any:
    started: list[subprocess.Popen[bytes]] = []
    yield started.append
    for process in started:
        process.kill()
        process.wait()


def test_the_bootstrap_speaks_frames_when_given_a_channel(tmp_path: Path, finish: Any) -> None:
    process, sock = start_bootstrap(tmp_path, """
        import os
        def handler(event, context):
            if event.get("fail"):
                raise ValueError("no")
            return {"got": event, "id": context.aws_request_id, "fd_var": os.environ.get("_LAMINA_RUNTIME_FD")}
    """)
    finish(process)
    assert read_frame(sock) == (b"N", [], b"")  # ready, without a GET over HTTP
    sock.sendall(invocation("req-1", b'{"n": 1}'))
    kind, fields, body = read_frame(sock)
    assert (kind, fields[:2]) == (b"R", [b"req-1", b"application/json"])
    # Its peak memory: the bootstrap's own resident peak here (it was given no cgroup file).
    assert fields[2].isdigit() and 5 << 20 < int(fields[2]) < 1 << 30, fields
    # The handler ran; the channel's variable is the bootstrap's, not the function's.
    assert json.loads(body) == {"got": {"n": 1}, "id": "req-1", "fd_var": None}
    assert read_frame(sock) == (b"N", [], b"")  # the next request follows in the same write
    sock.sendall(frame(b"S", [b"400", b"Invalid request ID"]) + invocation("req-2", b'{"fail": true}'))
    kind, fields, body = read_frame(sock)
    assert (kind, fields[:2]) == (b"E", [b"req-2", b"ValueError"])
    assert len(fields) == 4 and fields[3].isdigit(), fields
    assert json.loads(body)["errorMessage"] == "no"
    sock.close()
    process.wait(timeout=20)
    output = process.stdout.read().decode() if process.stdout else ""
    assert "the Runtime API answered 400" in output  # a refusal is reported, not fatal
    assert process.returncode == 2  # the channel closed: a Runtime API error


def test_an_init_error_goes_out_as_a_frame(tmp_path: Path, finish: Any) -> None:
    process, sock = start_bootstrap(tmp_path, "import does_not_exist\n")
    finish(process)
    kind, fields, body = read_frame(sock)
    assert (kind, fields) == (b"X", [b"Runtime.ImportModuleError"])
    assert "does_not_exist" in json.loads(body)["errorMessage"]
    assert process.wait(timeout=20) == 1


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_read_pending_hands_over_what_a_runtime_wrote_before_it_exited(loop: str) -> None:
    """What the platform does when a runtime's exit is reported: frames the loop has not read yet
    (an init error sent just before exiting) are handled at once, before the exit decides anything."""
    import asyncio

    import uvloop

    recorder = Recorder()

    async def main() -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        channel = FramedChannel(recorder, 1 << 20)
        await asyncio.get_running_loop().connect_accepted_socket(lambda: channel, ours)
        theirs.sendall(frame(b"X", [b"Runtime.ImportModuleError"], b'{"errorType": "Runtime.ImportModuleError"}'))
        theirs.close()
        channel.read_pending()  # no turn of the loop in between
        assert recorder.calls == [("init_error", b'{"errorType": "Runtime.ImportModuleError"}',
                                   "Runtime.ImportModuleError")]
        channel.close()

    if loop == "uvloop":
        uvloop.run(main())
    else:
        asyncio.run(main())
