"""Which program runs each Lambda runtime on this machine.

``pythonX.Y`` runs on that exact interpreter when the machine has one (Lamina's own interpreter,
``pythonX.Y`` on PATH, pyenv's versions, ``/usr/bin``); otherwise on the nearest Python 3 with a
warning in the function's log, or, with ``strict_runtimes``, not at all. ``nodejsNN.x`` runs on the
``node`` found on PATH. ``provided.*`` runs the function's own ``bootstrap``.
Interpreters are real binaries, never shims: a pyenv shim is a shell script costing ~100 ms per start.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lamina.config import Settings
from lamina.errors import InvalidRuntimeException

NODE_BOOTSTRAP = str(Path(__file__).resolve().parent.parent / "sandbox" / "runtimes" / "node" / "bootstrap.js")
_PYTHON = re.compile(r"python(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class Runner:
    """How a runtime runs: on a Python zygote, or by exec'ing ``argv``."""

    kind: str                    # "python" | "exec"
    program: str                 # interpreter for "python", first argv element for "exec"
    argv: tuple[str, ...] = ()
    version: str = ""
    #: Set when the runtime runs on a substitute (e.g. python3.9 on 3.11): shown in the log.
    warning: str | None = None


@functools.cache
def _python_version(path: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([path, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _is_shim(path: str) -> bool:
    return "/shims/" in os.path.realpath(path) or "/shims/" in path


@functools.cache
def pythons() -> dict[tuple[int, int], str]:
    """Every real Python 3 interpreter found, by (major, minor); Lamina's own wins its version."""
    found: dict[tuple[int, int], str] = {sys.version_info[:2]: sys.executable}
    candidates: list[str] = []
    for minor in range(8, 20):  # 3.8+: what the bootstrap supports
        name = f"python3.{minor}"
        on_path = shutil.which(name)
        if on_path:
            candidates.append(on_path)
        candidates.append(f"/usr/bin/{name}")
        candidates.append(f"/usr/local/bin/{name}")
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates.extend(sorted(glob.glob(f"{pyenv}/versions/3.*/bin/python3.*")))
    for path in candidates:
        if not os.path.isfile(path) or not os.access(path, os.X_OK) or _is_shim(path):
            continue
        if not re.fullmatch(r"python3\.\d+", os.path.basename(path)):
            continue
        version = _python_version(path)
        if version is not None and version >= (3, 8) and version not in found:
            found[version] = path
    return found


@functools.cache
def node() -> tuple[str, str] | None:
    """(path, version) of node, or None."""
    path = shutil.which("node")
    if path is None:
        return None
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                                 check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return path, version


def default_python(settings: Settings) -> str:
    """The interpreter of the default zygote (started with the platform)."""
    return settings.python or sys.executable


def resolve(runtime: str, settings: Settings) -> Runner:
    """The Runner for ``runtime``; raises InvalidRuntimeException when it cannot run here."""
    match = _PYTHON.fullmatch(runtime)
    if match:
        if settings.python:
            return Runner("python", settings.python)
        wanted = (int(match[1]), int(match[2]))
        available = pythons()
        if wanted in available:
            return Runner("python", available[wanted], version=f"{wanted[0]}.{wanted[1]}")
        if settings.strict_runtimes or not available:
            raise InvalidRuntimeException(
                f"The runtime {runtime} is not installed on this Lamina host (found: "
                f"{', '.join(f'python{a}.{b}' for a, b in sorted(available)) or 'none'}).")
        nearest = min(available, key=lambda v: (abs(v[1] - wanted[1]), -v[1]))
        return Runner("python", available[nearest], version=f"{nearest[0]}.{nearest[1]}",
                      warning=f"lamina: {runtime} is not installed here; running on Python "
                              f"{nearest[0]}.{nearest[1]}")
    if runtime.startswith("nodejs"):
        found = node()
        if found is None:
            raise InvalidRuntimeException(f"The runtime {runtime} needs node, which is not installed on this host.")
        path, version = found
        warning = None
        wanted_major = runtime.removeprefix("nodejs").split(".")[0]
        if wanted_major.isdigit() and not version.startswith(f"v{wanted_major}."):
            if settings.strict_runtimes:
                raise InvalidRuntimeException(
                    f"The runtime {runtime} needs node {wanted_major}; this host has {version}.")
            warning = f"lamina: {runtime} is not installed here; running on node {version}"
        return Runner("exec", path, (path, NODE_BOOTSTRAP), version=version, warning=warning)
    if runtime.startswith("provided"):
        return Runner("exec", "bootstrap", ("bootstrap",))
    raise InvalidRuntimeException(
        f"Lamina cannot run the {runtime} runtime; it runs python3.x, nodejs and provided.al2/al2023.")
