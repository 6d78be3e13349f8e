"""A stand-in Runtime API (2018-06-01) for driving the Python bootstrap as a real process.

It hands out queued invocations on ``GET next`` and records every POST. When a process is attached,
the POST handler drains that process's stdout pipe *before* answering, so a record's ``output`` is
exactly what the runtime had written to the pipe when it posted the result.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NEXT_PATH = "/2018-06-01/runtime/invocation/next"


@dataclass
class Post:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    output: bytes  # everything on the process's stdout when the POST arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Invocation:
    headers: dict[str, str]
    body: bytes
    chunked: bool = False


class RuntimeApiStub:
    def __init__(self) -> None:
        self.invocations: queue.Queue[Invocation] = queue.Queue()
        self.posts: queue.Queue[Post] = queue.Queue()
        self.connections = 0
        self.post_status = 202
        self.close_after_post = False
        self.drop_after_next = False  # close the connection after a GET next answer, without saying so
        self.output = bytearray()
        self._stdout_fd: int | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.stub = self  # type: ignore[attr-defined]
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and drop parked ``GET next`` requests (their connections close)."""
        if not self._stopped.is_set():
            self._server.shutdown()
            self._server.server_close()  # closed before parked requests end: reconnects are refused
            self._stopped.set()

    def attach(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self._stdout_fd = process.stdout.fileno()
        os.set_blocking(self._stdout_fd, False)

    def drain(self) -> bytes:
        """Read whatever the attached process has written so far; returns all output seen."""
        with self._lock:
            while self._stdout_fd is not None:
                try:
                    chunk = os.read(self._stdout_fd, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                self.output += chunk
            return bytes(self.output)

    def wait_output(self, needle: bytes, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in (output := self.drain()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared in {output!r}")
            time.sleep(0.005)
        return output

    def invoke(self, event: Any = None, request_id: str = "req-1", *, body: bytes | None = None,
               timeout: float = 5.0, chunked: bool = False, **headers: str) -> Post:
        """Queue one invocation and wait for the runtime's POST about it."""
        all_headers = {"Lambda-Runtime-Aws-Request-Id": request_id,
                       "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30_000),
                       "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
                       "Content-Type": "application/json"}
        all_headers.update({name.replace("_", "-"): value for name, value in headers.items()})
        payload = json.dumps(event).encode() if body is None else body
        self.invocations.put(Invocation(all_headers, payload, chunked))
        return self.posts.get(timeout=timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real Runtime API

    @property
    def stub(self) -> RuntimeApiStub:
        return self.server.stub  # type: ignore[attr-defined,no-any-return]

    def setup(self) -> None:
        super().setup()
        with self.stub._lock:
            self.stub.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        assert self.path == NEXT_PATH, self.path
        while True:
            try:
                invocation = self.stub.invocations.get(timeout=0.02)
                break
            except queue.Empty:
                if self.stub._stopped.is_set():
                    self.close_connection = True
                    return
        self.send_response(200)
        for name, value in invocation.headers.items():
            self.send_header(name, value)
        if invocation.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = len(invocation.body) // 2
            for part in (invocation.body[:half], invocation.body[half:], b""):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        else:
            self.send_header("Content-Length", str(len(invocation.body)))
            self.end_headers()
            self.wfile.write(invocation.body)
        if self.stub.drop_after_next:
            self.close_connection = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        output = self.stub.drain()
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.stub.posts.put(Post(self.path, headers, body, output))
        answer = b'{"status":"OK"}'
        self.send_response(self.stub.post_status)
        self.send_header("Content-Length", str(len(answer)))
        if self.stub.close_after_post:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)
