"""Lamina's HTTP/1.1 server (lamina.httpd) on a real socket, with a small application behind it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from lamina.httpd import HttpServer, Request, Response

LIMIT = 1000


class EchoApp:
    """Answers with what it saw; ``/slow`` waits for ``release``; ``/boom`` raises."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.seen: list[Request] = []

    def limit(self, request: Request) -> int:
        return LIMIT

    def too_large(self, request: Request) -> Response:
        return Response(413, [("content-type", "text/plain")], b"too large")

    async def handle(self, request: Request) -> Response:
        self.seen.append(request)
        if request.path == "/boom":
            raise RuntimeError("boom")
        if request.path == "/slow":
            await self.release.wait()
        body = json.dumps({"method": request.method, "path": request.path, "query": request.query,
                           "headers": request.headers, "body": request.body.decode(),
                           "version": request.http_version}).encode()
        return Response(200, [("content-type", "application/json"), ("x-repeat", "a"), ("x-repeat", "b")], body)


Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


Served = tuple[EchoApp, HttpServer, Connect]


def run(scenario: Callable[[Served], Coroutine[Any, Any, None]]) -> None:
    """Run ``scenario`` against a server on a free port, then shut it down."""

    async def main() -> None:
        app = EchoApp()
        server = HttpServer(app)
        await server.start("127.0.0.1", 0)
        assert server._server is not None
        port = server._server.sockets[0].getsockname()[1]

        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection("127.0.0.1", port)

        try:
            await asyncio.wait_for(scenario((app, server, connect)), 20)
        finally:
            app.release.set()
            await server.shutdown(1)

    asyncio.run(main())


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, list[str]], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.setdefault(name.lower(), []).append(value.strip())
    body = await reader.readexactly(int(headers["content-length"][0]))
    return status, headers, body


