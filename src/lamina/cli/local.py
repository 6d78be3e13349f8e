"""``lamina local invoke`` and ``lamina local start-api``: a template run without a server.

Both start an ephemeral platform in this process (:mod:`lamina.local`), deploy the template into
it with the deploy engine, do their work, and leave nothing behind when they end (normally, on an
error, on SIGINT or SIGTERM): no process, no temporary folder.

``local invoke [FN]`` invokes one function (a logical id or a function name; optional when the
template has one function) and prints what ``lamina invoke --tail`` prints: the payload on stdout,
the log tail and REPORT on stderr, or the same JSON document with ``--output json``. Exit codes: 0
success, 1 the function failed, 2 the template, its code, a resource or the invoke was refused.

``local start-api`` serves the template's HTTP APIs at ``http://HOST:PORT/<route path>``
(:mod:`lamina.local.api` says how several APIs share the port) until SIGINT or SIGTERM.
``--watch`` redeploys before the next request whenever the template or a code folder changed, and
says what it redeployed. With ``--output json`` every line on stdout is one JSON object:
``{"event": "listening", ...}`` first, then ``{"event": "redeployed", ...}`` per redeploy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from lamina.local.platform import EphemeralPlatform
    from lamina.local.stack import LocalStack, Redeploy

T = TypeVar("T")

#: Exit code after SIGINT/SIGTERM interrupted a local invoke (the shell's 128 + SIGINT).
INTERRUPTED = 130


@dataclass(frozen=True)
class InvokeOptions:
    function: str | None
    payload: bytes
    template: Path = Path(".")
    parameters: dict[str, str] = field(default_factory=dict)
    output: str = "table"


@dataclass(frozen=True)
class ApiOptions:
    template: Path = Path(".")
    parameters: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 3000
    watch: bool = False
    output: str = "table"


def _configure_logging() -> None:
    # The platform logs through `logging`; warnings and errors are worth seeing, its info chatter is not.
    level = os.environ.get("LAMINA_LOG_LEVEL", "warning").upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _stack(template: Path, parameters: dict[str, str]) -> LocalStack:
    from lamina.config import Settings
    from lamina.local.stack import LocalStack

    settings = Settings.from_environ(os.environ)
    return LocalStack(template, region=settings.region, account_id=settings.account_id, parameters=parameters)


def _stop_event() -> asyncio.Event:
    """Set by SIGINT or SIGTERM, which from now on no longer end the process at once."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> tuple[bool, T | None]:
    """(True, result) when ``work`` finished first; (False, None) when ``stop`` was set first
    (the work is cancelled; a thread behind it ends when the platform stops answering it)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    return False, None


async def _deploy(stack: LocalStack, local: EphemeralPlatform, stop: asyncio.Event) -> str | None:
    """Deploy the loaded template; an error message (and nothing raised) when it is refused."""
    from lamina.deploy import engine
    from lamina.deploy.model import TemplateError

    try:
        finished, _ = await _unless_stopped(asyncio.to_thread(stack.deploy, local), stop)
    except (TemplateError, engine.BuildError, engine.ApplyError) as error:
        return str(error)
    return None if finished else "interrupted"


def _fail(message: str) -> int:
    typer.echo(f"error: {message}", err=True)
    return 2


# -- local invoke -----------------------------------------------------------------------------------

def _run(main: Coroutine[Any, Any, int]) -> None:
    """Run a command's coroutine on uvloop; a non-zero result is the exit code."""
    _configure_logging()
    import uvloop

    code = uvloop.run(main)
    if code:
        raise typer.Exit(code)


def run_invoke(options: InvokeOptions) -> None:
    _run(_invoke(options))


async def _invoke(options: InvokeOptions) -> int:
    from lamina.deploy.model import TemplateError
    from lamina.local.platform import EphemeralPlatform

    stack = _stack(options.template, options.parameters)
    try:
        stack.load()  # before the platform starts: a bad template is refused at once
    except TemplateError as error:
        return _fail(str(error))
    stop = _stop_event()
    async with EphemeralPlatform() as local:
        problem = await _deploy(stack, local, stop)
        if problem == "interrupted":
            return INTERRUPTED
        if problem is not None:
            return _fail(problem)
        try:
            name = stack.function_name(options.function)
        except KeyError as error:
            return _fail(str(error.args[0]))
        if options.output != "json":
            assert stack.state is not None
            typer.echo(f"Deployed stack {stack.state.name} locally; invoking {name}", err=True)
        finished, code = await _unless_stopped(asyncio.to_thread(_invoke_one, name, options, local, stack), stop)
        return code if finished and code is not None else INTERRUPTED


