"""A template deployed into an ephemeral platform, and the watch that redeploys it when files change.

:class:`LocalStack` loads the template (:func:`lamina.deploy.template.load`), plans it against
the record of its last deploy and applies the plan with the deploy engine, exactly as ``lamina
deploy`` does, but keeps the record in memory and the build cache in the platform's temporary
folder, so nothing is written next to the template. Its methods block (botocore calls to the
platform) and are meant for a worker thread; one call at a time.

Watching is a fingerprint, not a notification: the size, modification time and inode of every
file under the watched paths (the template, and every ``CodeUri``/``ContentUri`` folder or zip it
names), taken when the template is loaded. :meth:`LocalStack.changes` compares it with the files
now, so whoever asks (before each request, and a background poll) sees a change deterministically.
Folders the builder never packages (``__pycache__``, ``.git``, build output) are not watched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.deploy.build import SKIPPED_DIRS
from lamina.deploy.model import LocalPath, Stack
from lamina.deploy.outputs import API_TYPES, STAGE_TYPES
from lamina.deploy.state import StackState

if TYPE_CHECKING:
    from lamina.local.platform import EphemeralPlatform

#: (size, mtime in ns, inode) of one file: an editor that replaces a file changes the inode, one
#: that rewrites it in place changes the size or the time.
FileMark = tuple[int, int, int]
_FUNCTION = "AWS::Lambda::Function"


def snapshot(paths: tuple[Path, ...]) -> dict[str, FileMark]:
    """The mark of every file under ``paths`` (files or folders), by path; missing paths have none."""
    marks: dict[str, FileMark] = {}
    for root in paths:
        for file in _files(root):
            try:
                info = os.stat(file)
            except OSError:
                continue  # deleted while walking: the next look sees it gone
            marks[file] = (info.st_size, info.st_mtime_ns, info.st_ino)
    return marks


def _files(root: Path) -> Iterator[str]:
    if root.is_file():
        yield str(root)
        return
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_DIRS and name != "node_modules"]
        for name in names:
            yield os.path.join(folder, name)


def differences(before: Mapping[str, FileMark], after: Mapping[str, FileMark]) -> list[str]:
    """Files added, removed or changed between two snapshots, sorted."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def code_paths(stack: Stack) -> tuple[Path, ...]:
    """Every local code folder or .zip the stack's resources name (functions and layers)."""
    found: dict[Path, None] = {}

    def visit(value: Any) -> None:
        if isinstance(value, LocalPath):
            found[value.path] = None
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)

    for resource in stack.resources.values():
        visit(resource.properties)
    return tuple(found)


@dataclass(frozen=True)
class ApiMount:
    """An HTTP API of the stack as local mode serves it: ``stage`` is the stage requests go to
    (``$default`` when the API has one, else its first; None when it has none)."""

    logical_id: str
    api_id: str
    stage: str | None


@dataclass
class Redeploy:
    """What a watch check found: the files that changed and what the redeploy did to each resource
    (``done``: (logical id, type, action) of every resource that changed); ``error`` when the
    template or a resource refused, in which case the previous deployment keeps serving."""

    files: list[str]
    done: list[tuple[str, str, str]] = field(default_factory=list)
    error: str | None = None


