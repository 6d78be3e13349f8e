"""An ephemeral Lamina inside the calling process, for one local command.

:class:`EphemeralPlatform` is an async context manager. Entering it makes a temporary data
directory, builds a :class:`~lamina.app.Platform` from the environment's settings (authentication
off: the platform is private to this process and listens on loopback only), starts it and serves
it with :class:`~lamina.httpd.HttpServer` on a free ``127.0.0.1`` port of the running event loop,
so the deploy engine and ``lamina invoke``'s code reach it with botocore as they reach any server.

Leaving it (normally, on an exception, or after a signal ended the loop's work) stops the HTTP
server, stops the platform (every execution environment and zygote is killed, every store
flushed and closed) and removes the data directory. Nothing outlives the ``async with`` block.

The platform's loop must stay free while botocore talks to it: callers run blocking client code
in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lamina.app import Platform
from lamina.config import Settings
from lamina.httpd import HttpServer

if TYPE_CHECKING:
    from lamina.deploy.handlers.base import Clients

log = logging.getLogger(__name__)

#: In-flight requests get this long to finish when the command stops.
GRACE_SECONDS = 10.0
_BIND_ATTEMPTS = 5


def local_settings(environ: Mapping[str, str], data_dir: Path, port: int) -> Settings:
    """The ephemeral platform's settings: the environment's ``LAMINA_*`` choices (isolation,
    runtimes, limits, region), with its own data directory, SQLite database (never a shared
    ``LAMINA_DATABASE_URL``) and port, no authentication, and an X-Ray listener on a free port
    (2000 belongs to a ``lamina serve`` that may be running)."""
    return Settings.from_environ(environ, host="127.0.0.1", port=port, data_dir=data_dir, database_url="",
                                 auth=False, xray_port=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EphemeralPlatform:
    """A Platform with a temporary data directory, served on a free loopback port (see the module
    docstring for what entering and leaving guarantee)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._data_dir: Path | None = None
        self._platform: Platform | None = None
        self._server: HttpServer | None = None

    @property
    def platform(self) -> Platform:
        assert self._platform is not None, "the platform is not running"
        return self._platform

    @property
    def settings(self) -> Settings:
        return self.platform.settings

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint

    @property
    def data_dir(self) -> Path:
        """Where this platform keeps everything; also the place for other scratch files (build cache)."""
        assert self._data_dir is not None, "the platform is not running"
        return self._data_dir

    async def __aenter__(self) -> EphemeralPlatform:
        self._data_dir = Path(tempfile.mkdtemp(prefix="lamina-local-"))
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()

    async def _start(self) -> None:
        from lamina.server import LaminaApp

        # The port is picked before the platform exists (its gateway puts the port in event fields);
        # another process may take it in between, so a few attempts.
        for attempt in range(_BIND_ATTEMPTS):
            settings = local_settings(self._environ, self.data_dir / "state", _free_port())
            self._platform = Platform(settings)
            await self._platform.start()
            server = HttpServer(LaminaApp(self._platform))
            try:
                await server.start(settings.host, settings.port)
            except OSError as error:
                await self._platform.stop()
                self._platform = None
                if error.errno != errno.EADDRINUSE or attempt == _BIND_ATTEMPTS - 1:
                    raise
                continue
            self._server = server
            return

    def clients(self, region: str | None = None) -> Clients:
        """The deploy engine's clients for ``region``."""
        from lamina.deploy.handlers.base import Clients

        where = region or self.settings.region
        return Clients(self.client("lambda", where), self.client("sqs", where), self.client("apigatewayv2", where))

    def client(self, service: str, region: str | None = None) -> Any:
        """A botocore client of this platform (authentication is off, so any key works)."""
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            service, endpoint_url=self.endpoint, region_name=region or self.settings.region,
            aws_access_key_id="local", aws_secret_access_key="local",
            config=Config(retries={"max_attempts": 1}, read_timeout=900))

    async def close(self) -> None:
        """Stop serving, stop the platform, remove the data directory. Safe to call twice."""
        server, platform, data_dir = self._server, self._platform, self._data_dir
        self._server = self._platform = self._data_dir = None
        try:
            if server is not None:
                await server.shutdown(GRACE_SECONDS)
            if platform is not None:
                await platform.stop()
        finally:
            if data_dir is not None:
                remove_tree(data_dir)


def remove_tree(root: Path) -> None:
    """Delete ``root`` and everything in it, including the read-only trees the code store seals
    (folders 0o555, which an unprivileged user cannot delete entries from until they are made writable)."""

    def unseal(function: Any, path: str, _info: Any) -> None:
        parent = os.path.dirname(path)
        with contextlib.suppress(OSError):
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
        function(path)

    if not root.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(root, onexc=unseal)
    else:  # onexc arrived in 3.12, which deprecates onerror
        shutil.rmtree(root, onerror=unseal)