def post(path: str, body: bytes, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_request_reaches_the_application_whole() -> None:
    async def scenario(served: Served) -> None:
        _, _, connect = served
        reader, writer = await connect()
        writer.write(post("/a%2Fb/c?x=1&y=%20", b'{"n": 1}', "X-Custom: One", "x-custom: two"))
        status, headers, body = await read_response(reader)
        seen = json.loads(body)
        assert status == 200
        assert seen["method"] == "POST"
        assert seen["path"] == "/a%2Fb/c"  # raw: percent-encoding kept for SigV4
        assert seen["query"] == "x=1&y=%20"
        assert ["x-custom", "One"] in seen["headers"] and ["x-custom", "two"] in seen["headers"]
        assert seen["body"] == '{"n": 1}'
        assert headers["x-repeat"] == ["a", "b"]
        assert "date" in headers and "connection" not in headers
        writer.close()

    run(scenario)


def test_chunked_request_bodies_are_joined() -> None:
    async def scenario(served: Served) -> None:
        _, _, connect = served
        reader, writer = await connect()
        writer.write(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
        status, _, body = await read_response(reader)
        assert status == 200 and json.loads(body)["body"] == "abcdefg"
        writer.close()

    run(scenario)


def test_pipelined_requests_are_answered_in_order() -> None:
    async def scenario(served: Served) -> None:
        _, _, connect = served
        reader, writer = await connect()
        writer.write(b"".join(post(f"/r{i}", str(i).encode()) for i in range(40)))
        for i in range(40):
            status, _, body = await read_response(reader)
            assert status == 200 and json.loads(body)["path"] == f"/r{i}"
        writer.close()

    run(scenario)


def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async def scenario(served: Served) -> None:
        app, _, connect = served
        reader, writer = await connect()
        for i in range(5):
            writer.write(post("/k", str(i).encode()))
            status, _, body = await read_response(reader)
            assert status == 200 and json.loads(body)["body"] == str(i)
        assert len(app.seen) == 5
        writer.close()

    run(scenario)


def test_connection_close_and_http_1_0_close_after_the_answer() -> None:
    async def scenario(served: Served) -> None:
        _, _, connect = served
        for request in (post("/c", b"", "Connection: close"), b"GET /old HTTP/1.0\r\n\r\n"):
            reader, writer = await connect()
            writer.write(request)
            status, headers, _ = await read_response(reader)
            assert status == 200 and headers["connection"] == ["close"]
            assert await asyncio.wait_for(reader.read(), 5) == b""  # the server closed it
            writer.close()

    run(scenario)


def test_expect_100_continue_gets_an_interim_answer() -> None:
    async def scenario(served: Served) -> None:
        _, _, connect = served
        reader, writer = await connect()
        writer.write(b"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(b"hello")
        status, _, body = await read_response(reader)
        assert status == 200 and json.loads(body)["body"] == "hello"
        writer.close()

    run(scenario)


def test_an_oversized_body_is_refused_from_its_headers() -> None:
    async def scenario(served: Served) -> None:
        app, _, connect = served
        reader, writer = await connect()
        writer.write(post("/big", b"x" * (LIMIT + 1)))
        status, headers, body = await read_response(reader)
        assert (status, body) == (413, b"too large")
        assert headers["connection"] == ["close"]
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert app.seen == []  # the application never saw it
        writer.close()

    run(scenario)


def test_an_oversized_chunked_body_is_refused() -> None:
    async def scenario(served: Served) -> None:
        app, _, connect = served
        reader, writer = await connect()
        chunk = b"x" * 600
        writer.write(b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"258\r\n" + chunk + b"\r\n" + b"258\r\n" + chunk + b"\r\n0\r\n\r\n")
        status, _, _ = await read_response(reader)
        assert status == 413 and app.seen == []
        writer.close()

    run(scenario)


def test_malformed_requests_get_400() -> None:
    async def scenario(served: Served) -> None:
        app, _, connect = served
        reader, writer = await connect()
        writer.write(b"THIS IS NOT HTTP\r\n\r\n")
        status, _, body = await read_response(reader)
        assert status == 400 and b"Malformed HTTP request" in body
        assert app.seen == []
        writer.close()

    run(scenario)


def test_an_application_error_is_a_500_and_the_connection_lives_on() -> None:
    async def scenario(served: Served) -> None:
        _, _, connect = served
        reader, writer = await connect()
        writer.write(post("/boom", b""))
        status, _, _ = await read_response(reader)
        assert status == 500
        writer.write(post("/after", b""))
        status, _, body = await read_response(reader)
        assert status == 200 and json.loads(body)["path"] == "/after"
        writer.close()

    run(scenario)


def test_head_answers_have_no_body() -> None:
    async def scenario(served: Served) -> None:
        _, _, connect = served
        reader, writer = await connect()
        writer.write(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + post("/next", b"n"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: " in head
        status, _, body = await read_response(reader)  # the next answer follows directly: no body was sent
        assert status == 200 and json.loads(body)["path"] == "/next"
        writer.close()

    run(scenario)


def test_shutdown_finishes_in_flight_requests_and_closes_idle_ones() -> None:
    async def scenario(served: Served) -> None:
        app, server, connect = served
        idle_reader, idle_writer = await connect()
        idle_writer.write(post("/warm", b""))
        await read_response(idle_reader)
        reader, writer = await connect()
        writer.write(post("/slow", b"in flight"))
        while not any(r.path == "/slow" for r in app.seen):
            await asyncio.sleep(0.01)
        stopping = asyncio.create_task(server.shutdown(5))
        assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # the idle connection is closed at once
        await asyncio.sleep(0.05)
        assert not stopping.done()  # waiting for the request in flight
        app.release.set()
        status, headers, body = await read_response(reader)
        assert status == 200 and json.loads(body)["body"] == "in flight"
        assert headers["connection"] == ["close"]
        await asyncio.wait_for(stopping, 5)
        with pytest.raises(OSError):
            await connect()  # no longer listening
        writer.close()
        idle_writer.close()

    run(scenario)
