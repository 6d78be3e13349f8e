"""The queue domain on a real SQLite store in a temporary directory and a FakeClock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from lamina.clock import FakeClock
from lamina.services.sqs.queues import QueueManager
from lamina.store.db import Store
from lamina.store.queues import QueueStore

REGION = "us-east-1"
ACCOUNT = "123456789012"


class Env:
    """A store, a clock, and managers opened on them (a second one is a restart)."""

    def __init__(self, path: Path) -> None:
        self.store = Store(f"sqlite:///{path / 'lamina.db'}")
        self.store.migrate()
        self.clock = FakeClock()

    @asynccontextmanager
    async def manager(self, **options: float) -> AsyncIterator[QueueManager]:
        manager = QueueManager(QueueStore(self.store), self.clock, **options)
        await manager.start()
        try:
            yield manager
        finally:
            await manager.close()

    def run(self, scenario: Callable[[QueueManager], Awaitable[None]], **options: float) -> None:
        async def main() -> None:
            async with self.manager(**options) as manager:
                await scenario(manager)

        asyncio.run(main())


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)
