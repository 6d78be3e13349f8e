"""Layers: versioned zips extracted, in order, into ``/opt`` of the functions that use them.

https://docs.aws.amazon.com/lambda/latest/dg/chapter-layers.html. Versions are numbered per layer
name and never reused. A deleted version can no longer be added to a function, but keeps working for
the functions that already use it (so its code stays stored and its record stays, marked deleted).
The ``/opt`` a function sees is one read-only merged tree per ordered set of layers, built once:
later layers override earlier ones, as AWS documents.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lamina.clock import Clock
from lamina.config import Settings
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.registry.code import CodeStore
from lamina.registry.model import Code
from lamina.store.resources import LAYER, Resource, Resources

MAX_LAYERS = 5
_LAYER_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):layer:([a-zA-Z0-9_-]+):(\d+)")


@dataclass(frozen=True, slots=True)
class LayerVersion:
    region: str
    account_id: str
    name: str
    version: int
    code: Code
    unzipped_size: int
    created_date: str
    description: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    license_info: str | None = None
    deleted: bool = False
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def layer_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{self.name}"

    @property
    def arn(self) -> str:
        return f"{self.layer_arn}:{self.version}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["compatible_runtimes"] = list(self.compatible_runtimes)
        data["compatible_architectures"] = list(self.compatible_architectures)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerVersion:
        values = dict(data, code=Code(**data["code"]),
                      compatible_runtimes=tuple(data.get("compatible_runtimes", ())),
                      compatible_architectures=tuple(data.get("compatible_architectures", ())))
        return cls(**values)


class LayerRegistry:
    def __init__(self, settings: Settings, code: CodeStore, resources: Resources, clock: Clock,
                 opt_root: Path) -> None:
        self._settings = settings
        self._code = code
        self._resources = resources
        self._clock = clock
        self._opt_root = opt_root
        self._layers: dict[tuple[str, str], dict[int, LayerVersion]] = {}
        self._lock = asyncio.Lock()

    def uses_code(self, sha256: str) -> bool:
        """Whether any layer version (deleted ones included: functions may still use them) stores
        its content under this digest."""
        return any(layer.code.sha256 == sha256 for versions in self._layers.values() for layer in versions.values())

    def load(self) -> None:
        self._opt_root.mkdir(parents=True, exist_ok=True)
        for item in self._resources.load(LAYER):
            layer = LayerVersion.from_json(item.document)
            self._layers.setdefault((layer.region, layer.name), {})[layer.version] = layer

    # -- reading ---------------------------------------------------------------------------

    def get(self, region: str, account_id: str, name: str, version: int, *, deleted_ok: bool = False) -> LayerVersion:
        layer = self._layers.get((region, name), {}).get(version)
        if layer is None or (layer.deleted and not deleted_ok):
            raise ResourceNotFoundException(
                f"Layer version arn:aws:lambda:{region}:{account_id}:layer:{name}:{version} does not exist.")
        return layer

    def by_arn(self, arn: str, *, deleted_ok: bool = False) -> LayerVersion:
        match = _LAYER_ARN.fullmatch(arn)
        if match is None:
            raise InvalidParameterValueException(f"Invalid Layer version ARN: {arn}")
        region, account, name, version = match.groups()
        try:
            return self.get(region, account, name, int(version), deleted_ok=deleted_ok)
        except ResourceNotFoundException:
            raise InvalidParameterValueException(f"Layer version {arn} does not exist.") from None

    def versions(self, region: str, name: str, runtime: str | None = None,
                 architecture: str | None = None) -> list[LayerVersion]:
        """Live versions, newest first, filtered by compatibility as ListLayerVersions does."""
        found = [layer for layer in self._layers.get((region, name), {}).values() if not layer.deleted
                 and (runtime is None or runtime in layer.compatible_runtimes)
                 and (architecture is None or architecture in layer.compatible_architectures)]
        return sorted(found, key=lambda layer: -layer.version)

    def latest(self, region: str, runtime: str | None = None, architecture: str | None = None) -> list[LayerVersion]:
        """The newest matching live version of every layer in the region (ListLayers)."""
        newest = [versions[0] for (r, name) in sorted(self._layers) if r == region
                  for versions in [self.versions(r, name, runtime, architecture)] if versions]
        return newest

    # -- writing ---------------------------------------------------------------------------

    async def publish(self, region: str, account_id: str, name: str, zip_bytes: bytes, *, description: str = "",
                      runtimes: tuple[str, ...] = (), architectures: tuple[str, ...] = (),
                      license_info: str | None = None, created_date: str = "") -> LayerVersion:
        artifact = await asyncio.to_thread(self._code.put_zip, zip_bytes)
        async with self._lock:
            existing = self._layers.get((region, name), {})
            number = max(existing, default=0) + 1
            layer = LayerVersion(region, account_id, name, number,
                                 Code(artifact.sha256, artifact.code_sha256, artifact.size),
                                 artifact.unzipped_size, created_date, description, runtimes, architectures,
                                 license_info)
            await self._save(layer)
        return layer

    async def delete(self, region: str, account_id: str, name: str, version: int) -> None:
        layer = self._layers.get((region, name), {}).get(version)
        if layer is not None and not layer.deleted:
            await self._save(replace(layer, deleted=True, policy={}))

    async def set_policy(self, layer: LayerVersion, policy: dict[str, Any]) -> LayerVersion:
        changed = replace(layer, policy=policy)
        await self._save(changed)
        return changed

    async def _save(self, layer: LayerVersion) -> None:
        await asyncio.to_thread(self._resources.put, Resource(
            LAYER, layer.region, layer.name, str(layer.version), layer.to_json(), self._clock.time()))
        self._layers.setdefault((layer.region, layer.name), {})[layer.version] = layer

    # -- functions using layers ------------------------------------------------------------

    def for_function(self, arns: list[str], code_unzipped: int) -> list[LayerVersion]:
        """The layers a function asks for, checked as CreateFunction/UpdateFunctionConfiguration do."""
        if len(arns) > MAX_LAYERS:
            raise InvalidParameterValueException(f"Cannot reference more than {MAX_LAYERS} layers.")
        layers = [self.by_arn(arn) for arn in arns]
        total = code_unzipped + sum(layer.unzipped_size for layer in layers)
        limit = self._settings.limits.code_unzipped_bytes
        if total > limit:
            raise InvalidParameterValueException(
                f"Function code combined with layers exceeds the maximum allowed size of {limit} bytes. "
                f"The actual size is {total} bytes.")
        return layers

    def opt_tree(self, shas: list[str]) -> Path:
        """The merged ``/opt`` of these layer codes in order, built on first use (call in a thread)."""
        key = hashlib.sha256("\n".join(shas).encode()).hexdigest()[:32]
        target = self._opt_root / key
        if target.is_dir():
            return target
        staging = self._opt_root / f".tmp-{os.getpid()}-{key}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for sha in shas:
            artifact = self._code.get(sha)
            if artifact is None:
                raise ResourceNotFoundException(f"Layer code {sha} is missing from the code store")
            shutil.copytree(artifact.root, staging, symlinks=True, dirs_exist_ok=True,
                            copy_function=_copy_over)
            _make_writable(staging)  # copytree copied the store's read-only folder modes
        _make_read_only(staging)
        try:
            staging.rename(target)
        except OSError:  # built concurrently by another worker: keep theirs
            _make_writable(staging)
            shutil.rmtree(staging, ignore_errors=True)
        return target


def _copy_over(source: str, destination: str) -> None:
    """Copy a file, replacing what an earlier layer put there (later layers win)."""
    if os.path.lexists(destination) and not os.path.isdir(destination):
        os.unlink(destination)
    shutil.copy2(source, destination)


def _make_read_only(root: Path) -> None:
    for path, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(path, name)
            if not os.path.islink(full):
                os.chmod(full, 0o555 if os.stat(full).st_mode & 0o111 else 0o444)
        os.chmod(path, 0o555)


def _make_writable(root: Path) -> None:
    for path, _dirs, _files in os.walk(root):
        os.chmod(path, 0o755)
