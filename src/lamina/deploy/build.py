"""Local code to deployable zip bytes, as ``sam build`` packages it.

:func:`package` turns a :class:`~lamina.deploy.model.LocalPath` into an :class:`Artifact`:

- a ``.zip`` file is used as is;
- a folder is zipped; for a Python function with ``requirements.txt`` the requirements are installed
  into the package (``pip install --target``), for a Node.js function with ``package.json`` a copy
  of the folder gets ``npm install --omit=dev``; a layer's ``requirements.txt`` is installed into
  ``python/`` (where the Python runtimes look in ``/opt``).

Zips are deterministic (entries sorted, fixed timestamps, normalized permissions), so the same code
always has the same SHA-256 and redeploying unchanged code changes nothing. A folder is packaged
once per distinct input: the result is cached under ``<cache>/<name>-<key>.zip`` where the key
hashes every input file, the builder and its settings; other builds of the same folder are removed.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lamina.deploy.model import LocalPath

#: Bump when the packaging changes, so cached builds of older versions are not reused.
BUILDER_VERSION = "1"
#: Folders never packaged: version control, other tools' build output, Lamina's own cache and data.
SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".aws-sam", ".lamina-build", ".lamina"})
#: Every entry gets this time (the earliest a zip can hold), so the bytes depend on content only.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_PIP_TIMEOUT_S = 600


class BuildError(Exception):
    """Code that cannot be packaged: a missing path, a failed dependency install."""


@dataclass(frozen=True)
class Artifact:
    """Packaged code: the zip's bytes and their SHA-256 (hex)."""

    source: LocalPath
    data: bytes
    sha256: str

    @classmethod
    def of(cls, source: LocalPath, data: bytes) -> Artifact:
        return cls(source, data, hashlib.sha256(data).hexdigest())


def package(source: LocalPath, cache: Path) -> Artifact:
    """The deployable zip of ``source``, built or taken from ``cache`` (created when needed)."""
    path = source.path
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise BuildError(f"{path}: code must be a folder or a .zip file")
        return Artifact.of(source, path.read_bytes())
    if not path.is_dir():
        raise BuildError(f"{path}: no such file or folder")
    builder = _builder(source)
    key = _input_key(source, builder)
    stem = _cache_stem(path)
    cached = cache / f"{stem}-{key}.zip"
    if cached.is_file():
        return Artifact.of(source, cached.read_bytes())
    data = _build(source, builder)
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{stem}-*.zip"):
        old.unlink(missing_ok=True)
    partial = cached.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(cached)
    return Artifact.of(source, data)


def zip_folder(root: Path, skip: frozenset[str] = SKIPPED_DIRS) -> bytes:
    """A deterministic zip of everything under ``root`` except folders named in ``skip``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for relative, full in _files(root, skip):
            info = zipfile.ZipInfo(relative, ZIP_TIME)
            # Lambda needs read permission for everyone (the function runs as another user) and
            # keeps the executable bit, which `provided` runtimes' bootstrap needs.
            executable = os.stat(full).st_mode & stat.S_IXUSR
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever machine builds it
            archive.writestr(info, full.read_bytes())
    return buffer.getvalue()


def _files(root: Path, skip: frozenset[str]) -> Iterator[tuple[str, Path]]:
    """(archive name, path) of every regular file under ``root``, sorted by archive name.

    Symbolic links are followed (their targets are packaged) as ``sam build`` does.
    """
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for name in files:
            full = Path(folder, name)
            if full.is_file():
                found.append((full.relative_to(root).as_posix(), full))
    yield from sorted(found)


# -- builders ---------------------------------------------------------------------------------------

def _builder(source: LocalPath) -> str:
    """Which build applies: ``pip``, ``npm``, ``layer-pip`` or ``copy`` (zip the folder as it is)."""
    path = source.path
    if source.kind == "layer":
        return "layer-pip" if (path / "requirements.txt").is_file() else "copy"
    runtime = source.runtime
    if runtime.startswith("python") and (path / "requirements.txt").is_file():
        return "pip"
    if runtime.startswith("nodejs") and (path / "package.json").is_file():
        return "npm"
    return "copy"


def _input_key(source: LocalPath, builder: str) -> str:
    """A hash of everything the build's output depends on."""
    digest = hashlib.sha256(f"{BUILDER_VERSION}\0{builder}\0{source.kind}\0{source.runtime}\0".encode())
    if builder in ("pip", "layer-pip"):
        digest.update(f"{sys.version_info[:2]}\0".encode())  # wheels are picked for this interpreter
    skip = SKIPPED_DIRS | {"node_modules"} if builder == "npm" else SKIPPED_DIRS
    for relative, full in _files(source.path, skip):
        digest.update(relative.encode() + b"\0")
        digest.update(b"x" if os.stat(full).st_mode & stat.S_IXUSR else b"-")
        with open(full, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()[:20]


def _cache_stem(path: Path) -> str:
    """A file-name-safe name for a source folder, unique per absolute path."""
    resolved = str(path.resolve())
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.resolve().name)[:40] or "root"
    return f"{safe}_{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def _build(source: LocalPath, builder: str) -> bytes:
    if builder == "copy":
        return zip_folder(source.path)
    with tempfile.TemporaryDirectory(prefix="lamina-build-") as scratch:
        staging = Path(scratch) / "package"
        skip = SKIPPED_DIRS | {"node_modules"} if builder == "npm" else SKIPPED_DIRS
        shutil.copytree(source.path, staging, symlinks=False,
                        ignore=lambda _folder, names: [n for n in names if n in skip])
        if builder == "pip":
            _pip(source.path / "requirements.txt", staging)
        elif builder == "layer-pip":
            _pip(source.path / "requirements.txt", staging / "python")
        elif builder == "npm":
            _run(["npm", "install", "--omit=dev", "--no-audit", "--no-fund", "--silent"], staging, source)
        return zip_folder(staging)


def _pip(requirements: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    # --no-compile: .pyc files embed the build time, and the runtime compiles what it imports anyway.
    _run([sys.executable, "-m", "pip", "install", "-r", str(requirements), "--target", str(target), "--quiet",
          "--disable-pip-version-check", "--no-compile"], requirements.parent, None)


def _run(command: list[str], cwd: Path, source: LocalPath | None) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
    except FileNotFoundError:
        where = source.path if source else cwd
        raise BuildError(f"{command[0]} is not installed; it is needed to build {where}") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"{' '.join(command[:4])} took longer than {_PIP_TIMEOUT_S} s in {cwd}") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise BuildError(f"{' '.join(command[:4])} failed in {source.path if source else cwd}:\n" + "\n".join(output))
