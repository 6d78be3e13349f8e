"""The compiled invoke path (lamina.native): used only while every module matches its build."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

from lamina import native

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
MODULES = ("pkg.alpha", "pkg.sub.beta")


def _tree(root: Path) -> None:
    """Two sources, their (fake) extension modules and a manifest that matches them."""
    for module in MODULES:
        path = native.source(module, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("VALUE = 'source'\n")
        path.with_name(path.stem + SUFFIX).write_bytes(b"")
    lines = [f"tag {sys.implementation.cache_tag}"]
    for module in MODULES:
        found = native.source(module, root).stat()
        lines.append(f"{module} {found.st_size} {found.st_mtime_ns}")
    (root / "manifest").write_text("\n".join(lines) + "\n")


def _check(root: Path, environ: dict[str, str] | None = None) -> str | None:
    return native.check(root, root / "manifest", environ or {}, MODULES)


def test_a_build_that_matches_its_sources_is_used(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert _check(tmp_path) is None


def test_an_edited_source_turns_the_whole_set_off(tmp_path: Path) -> None:
    _tree(tmp_path)
    path = native.source("pkg.sub.beta", tmp_path)
    path.write_text("VALUE = 'edited'\n")
    assert _check(tmp_path) == f"{Path('pkg/sub/beta.py')} changed since it was compiled"


def test_a_touched_source_of_the_same_size_counts_as_changed(tmp_path: Path) -> None:
    _tree(tmp_path)
    path = native.source("pkg.alpha", tmp_path)
    found = path.stat()
    os.utime(path, ns=(found.st_atime_ns, found.st_mtime_ns + 1_000_000))
    assert _check(tmp_path) == f"{Path('pkg/alpha.py')} changed since it was compiled"


def test_each_reason_to_run_from_source(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert _check(tmp_path, {"LAMINA_NATIVE": "0"}) == "turned off by LAMINA_NATIVE"
    assert _check(tmp_path, {"LAMINA_NATIVE": "1"}) is None
    native.source("pkg.alpha", tmp_path).with_name("alpha" + SUFFIX).unlink()
    assert _check(tmp_path) == "pkg.alpha is not compiled"
    manifest = tmp_path / "manifest"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(lines[:2]) + "\n")
    assert _check(tmp_path) == "the list of compiled modules changed since the build"
    manifest.write_text("tag cpython-30\n" + "\n".join(lines[1:]) + "\n")
    assert _check(tmp_path) == "built for another interpreter (tag cpython-30)"
    manifest.unlink()
    reason = _check(tmp_path)
    assert reason is not None and reason.startswith("not built")


def test_the_finder_loads_sources_beside_extension_modules(tmp_path: Path) -> None:
    _tree(tmp_path)
    finder = native._FromSource(tmp_path, MODULES)
    spec = finder.find_spec("pkg.sub.beta", None)
    assert spec is not None and spec.origin == str(native.source("pkg.sub.beta", tmp_path))
    assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    assert finder.find_spec("pkg.gamma", None) is None


def _loaded(environ: dict[str, str]) -> dict[str, object]:
    program = ("import json, lamina.httpd, lamina.invoker.invoker, lamina.native as n;"
               "print(json.dumps({'state': n.STATE,"
               " 'files': [lamina.httpd.__file__, lamina.invoker.invoker.__file__]}))")
    env = {key: value for key, value in os.environ.items() if key != "LAMINA_NATIVE"} | environ
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    found: dict[str, object] = json.loads(out.stdout)
    return found


def test_the_modules_in_use_are_the_ones_the_state_names() -> None:
    """Whatever this checkout's build state: "on" means every listed module is the extension
    module, "off" means every one is its source; LAMINA_NATIVE=0 always gives the sources."""
    found = _loaded({})
    state, files = found["state"], found["files"]
    assert isinstance(state, list) and isinstance(files, list)
    expected = SUFFIX if state[0] == "on" else ".py"
    assert all(str(path).endswith(expected) for path in files), found
    assert state[0] == "on" or state[1], found
    off = _loaded({"LAMINA_NATIVE": "0"})
    assert off["state"] == ["off", "turned off by LAMINA_NATIVE"]
    assert all(str(path).endswith(".py") for path in off["files"]), off  # type: ignore[attr-defined]