def _invoke_one(name: str, options: InvokeOptions, local: EphemeralPlatform, stack: LocalStack) -> int:
    """``lamina invoke NAME --tail`` against the ephemeral platform; its exit code."""
    from lamina.cli.invoke import Request, run

    assert stack.state is not None
    try:
        run(Request(name, options.payload, tail=True), output=options.output, endpoint=local.endpoint,
            region=stack.state.region)
    except typer.Exit as done:
        return int(done.exit_code)
    return 0


# -- local start-api --------------------------------------------------------------------------------

def run_start_api(options: ApiOptions) -> None:
    _run(_start_api(options))


async def _start_api(options: ApiOptions) -> int:
    from lamina.deploy.model import TemplateError
    from lamina.httpd import HttpServer
    from lamina.local.api import LocalApiApp, Watcher, describe
    from lamina.local.platform import EphemeralPlatform

    stack = _stack(options.template, options.parameters)
    try:
        stack.load()
    except TemplateError as error:
        # Also with --watch: what to serve is only known once the template deploys.
        return _fail(str(error))
    stop = _stop_event()
    async with EphemeralPlatform() as local:
        problem = await _deploy(stack, local, stop)
        if problem == "interrupted":
            return 0
        if problem is not None:
            return _fail(problem)
        if not stack.apis():
            return _fail("the template has no HTTP API (no HttpApi or Api event, no AWS::ApiGatewayV2::Api or "
                         "AWS::ApiGateway::RestApi): nothing to serve; try `lamina local invoke`")
        watcher = Watcher(local, stack, lambda result: _report(result, options)) if options.watch else None
        front = HttpServer(LocalApiApp(local, stack, watcher))
        try:
            await front.start(options.host, options.port)
        except OSError as error:
            return _fail(f"cannot listen on {options.host}:{options.port}: {error.strerror or error}")
        _banner(options, stack, describe(local, stack))
        poll = asyncio.ensure_future(watcher.run()) if watcher is not None else None
        try:
            await stop.wait()
        finally:
            if poll is not None:
                poll.cancel()
            await front.shutdown(10.0)
    return 0


def _url(options: ApiOptions) -> str:
    host = f"[{options.host}]" if ":" in options.host else options.host
    return f"http://{host}:{options.port}"


def _banner(options: ApiOptions, stack: LocalStack, apis: list[dict[str, Any]]) -> None:
    watched = [_relative(path) for path in stack.watched] if options.watch else []
    if options.output == "json":
        assert stack.state is not None
        _emit({"event": "listening", "url": _url(options), "stackName": stack.state.name, "apis": apis,
               "watching": watched})
        return
    assert stack.state is not None
    lines = [f"Deployed stack {stack.state.name} into a local Lamina."]
    for api in apis:
        stage = f", stage {api['stage']}" if api["stage"] else ""
        lines.append(f"API {api['logicalId']} ({api['apiId']}{stage}) at {_url(options)}:")
        width = max((len(route["routeKey"]) for route in api["routes"]), default=0)
        lines.extend(f"  {route['routeKey']:<{width}}  -> {route['function']}" for route in api["routes"])
    if watched:
        lines.append(f"Watching {', '.join(watched)}: changes are deployed before the next request.")
    lines.append("Press Ctrl+C to stop.")
    _emit("\n".join(lines))


def _report(result: Redeploy, options: ApiOptions) -> None:
    """Say what a watch check redeployed (or why it could not)."""
    files = [_relative(Path(file)) for file in result.files]
    if options.output == "json":
        _emit({"event": "redeployed", "files": files,
               "changes": [{"logicalId": lid, "type": kind, "action": action} for lid, kind, action in result.done],
               "error": result.error})
        return
    what = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    if result.error is not None:
        _emit(f"Changed: {what}. Redeploy failed, the previous code keeps serving:\n  {result.error}")
        return
    done = ", ".join(f"{lid} ({kind.removeprefix('AWS::')}: {action})" for lid, kind, action in result.done)
    _emit(f"Changed: {what}. Redeployed: {done or 'nothing to change'}.")


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _emit(message: str | dict[str, Any]) -> None:
    typer.echo(message if isinstance(message, str) else json.dumps(message))
    sys.stdout.flush()
