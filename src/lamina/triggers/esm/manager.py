"""Every event source mapping of this node: create, read, update, delete, persistence, pollers.

Contract: Create / Update / Delete store the mapping in its passing state (``Creating``,
``Enabling``, ``Disabling``, ``Updating``, ``Deleting``) before they return, then settle it in the
background: the poller is (re)started or stopped and the settled state is stored. A mapping whose
write failed is not changed in memory either. At start every stored mapping is settled again (one
stored mid-change by a crash settles as its ``Enabled`` flag says; one stored ``Deleting`` is
removed) and enabled mappings resume polling. Call from the event loop only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from lamina.clock import Clock
from lamina.errors import ResourceInUseException, ResourceNotFoundException
from lamina.invoker.events import Resolver, SyncInvoker
from lamina.services.sqs.queues import QueueManager
from lamina.store.events import DropMapping, EventStore, PutMapping
from lamina.triggers.esm.model import Mapping, MappingState
from lamina.triggers.esm.sqs import SqsPoller

log = logging.getLogger(__name__)

PollerFactory = Callable[[Mapping], SqsPoller]


class MappingManager:
    """Event source mappings (see the module docstring)."""

    def __init__(self, store: EventStore, queues: QueueManager, invoker: SyncInvoker, resolve: Resolver,
                 clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._mappings: dict[str, Mapping] = {}
        self._pollers: dict[str, SqsPoller] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._writes = asyncio.Lock()
        self._new_poller: PollerFactory = lambda mapping: SqsPoller(mapping, queues, invoker, resolve, clock,
                                                                    self.report)

    async def start(self) -> None:
        for data in await asyncio.to_thread(self._store.load_mappings):
            mapping = Mapping.from_json(data)
            if mapping.state is MappingState.DELETING:
                await asyncio.to_thread(self._store.apply, [DropMapping(mapping.uuid)])
                continue
            settled = MappingState.ENABLED if mapping.enabled else MappingState.DISABLED
            # Recovery after a crash mid-change: not a transition, so not checked against the table.
            self._mappings[mapping.uuid] = mapping.replace(state=settled)
            if mapping.state is not settled:
                await self._persist(mapping.uuid)
            if mapping.enabled:
                self._start_poller(self._mappings[mapping.uuid])

    async def close(self) -> None:
        for task in set(self._tasks):
            task.cancel()
        pollers, self._pollers = list(self._pollers.values()), {}
        await asyncio.gather(*(poller.stop() for poller in pollers), return_exceptions=True)

    # -- reading ---------------------------------------------------------------------------------

    def get(self, uuid: str) -> Mapping:
        mapping = self._mappings.get(uuid)
        if mapping is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return mapping

    def list(self, region: str, *, event_source_arn: str | None = None,
             function_name: str | None = None) -> list[Mapping]:
        return [m for m in self._mappings.values() if m.region == region
                and (event_source_arn is None or m.event_source_arn == event_source_arn)
                and (function_name is None or m.function_name == function_name)]

    def duplicate(self, region: str, event_source_arn: str, function_arn: str) -> Mapping | None:
        return next((m for m in self.list(region, event_source_arn=event_source_arn)
                     if m.function_arn == function_arn), None)

    # -- changing --------------------------------------------------------------------------------

    async def create(self, mapping: Mapping) -> Mapping:
        mapping = mapping.replace(state=MappingState.CREATING, last_modified=self._clock.time())
        async with self._writes:
            await asyncio.to_thread(self._store.apply, [PutMapping(mapping.uuid, mapping.region, mapping.to_json())])
        self._mappings[mapping.uuid] = mapping
        self._later(self._settle(mapping.uuid))
        return mapping

    async def update(self, uuid: str, changes: dict[str, Any]) -> Mapping:
        current = self._settled(uuid)
        enabled = changes.get("enabled", current.enabled)
        if enabled != current.enabled:
            state = MappingState.ENABLING if enabled else MappingState.DISABLING
        else:
            state = MappingState.UPDATING
        mapping = current.replace(**changes, last_modified=self._clock.time()).with_state(state)
        await self._write(mapping)
        self._later(self._settle(uuid))
        return mapping

    async def delete(self, uuid: str) -> Mapping:
        mapping = self._settled(uuid).with_state(MappingState.DELETING)
        await self._write(mapping)
        self._later(self._remove(uuid))
        return mapping

    def report(self, uuid: str, result: str) -> None:
        """A poller's LastProcessingResult; stored when it changes."""
        mapping = self._mappings.get(uuid)
        if mapping is not None and mapping.last_result != result:
            self._mappings[uuid] = mapping.replace(last_result=result)
            self._later(self._persist(uuid))

    # -- in the background -----------------------------------------------------------------------

    def _settled(self, uuid: str) -> Mapping:
        mapping = self.get(uuid)
        if mapping.busy:
            raise ResourceInUseException(
                f"Cannot update the event source mapping {uuid} because it is in use (state {mapping.state}).")
        return mapping

    async def _settle(self, uuid: str) -> None:
        mapping = self._mappings.get(uuid)
        if mapping is None or mapping.state is MappingState.DELETING:
            return
        await self._stop_poller(uuid)
        mapping = self._mappings.get(uuid)  # a poller may have reported while it stopped
        if mapping is None:
            return
        if mapping.enabled:
            self._start_poller(mapping)
        self._mappings[uuid] = mapping.with_state(MappingState.ENABLED if mapping.enabled else MappingState.DISABLED)
        await self._persist(uuid)

    async def _remove(self, uuid: str) -> None:
        await self._stop_poller(uuid)
        async with self._writes:
            await asyncio.to_thread(self._store.apply, [DropMapping(uuid)])
            self._mappings.pop(uuid, None)

    def _start_poller(self, mapping: Mapping) -> None:
        poller = self._new_poller(mapping)
        self._pollers[mapping.uuid] = poller
        poller.start()

    async def _stop_poller(self, uuid: str) -> None:
        poller = self._pollers.pop(uuid, None)
        if poller is not None:
            await poller.stop()

    async def _write(self, mapping: Mapping) -> None:
        async with self._writes:
            await asyncio.to_thread(self._store.apply, [PutMapping(mapping.uuid, mapping.region, mapping.to_json())])
            self._mappings[mapping.uuid] = mapping

    async def _persist(self, uuid: str) -> None:
        """Store the mapping as it is in memory when the write happens (writes never reorder)."""
        async with self._writes:
            mapping = self._mappings.get(uuid)
            if mapping is not None:
                await asyncio.to_thread(self._store.apply, [PutMapping(uuid, mapping.region, mapping.to_json())])

    def _later(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event source mapping change failed", exc_info=task.exception())
