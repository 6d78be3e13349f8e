"""Warm environments, per function and revision.

An environment is reused only by invocations of the exact snapshot (``revision_id``) it was started
for, so a code or configuration change never reaches an old environment. Idle environments are taken
last-in first-out: the most recently used one has the warmest caches, and the oldest ones age out.
"""

from __future__ import annotations

from collections.abc import Iterator

from lamina.sandbox.environment import Environment, EnvState
from lamina.types import FunctionKey


class WarmPool:
    def __init__(self) -> None:
        self._idle: dict[FunctionKey, dict[str, list[Environment]]] = {}

    def take(self, key: FunctionKey, revision: str) -> Environment | None:
        """An idle, live environment of this revision, or None."""
        stack = self._idle.get(key, {}).get(revision)
        while stack:
            env = stack.pop()
            if env.state is not EnvState.IDLE:
                continue
            if env.lost_runtime():
                # Killed from outside: the zygote's exit notice may still be on its way, but the
                # runtime's connection is already gone. Never hand such an environment work.
                env.kill()
                continue
            return env
        return None

    def put(self, key: FunctionKey, revision: str, env: Environment) -> None:
        self._idle.setdefault(key, {}).setdefault(revision, []).append(env)

    def evict(self, key: FunctionKey, keep: set[str]) -> list[Environment]:
        """Remove and return the idle environments of ``key`` whose revision is not in ``keep``."""
        revisions = self._idle.get(key)
        if not revisions:
            return []
        evicted: list[Environment] = []
        for revision in [r for r in revisions if r not in keep]:
            evicted.extend(revisions.pop(revision))
        if not revisions:
            self._idle.pop(key, None)
        return evicted

    def expire(self, idle_before: float) -> list[Environment]:
        """Remove and return environments idle since before ``idle_before`` (monotonic seconds)."""
        expired: list[Environment] = []
        for key in list(self._idle):
            revisions = self._idle[key]
            for revision in list(revisions):
                stack = revisions[revision]
                keep = [env for env in stack
                        if env.state is EnvState.IDLE and (env.pinned or env.last_used >= idle_before)]
                expired.extend(env for env in stack if env not in keep)
                if keep:
                    revisions[revision] = keep
                else:
                    del revisions[revision]
            if not revisions:
                del self._idle[key]
        return expired

    def oldest(self, count: int) -> list[Environment]:
        """Remove and return up to ``count`` idle, unpinned environments, least recently used first."""
        candidates = sorted((env for env in self if not env.pinned), key=lambda env: env.last_used)[:count]
        chosen = set(map(id, candidates))
        for revisions in self._idle.values():
            for revision, stack in revisions.items():
                revisions[revision] = [env for env in stack if id(env) not in chosen]
        return candidates

    def drain(self) -> list[Environment]:
        everything = list(self)
        self._idle.clear()
        return everything

    def __iter__(self) -> Iterator[Environment]:
        for revisions in self._idle.values():
            for stack in revisions.values():
                yield from stack

    def __len__(self) -> int:
        return sum(1 for _ in self)
