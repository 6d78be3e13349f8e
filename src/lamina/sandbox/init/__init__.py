"""The native init of an environment's PID namespace (``init.c``), built on first use.

An environment in a PID namespace has two processes, both the zygote's children: its init (PID 1,
which reaps the namespace's orphans until the zygote closes its lifeline) and the runtime (PID 2).
The zygote starts this small C program as the init with ``posix_spawn``: no copy of its Python
heap, which a forked init would carry (about 0.5 MB per environment, docs/performance.md, "PSS per
idle environment"), and no copy of its page tables.

:func:`build` compiles it with the machine's C compiler into the data directory, once per source
version; without a compiler it answers None and the zygote keeps its Python init (same behaviour,
more memory), which ``lamina doctor`` reports.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("init.c")


def cache_folder(data_dir: Path) -> Path:
    """Where the built init is kept: the user's cache (shared by every data directory, so a test
    suite that starts many servers builds it once), else the data directory."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "lamina"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return data_dir / "bin"


def build_quietly(folder: Path) -> str | None:
    """:func:`build`, with any failure logged and answered None (the Python init then serves)."""
    try:
        return build(folder)
    except OSError as error:
        log.warning("could not build the native init: %s", error)
        return None


def build(folder: Path) -> str | None:
    """The path of the compiled init under ``folder`` (built now if missing), or None."""
    source = SOURCE.read_bytes()
    target = folder / f"lamina-init-{hashlib.sha256(source).hexdigest()[:16]}"
    if target.exists():
        return str(target)
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        log.warning("no C compiler: environments keep a Python init process (about 0.5 MB more each)")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        built = Path(scratch) / "lamina-init"
        for extra in (["-static"], []):  # static when libc.a is there: nothing to map at exec
            result = subprocess.run([compiler, "-O2", *extra, "-o", str(built), str(SOURCE)],
                                    capture_output=True, text=True, check=False)
            if result.returncode == 0:
                break
        else:
            log.warning("could not build the native init (%s): environments keep a Python init",
                        result.stderr.strip()[-300:])
            return None
        os.chmod(built, 0o755)
        os.replace(built, target)  # atomic: a concurrent builder never sees half a file
    return str(target)
