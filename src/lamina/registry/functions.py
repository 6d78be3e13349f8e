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
    InvalidParameterValueException,
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
        #: Published versions by number (as a string, the wire form), immutable.
        self._versions: dict[FunctionKey, dict[str, FunctionVersion]] = {}
        self._locks: dict[FunctionKey, asyncio.Lock] = {}
        self._listeners: list[ChangeListener] = []
        #: Other owners of stored code (layer versions): a digest any of them uses is kept.
        self.code_users: list[Callable[[str], bool]] = []

    # -- reading (no I/O) ------------------------------------------------------------------

    def load(self) -> None:
        """Fill the cache from the store; called once at start."""
        for item in self._store.load_versions():
            fn = FunctionVersion.from_json(item.config)
            key = FunctionKey(fn.region, fn.name)
            if item.version == LATEST:
                self._functions[key] = fn
            else:
                self._versions.setdefault(key, {})[item.version] = fn

    def get(self, region: str, name: str) -> FunctionVersion:
        fn = self._functions.get(FunctionKey(region, name))
        if fn is None:
            raise ResourceNotFoundException(f"Function not found: {self._arn(region, name)}")
        return fn

    def find(self, region: str, name: str) -> FunctionVersion | None:
        return self._functions.get(FunctionKey(region, name))

    def get_version(self, region: str, name: str, version: str) -> FunctionVersion:
        """``$LATEST`` or a published version; ResourceNotFoundException names the qualified ARN."""
        fn = self.get(region, name)
        if version == LATEST:
            return fn
        found = self._versions.get(FunctionKey(region, name), {}).get(version)
        if found is None:
            raise ResourceNotFoundException(f"Function not found: {fn.arn}:{version}")
        return found

    def versions(self, region: str, name: str) -> list[FunctionVersion]:
        """``$LATEST`` first, then the published versions in order."""
        latest = self.get(region, name)
        published = self._versions.get(FunctionKey(region, name), {})
        return [latest, *sorted(published.values(), key=lambda fn: int(fn.version))]

    def still_current(self, fn: FunctionVersion) -> bool:
        """Whether ``fn`` is still what its version names: warm environments of anything else die."""
        key = FunctionKey(fn.region, fn.name)
        if fn.version == LATEST:
            latest = self._functions.get(key)
            return latest is not None and latest.revision_id == fn.revision_id
        return fn.version in self._versions.get(key, {})

    def live_revisions(self, key: FunctionKey) -> set[str]:
        """The revision ids of ``$LATEST`` and every published version of a function."""
        latest = self._functions.get(key)
        revisions = {fn.revision_id for fn in self._versions.get(key, {}).values()}
        if latest is not None:
            revisions.add(latest.revision_id)
        return revisions

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

    async def create(self, fn: FunctionVersion, zip_bytes: bytes, extra_unzipped: int = 0) -> FunctionVersion:
        """Store the code, persist the function and return it as AWS reports a new one (Pending).

        ``fn`` carries the configuration; its code, revision and state fields are filled here.
        ``extra_unzipped`` is the size of its layers: code and layers together must fit the limit.
        """
        key = FunctionKey(fn.region, fn.name)
        rules.check_runtime(fn.runtime)
        rules.check_environment(fn.environment, self._settings.limits)
        async with self._lock(key, create=True):
            if key in self._functions:
                raise ResourceConflictException(f"Function already exist: {fn.name}")
            artifact = await asyncio.to_thread(self._code.put_zip, zip_bytes)
            await self._check_total_size(artifact, extra_unzipped)
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
            await self._check_total_size(artifact, sum(layer.get("UnzippedSize", 0) for layer in current.layers))
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

    async def set_tags(self, region: str, name: str, tags: dict[str, str]) -> FunctionVersion:
        """Replace the function's tags; not a configuration change (RevisionId stays)."""
        key = FunctionKey(region, name)
        async with self._lock(key):
            fn = self.get(region, name).replace(tags=dict(tags))
            await asyncio.to_thread(self._persist, fn)
            self._functions[key] = fn
            return fn

    async def publish(self, region: str, name: str, *, description: str | None = None,
                      code_sha256: str | None = None, revision_id: str | None = None) -> FunctionVersion:
        """Snapshot ``$LATEST`` as the next version, or return the newest version if nothing changed
        since it was published (https://docs.aws.amazon.com/lambda/latest/api/API_PublishVersion.html)."""
        key = FunctionKey(region, name)
        async with self._lock(key):
            latest = self._current(key, revision_id)
            if code_sha256 is not None and code_sha256 != latest.code.code_sha256:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
                    f"({latest.code.code_sha256}). Please try again with the CodeSHA256 in $LATEST.")
            published = self._versions.get(key, {})
            if published:
                newest = published[str(max(map(int, published)))]
                if _same_snapshot(newest, latest):
                    return newest
            number = str(latest.last_published + 1)
            version = latest.replace(version=number, revision_id=_revision(), last_modified=self._now(),
                                     description=latest.description if description is None else description,
                                     state=State.ACTIVE, last_update_status=UpdateStatus.SUCCESSFUL)
            counted = latest.replace(last_published=latest.last_published + 1)
            await asyncio.to_thread(self._persist_many, [version, counted])
            self._versions.setdefault(key, {})[number] = version
            self._functions[key] = counted
            return version

    async def delete_version(self, region: str, name: str, version: str) -> None:
        """Delete one published version (the caller has checked no alias points at it)."""
        key = FunctionKey(region, name)
        async with self._lock(key):
            fn = self.get_version(region, name, version)
            await asyncio.to_thread(self._store.delete_function, region, name, version)
            self._versions.get(key, {}).pop(version, None)
            self._notify(key)
            await asyncio.to_thread(self._collect_code, fn.code.sha256)

    async def delete(self, region: str, name: str) -> None:
        key = FunctionKey(region, name)
        async with self._lock(key):
            fn = self.get(region, name)
            await asyncio.to_thread(self._store.delete_function, region, name)
            self._functions.pop(key, None)
            for version in self._versions.pop(key, {}).values():
                await asyncio.to_thread(self._collect_code, version.code.sha256)
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

    async def _check_total_size(self, artifact: CodeArtifact, layers_unzipped: int) -> None:
        limit = self._settings.limits.code_unzipped_bytes
        total = artifact.unzipped_size + layers_unzipped
        if layers_unzipped and total > limit:
            await asyncio.to_thread(self._collect_code, artifact.sha256)
            raise InvalidParameterValueException(
                f"Function code combined with layers exceeds the maximum allowed size of {limit} bytes. "
                f"The actual size is {total} bytes.")

    def _persist_many(self, versions: list[FunctionVersion]) -> None:
        for fn in versions:
            self._persist(fn)

    def _persist(self, fn: FunctionVersion) -> None:
        self._store.put_version(StoredVersion(fn.region, fn.name, fn.version, fn.code.sha256,
                                              fn.to_json(), self._clock.time()))

    def _collect_code(self, sha256: str) -> None:
        if not self._store.code_in_use(sha256) and not any(uses(sha256) for uses in self.code_users):
            self._code.delete(sha256)

    def _notify(self, key: FunctionKey) -> None:
        for listener in self._listeners:
            listener(key)

    def _arn(self, region: str, name: str) -> str:
        return f"arn:aws:lambda:{region}:{self._settings.account_id}:function:{name}"

    def _now(self) -> str:
        return format_timestamp(self._clock.time())

    def now(self) -> float:
        """The registry clock's wall time (seconds since the epoch)."""
        return self._clock.time()


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


#: Fields that make two snapshots differ for PublishVersion's "nothing changed" rule.
_VOLATILE = {"version", "revision_id", "last_modified", "state", "state_reason", "state_reason_code",
             "last_update_status", "last_update_status_reason", "last_update_status_reason_code",
             "last_published", "reserved_concurrency", "tags", "description"}


def _same_snapshot(a: FunctionVersion, b: FunctionVersion) -> bool:
    left, right = a.to_json(), b.to_json()
    return all(left[k] == right[k] for k in left if k not in _VOLATILE)


def _revision() -> str:
    return str(uuid.uuid4())


def _code(artifact: CodeArtifact) -> Code:
    return Code(sha256=artifact.sha256, code_sha256=artifact.code_sha256, size=artifact.size)