class LocalStack:
    """One template deployed into an :class:`EphemeralPlatform` (see the module docstring).

    ``region`` and ``account_id`` are the platform's (the template is loaded before the platform
    starts, so a bad template is refused at once).
    """

    def __init__(self, path: Path, *, region: str, account_id: str, parameters: Mapping[str, str] | None = None,
                 stack_name: str | None = None) -> None:
        self._path = path
        self._region = region
        self._account_id = account_id
        self._parameters = dict(parameters or {})
        self._stack_name = stack_name
        self._watched: tuple[Path, ...] = (path.resolve(),)
        self._marks: dict[str, FileMark] = {}
        self.stack: Stack | None = None
        self.state: StackState | None = None

    @property
    def watched(self) -> tuple[Path, ...]:
        """The template and the code paths its last successful load named."""
        return self._watched

    def load(self) -> Stack:
        """Read the template and start watching it and its code; TemplateError when it is refused
        (the paths watched so far stay watched, so fixing the template is seen)."""
        from lamina.deploy import template

        try:
            stack = template.load(self._path, stack_name=self._stack_name, region=self._region,
                                  account_id=self._account_id, parameters=self._parameters)
        except BaseException:
            self._watch(self._watched)
            raise
        self._watch((stack.source.resolve(), *code_paths(stack)))
        return stack

    def apply(self, local: EphemeralPlatform, stack: Stack) -> list[tuple[str, str, str]]:
        """Plan ``stack`` against the last deploy and apply it; returns (logical id, type, action) of
        every resource that changed. Raises :class:`~lamina.deploy.engine.BuildError`,
        :class:`~lamina.deploy.model.TemplateError` (a resource Lamina cannot deploy) or
        :class:`~lamina.deploy.engine.ApplyError` (whose record is kept: the next deploy continues)."""
        from lamina.deploy import engine

        prior = self.state or StackState(stack.name, stack.region, stack.account_id)
        plan = engine.plan(stack, prior, build=engine.builder(local.data_dir / "build"))
        try:
            outcome = engine.apply(plan, local.clients(stack.region), save=self._save)
        except engine.ApplyError as error:
            self.state = error.state
            raise
        self.stack, self.state = stack, outcome.state
        return [(d.logical_id, d.type, d.action) for d in outcome.done if d.action not in ("unchanged", "no-op")]

    def deploy(self, local: EphemeralPlatform) -> list[tuple[str, str, str]]:
        """:meth:`load` then :meth:`apply`."""
        return self.apply(local, self.load())

    def _save(self, state: StackState) -> None:
        # The engine saves after every step; in local mode the record lives as long as the process.
        self.state = state.copy()

    def _watch(self, paths: tuple[Path, ...]) -> None:
        self._watched = paths
        self._marks = snapshot(paths)

    def changes(self) -> list[str]:
        """Files that changed since the template was last loaded ([] when none)."""
        return differences(self._marks, snapshot(self._watched))

    def redeploy_if_changed(self, local: EphemeralPlatform) -> Redeploy | None:
        """Redeploy when a watched file changed; None when nothing did."""
        from lamina.deploy import engine
        from lamina.deploy.model import TemplateError

        files = self.changes()
        if not files:
            return None
        try:
            return Redeploy(files, self.deploy(local))
        except (TemplateError, engine.BuildError, engine.ApplyError) as error:
            return Redeploy(files, error=str(error))

    # -- what the stack is made of ----------------------------------------------------------------

    def functions(self) -> dict[str, str]:
        """Function name by logical id, in the record's order."""
        state = self.state
        return {} if state is None else {lid: item.physical_id for lid, item in state.resources.items()
                                         if item.type == _FUNCTION}

    def function_name(self, wanted: str | None) -> str:
        """The deployed name of function ``wanted`` (a logical id or a function name); with None,
        the stack's only function. KeyError with a message listing the functions otherwise."""
        functions = self.functions()
        listing = ", ".join(f"{lid} ({name})" if lid != name else lid for lid, name in functions.items())
        if wanted is None:
            if len(functions) == 1:
                return next(iter(functions.values()))
            raise KeyError(f"the template has {len(functions)} functions; name one: {listing or 'none'}")
        if wanted in functions:
            return functions[wanted]
        if wanted in functions.values():
            return wanted
        raise KeyError(f"no function {wanted} in the template; its functions: {listing or 'none'}")

    def apis(self) -> list[ApiMount]:
        """The stack's HTTP and REST APIs in template order, with the stage each is served from."""
        state = self.state
        if state is None:
            return []
        stages: dict[str, list[str]] = {}
        for item in state.resources.values():
            if item.type in STAGE_TYPES:
                stages.setdefault(str(item.data.get("api")), []).append(item.physical_id)
        mounts = []
        for lid, item in state.resources.items():
            if item.type in API_TYPES:
                names = stages.get(item.physical_id, [])
                stage = "$default" if "$default" in names else (names[0] if names else None)
                mounts.append(ApiMount(lid, item.physical_id, stage))
        return mounts
