"""The invoke path compiled to C with mypyc, used only while it matches its sources.

The server's event loop thread is what limits warm throughput (docs/performance.md), and most of its
time per invocation is Python bytecode spread thinly over the modules below. ``make native`` compiles
them with mypyc (:func:`main`) into extension modules beside their sources, and
writes :data:`MANIFEST`: the interpreter it built for and each source's size and modification time.

:func:`guard` runs when :mod:`lamina` is imported, before any of these modules. It keeps the compiled
modules only when every one of them is built for this interpreter from the sources now in place;
otherwise (never built, no C compiler, a source edited since, another Python, ``LAMINA_NATIVE=0``)
the whole set loads from source. All or none: compiled modules call each other directly in C, so a
stale one cannot be swapped for its source alone. :data:`STATE` says which, and why (``lamina
doctor`` prints it).

Contract for the modules listed: they must pass ``mypy --strict`` (mypyc compiles from the types),
and nothing may monkeypatch them or set attributes their classes do not declare.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: Compiled together, in one group. The server's invoke path first, then what the telemetry
#: process runs per invocation.
MODULES = (
    "lamina.clock",
    "lamina.ids",
    "lamina.httpd",
    "lamina.server",
    "lamina.aws.dispatch",
    "lamina.aws.restjson",
    "lamina.aws.validate",
    "lamina.aws.values",
    "lamina.services.lambda_.shapes",
    "lamina.registry.functions",
    "lamina.registry.aliases",
    "lamina.services.apigatewayv2.protocol",  # subclasses RestJsonProtocol: interpreted classes cannot
    "lamina.invoker.invoker",
    "lamina.invoker.pool",
    "lamina.invoker.concurrency",
    "lamina.sandbox.environment",
    "lamina.sandbox.channel",
    "lamina.sandbox.memory",
    "lamina.observability.tracing",
    "lamina.observability.report",
    "lamina.observability.logs",
    "lamina.observability.wire",
    "lamina.observability.link",
    "lamina.observability.invocation",
    "lamina.observability.telemetry",
    "lamina.observability.logbook",
    "lamina.observability.lambdametrics",
    "lamina.observability.prometheus",
    "lamina.billing.usage",
)

#: Where the sources live (the directory holding the ``lamina`` package).
ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "lamina" / "native.manifest"
#: Names the shared library of the compiled group (``lamina_native__mypyc.*.so``).
GROUP = "lamina_native"

#: ("on" | "off", why), set by :func:`guard`.
STATE: tuple[str, str] = ("off", "not checked")


def source(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def _fingerprint(path: Path) -> str:
    found = path.stat()
    return f"{found.st_size} {found.st_mtime_ns}"


def check(root: Path = ROOT, manifest: Path = MANIFEST, environ: os._Environ[str] | dict[str, str] = os.environ,
          modules: Sequence[str] = MODULES) -> str | None:
    """None when the compiled modules may be used, else the reason they may not."""
    if environ.get("LAMINA_NATIVE", "").strip().lower() in ("0", "false", "no", "off"):
        return "turned off by LAMINA_NATIVE"
    try:
        lines = manifest.read_text().splitlines()
    except OSError:
        return "not built (make builds it with mypyc where a C compiler is installed)"
    if not lines or lines[0] != f"tag {sys.implementation.cache_tag}":
        return f"built for another interpreter ({lines[0] if lines else 'empty manifest'})"
    built = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    if set(built) != set(modules):
        return "the list of compiled modules changed since the build"
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for module in modules:
        path = source(module, root)
        try:
            if built.get(module) != _fingerprint(path):
                return f"{path.relative_to(root)} changed since it was compiled"
            if not path.with_name(path.stem + suffix).exists():
                return f"{module} is not compiled"
        except OSError:
            return f"{module}: source missing"
    return None


class _FromSource:
    """A meta path finder that loads the listed modules from their ``.py`` files, even where a
    compiled extension module lies beside them."""

    def __init__(self, root: Path, modules: Sequence[str]) -> None:
        self._root = root
        self._modules = frozenset(modules)

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if name not in self._modules:
            return None
        return importlib.util.spec_from_file_location(name, source(name, self._root))


def guard() -> None:
    """Decide between compiled and source modules; call before importing any of :data:`MODULES`."""
    global STATE
    reason = check()
    if reason is None:
        STATE = ("on", f"{len(MODULES)} modules of the invoke path compiled with mypyc")
        return
    STATE = ("off", reason)
    if any(isinstance(finder, _FromSource) for finder in sys.meta_path):
        return
    # Whatever a build left: the modules listed now, and those the manifest names.
    modules = set(MODULES)
    with contextlib.suppress(OSError):
        modules.update(line.split(" ", 1)[0] for line in MANIFEST.read_text().splitlines()[1:])
    sys.meta_path.insert(0, _FromSource(ROOT, sorted(modules)))


def _compiled_files(root: Path) -> list[Path]:
    """Every extension module a build may have left (the package has no others)."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return list((root / "lamina").rglob(f"*{suffix}")) + list(root.glob(f"{GROUP}__mypyc*{suffix}"))


