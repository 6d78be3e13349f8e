"""A minimal HTTP/1.1 keep-alive client over a raw socket, and a multi-connection load loop.

Why not an HTTP library: at sub-millisecond latencies the client is part of what is measured, and
httpx alone costs 450-880 µs per request on this machine (performance.md B.3). This client sends
pre-built request bytes in one write and reads exactly ``Content-Length`` bytes of body; it does
not support chunked responses (Lamina and uvicorn both send ``Content-Length`` here).
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass

CRLF2 = b"\r\n\r\n"


class HttpError(RuntimeError):
    """The server answered something this client cannot read."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def build_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                  host: str = "127.0.0.1") -> bytes:
    """The bytes of one keep-alive request, built once and sent many times."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/json")
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def function_failed(head: bytes) -> bool:
    """Whether a response head (status line and headers) carries Lambda's function-error marker
    (``X-Amz-Function-Error``; a failed invoke is still a 200). Header names are case-insensitive."""
    return b"\r\nx-amz-function-error:" in head.lower()


def _split_head(head: bytes) -> tuple[int, int]:
    """Status code and Content-Length of a response head (without the blank line)."""
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        raise HttpError(f"response without Content-Length: {head[:200]!r}")
    end = lower.find(b"\r\n", at + 2)
    return status, int(lower[at + 17:end if end >= 0 else None])


class KeepAliveClient:
    """One persistent connection; requests go out one at a time."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout_s: float = 60.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""

    def roundtrip(self, request: bytes) -> tuple[int, bytes, bytes]:
        """Send one request and return (status, raw head, body); the hot loop of the latency tests."""
        self.sock.sendall(request)
        buf = self._buf
        recv = self.sock.recv
        while True:
            at = buf.find(CRLF2)
            if at >= 0:
                break
            chunk = recv(65536)
            if not chunk:
                raise HttpError("connection closed by the server")
            buf += chunk
        head = buf[:at]
        status, length = _split_head(head)
        end = at + 4 + length
        while len(buf) < end:
            chunk = recv(max(65536, end - len(buf)))
            if not chunk:
                raise HttpError("connection closed by the server mid-body")
            buf += chunk
        self._buf = buf[end:]
        return status, head, buf[at + 4:end]

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> Response:
        status, head, payload = self.roundtrip(build_request(method, path, body, headers))
        parsed: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
        return Response(status, parsed, payload)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> KeepAliveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def timed_roundtrips(client: KeepAliveClient, request: bytes, count: int, expect: int = 200,
                     budget_s: float = 120.0) -> list[float]:
    """``count`` sequential round trips; each latency in microseconds. Raises on another status, and
    when the loop outlives ``budget_s`` (a benchmark must stop by itself on a broken server)."""
    lats: list[float] = []
    append = lats.append
    clock = time.perf_counter
    roundtrip = client.roundtrip
    give_up = clock() + budget_s
    for i in range(count):
        if not i & 255 and clock() > give_up:
            raise HttpError(f"{i} of {count} round trips took over {budget_s} s")
        t0 = clock()
        status, head, body = roundtrip(request)
        append((clock() - t0) * 1e6)
        # A Lambda function error is a 200 too; its marker header must fail the run, not count.
        if status != expect or function_failed(head):
            raise HttpError(f"status {status}: {body[:300]!r}")
    return lats


def closed_loop_load(port: int, request: bytes, connections: int, duration_s: float) -> dict[str, float]:
    """wrk's fallback: ``connections`` keep-alive sockets, each with one request in flight, for
    ``duration_s``, driven by one selector loop. Python is slower than wrk, so this client shares
    the CPU less fairly and under-reports the server's capacity; results say which client ran."""
    selector = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        socks.append(sock)
        selector.register(sock, selectors.EVENT_READ, [b""])
        sock.send(request)
    done = errors = 0
    started = time.perf_counter()
    deadline = started + duration_s
    try:
        while time.perf_counter() < deadline:
            for key, _ in selector.select(timeout=0.5):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                sock = ready
                state: list[bytes] = key.data
                chunk = sock.recv(65536)
                if not chunk:
                    raise HttpError("connection closed by the server")
                buf = state[0] + chunk
                at = buf.find(CRLF2)
                if at < 0:
                    state[0] = buf
                    continue
                status, length = _split_head(buf[:at])
                if len(buf) < at + 4 + length:
                    state[0] = buf
                    continue
                state[0] = buf[at + 4 + length:]
                done += 1
                errors += status != 200
                sock.send(request)
    finally:
        elapsed = time.perf_counter() - started
        selector.close()
        for sock in socks:
            sock.close()
    return {"requests": done, "non_2xx": errors, "seconds": elapsed, "req_per_s": done / elapsed}
