"""The function registry: create, read, update and delete functions, with AWS's lifecycle rules.

Reads come from an in-memory cache loaded at start and kept in step with every write, so the invoke
path never touches the database. Writes go to the store first, then to the cache. One lock per
function serialises updates: a second update while one is running is refused with
``ResourceConflictException``, as AWS does while ``LastUpdateStatus`` is ``InProgress``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lamina.clock import Clock
from lamina.config import Settings
from lamina.errors import (
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.registry import rules
from lamina.registry.code import CodeArtifact, CodeStore
from lamina.registry.model import Code, FunctionVersion, State, UpdateStatus
from lamina.store.db import Store, StoredVersion
from lamina.types import LATEST, FunctionKey

ChangeListener = Callable[[FunctionKey], None]


@dataclass(frozen=True, slots=True)
class Created:
    """The answer to a create or update: what the caller sees now (``Pending`` / ``InProgress``)."""

    reported: FunctionVersion


class FunctionRegistry:
    def __init__(self, settings: Settings, store: Store, code: CodeStore, clock: Clock) -> None:
        self._settings = settings
        self._store = store
        self._code = code
        self._clock = clock
        self._functions: dict[FunctionKey, FunctionVersion] = {}
        self._locks: dict[FunctionKey, asyncio.Lock] = {}
        self._listeners: list[ChangeListener] = []

    # -- reading (no I/O) ------------------------------------------------------------------

    def load(self) -> None:
        """Fill the cache from the store; called once at start."""
        for item in self._store.load_versions():
            if item.version == LATEST:
                fn = FunctionVersion.from_json(item.config)
                self._functions[FunctionKey(fn.region, fn.name)] = fn

    def get(self, region: str, name: str) -> FunctionVersion:
        fn = self._functions.get(FunctionKey(region, name))
        if fn is None:
            raise ResourceNotFoundException(f"Function not found: {self._arn(region, name)}")
        return fn

    def find(self, region: str, name: str) -> FunctionVersion | None:
        return self._functions.get(FunctionKey(region, name))

    def in_region(self, region: str) -> list[FunctionVersion]:
        return sorted((fn for key, fn in self._functions.items() if key.region == region),
                      key=lambda fn: fn.name)

    def all(self) -> list[FunctionVersion]:
        """Every function of every region."""
        return list(self._functions.values())

    def subscribe(self, listener: ChangeListener) -> None:
        """``listener(key)`` runs after a function's code or configuration changed or it was deleted."""
        self._listeners.append(listener)

    # -- writing ---------------------------------------------------------------------------

    async def create(self, fn: FunctionVersion, zip_bytes: bytes) -> FunctionVersion:
        """Store the code, persist the function and return it as AWS reports a new one (Pending).

        ``fn`` carries the configuration; its code, revision and state fields are filled here.
        """
        key = FunctionKey(fn.region, fn.name)
        rules.check_runtime(fn.runtime)
        rules.check_environment(fn.environment, self._settings.limits)
        async with self._lock(key, create=True):
            if key in self._functions:
                raise ResourceConflictException(f"Function already exist: {fn.name}")
            artifact = await asyncio.to_thread(self._code.put_zip, zip_bytes)
            pending = fn.replace(code=_code(artifact), revision_id=_revision(),
                                 last_modified=self._now(), state=State.PENDING,
                                 state_reason="The function is being created.",
                                 state_reason_code="Creating", last_update_status=None)
            # The code is unpacked and ready, so the function becomes Active at once; the create
            # response still reports Pending, as AWS does, and boto3's function_active_v2 waiter
            # sees Active on its first poll.
            active = pending.with_state(State.ACTIVE).replace(
                last_update_status=UpdateStatus.SUCCESSFUL)
            await asyncio.to_thread(self._persist, active)
            self._functions[key] = active
            return pending

    async def update_code(self, region: str, name: str, zip_bytes: bytes, *,
                          revision_id: str | None = None, dry_run: bool = False) -> FunctionVersion:
        key = FunctionKey(region, name)
        async with self._lock(key):
            current = self._current(key, revision_id)
            artifact = await asyncio.to_thread(self._code.put_zip, zip_bytes)
            if dry_run:
                return current.replace(code=_code(artifact))
            return await self._commit(key, current.replace(code=_code(artifact)), current)

    async def update_configuration(self, region: str, name: str, changes: dict[str, Any], *,
                                   revision_id: str | None = None) -> FunctionVersion:
        """Apply ``changes`` (FunctionVersion field names) to ``$LATEST``."""
        key = FunctionKey(region, name)
        if "runtime" in changes:
            rules.check_runtime(changes["runtime"])
        if "environment" in changes:
            rules.check_environment(changes["environment"], self._settings.limits)
        async with self._lock(key):
            current = self._current(key, revision_id)
            return await self._commit(key, current.replace(**changes), current)

    async def set_reserved_concurrency(self, region: str, name: str, reserved: int | None) -> FunctionVersion:
        """Persist reserved concurrency; not a configuration change (RevisionId and warm
        environments stay), as AWS treats PutFunctionConcurrency."""
        key = FunctionKey(region, name)
        async with self._lock(key):
            fn = self.get(region, name).replace(reserved_concurrency=reserved)
            await asyncio.to_thread(self._persist, fn)
            self._functions[key] = fn
            return fn

    async def delete(self, region: str, name: str) -> None:
        key = FunctionKey(region, name)
        async with self._lock(key):
            fn = self.get(region, name)
            await asyncio.to_thread(self._store.delete_function, region, name)
            self._functions.pop(key, None)
            self._notify(key)
            await asyncio.to_thread(self._collect_code, fn.code.sha256)
        self._locks.pop(key, None)

    def code_artifact(self, fn: FunctionVersion) -> CodeArtifact:
        artifact = self._code.get(fn.code.sha256)
        if artifact is None:
            raise ResourceNotFoundException(f"Code of {fn.arn} is missing from the code store")
        return artifact

    # -- internals -------------------------------------------------------------------------

    async def _commit(self, key: FunctionKey, changed: FunctionVersion,
                      current: FunctionVersion) -> FunctionVersion:
        stamped = changed.replace(revision_id=_revision(), last_modified=self._now())
        done = stamped.replace(last_update_status=UpdateStatus.SUCCESSFUL,
                               last_update_status_reason=None, last_update_status_reason_code=None)
        await asyncio.to_thread(self._persist, done)
        self._functions[key] = done
        self._notify(key)
        if current.code.sha256 != done.code.sha256:
            await asyncio.to_thread(self._collect_code, current.code.sha256)
        # AWS answers an update while it is still being applied.
        return stamped.replace(last_update_status=UpdateStatus.IN_PROGRESS,
                               last_update_status_reason="The function is being created.",
                               last_update_status_reason_code="Creating")

    def _current(self, key: FunctionKey, revision_id: str | None) -> FunctionVersion:
        current = self.get(key.region, key.name)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id")
        return current

    def _lock(self, key: FunctionKey, create: bool = False) -> _Updating:
        lock = self._locks.setdefault(key, asyncio.Lock())
        if lock.locked():
            what = "function" if create else "resource"
            raise ResourceConflictException(
                "The operation cannot be performed at this time. An update is in progress for "
                f"{what}: {self._arn(key.region, key.name)}")
        return _Updating(lock)

    def _persist(self, fn: FunctionVersion) -> None:
        self._store.put_version(StoredVersion(fn.region, fn.name, fn.version, fn.code.sha256,
                                              fn.to_json(), self._clock.time()))

    def _collect_code(self, sha256: str) -> None:
        if not self._store.code_in_use(sha256):
            self._code.delete(sha256)

    def _notify(self, key: FunctionKey) -> None:
        for listener in self._listeners:
            listener(key)

    def _arn(self, region: str, name: str) -> str:
        return f"arn:aws:lambda:{region}:{self._settings.account_id}:function:{name}"

    def _now(self) -> str:
        return format_timestamp(self._clock.time())


class _Updating:
    """``async with`` over a lock already known to be free (checked without awaiting)."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def __aenter__(self) -> None:
        await self._lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()


def format_timestamp(seconds: float) -> str:
    """AWS's LastModified: ISO 8601 with milliseconds and ``+0000`` offset."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _revision() -> str:
    return str(uuid.uuid4())


def _code(artifact: CodeArtifact) -> Code:
    return Code(sha256=artifact.sha256, code_sha256=artifact.code_sha256, size=artifact.size)