def build(root: Path = ROOT) -> None:
    """Compile :data:`MODULES` in place and write the manifest; raises on failure (leaving nothing
    half-built: the manifest is written last and removed first)."""
    import subprocess
    import tempfile

    MANIFEST.unlink(missing_ok=True)
    for stale in _compiled_files(root):
        stale.unlink(missing_ok=True)
    fingerprints = [f"{module} {_fingerprint(source(module, root))}" for module in MODULES]
    paths = [str(source(module, root).relative_to(root)) for module in MODULES]
    with tempfile.TemporaryDirectory(prefix="lamina-native-") as work:
        script = Path(work) / "setup.py"
        script.write_text(
            "from setuptools import setup\n"
            "from mypyc.build import mypycify\n"
            f"setup(name={GROUP!r}, ext_modules=mypycify({paths!r}, opt_level='3', group_name={GROUP!r},\n"
            f"      target_dir={str(Path(work) / 'c')!r}))\n")
        done = subprocess.run([sys.executable, str(script), "build_ext", "--inplace", "--parallel",
                               str(os.cpu_count() or 1), "--build-temp", f"{work}/temp", "--build-lib", f"{work}/lib"],
                              cwd=root, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("mypyc failed:\n" + "\n".join((done.stdout + done.stderr).splitlines()[-20:]))
    MANIFEST.write_text("\n".join([f"tag {sys.implementation.cache_tag}", *fingerprints]) + "\n")
    # What a server would see: a build that imports but is not used is a failed build.
    probe = "import lamina.native as n, lamina.httpd; print(n.STATE[0] + ' ' + n.STATE[1])"
    found = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "LAMINA_NATIVE"})
    if found.returncode != 0 or not found.stdout.startswith("on "):
        raise RuntimeError(f"the build is not used: {(found.stdout + found.stderr).strip()[-500:]}")


def main(argv: Sequence[str]) -> int:
    """``build [--if-stale] [--required]`` (the Makefile's ``native`` target): compile, or say why not.

    Without ``--required`` a failed build is a warning (Lamina runs from source, only slower)."""
    if not argv or argv[0] != "build":
        print("usage: build [--if-stale] [--required]  (what `make native` runs)", file=sys.stderr)
        return 2
    import fcntl

    # One build at a time: two `make` runs at once would delete each other's files. The second
    # waits, then finds the build fresh.
    with open(ROOT / "lamina" / ".native.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if "--if-stale" in argv and check(environ={}) is None:
            return 0
        print("lamina: compiling the invoke path with mypyc (about a minute) ...", file=sys.stderr)
        started = time.monotonic()
        try:
            build()
        except Exception as error:
            for stale in _compiled_files(ROOT):
                stale.unlink(missing_ok=True)
            print(f"lamina: the invoke path was not compiled ({error}); Lamina runs from source, slower",
                  file=sys.stderr)
            return 1 if "--required" in argv else 0
    print(f"lamina: compiled {len(MODULES)} modules of the invoke path with mypyc "
          f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0

