"""Packaging local code: deterministic zips, what is left out, the build cache, dependency installs."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from lamina.deploy import build
from lamina.deploy.build import BuildError, package, zip_folder
from lamina.deploy.model import LocalPath


def names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


def read(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name)


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "pkg").mkdir(parents=True)
    (folder / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "bootstrap").write_text("#!/bin/sh\n")
    (folder / "bootstrap").chmod(0o700)
    for skipped in ("__pycache__", ".git", ".aws-sam", ".lamina-build", ".lamina"):
        (folder / skipped).mkdir()
        (folder / skipped / "junk").write_text("x")
    (folder / "pkg" / "__pycache__").mkdir()
    (folder / "pkg" / "__pycache__" / "m.cpython-312.pyc").write_bytes(b"\0")
    return folder


def test_a_folder_zip_is_sorted_and_leaves_out_caches_and_vcs(code: Path) -> None:
    data = zip_folder(code)
    assert names(data) == ["app.py", "bootstrap", "pkg/__init__.py"]


def test_the_same_content_gives_the_same_bytes_whatever_the_times_and_permissions(code: Path, tmp_path: Path) -> None:
    first = zip_folder(code)
    copy = tmp_path / "copy"
    shutil.copytree(code, copy)
    os.utime(copy / "app.py", (1_000_000, 1_000_000))
    (copy / "app.py").chmod(0o600)  # only the executable bit is kept: everyone must read the code
    assert zip_folder(copy) == first
    (copy / "app.py").write_text("def handler(e, c):\n    return 2\n")
    assert zip_folder(copy) != first


def test_entries_are_readable_by_all_and_keep_the_executable_bit(code: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(zip_folder(code))) as archive:
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
        times = {info.date_time for info in archive.infolist()}
    assert modes == {"app.py": 0o644, "bootstrap": 0o755, "pkg/__init__.py": 0o644}
    assert times == {build.ZIP_TIME}


def test_package_caches_by_input_and_replaces_older_builds(code: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    source = LocalPath(code, "function", "python3.12")
    first = package(source, cache)
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    assert len(list(cache.glob("*.zip"))) == 1

    def no_rebuild(*args: object) -> bytes:
        raise AssertionError("an unchanged folder was built again")

    monkeypatch.setattr(build, "_build", no_rebuild)
    assert package(source, cache).data == first.data
    monkeypatch.undo()
    (code / "app.py").write_text("changed = True\n")
    second = package(source, cache)
    assert second.sha256 != first.sha256
    assert len(list(cache.glob("*.zip"))) == 1  # the older build of the same folder is gone


def test_a_zip_file_is_used_as_it_is(tmp_path: Path) -> None:
    given = tmp_path / "code.zip"
    given.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    artifact = package(LocalPath(given), tmp_path / "cache")
    assert artifact.data == given.read_bytes() and not (tmp_path / "cache").exists()


def test_missing_code_and_other_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="no such file or folder"):
        package(LocalPath(tmp_path / "nowhere"), tmp_path / "cache")
    (tmp_path / "app.py").write_text("")
    with pytest.raises(BuildError, match=r"must be a folder or a \.zip"):
        package(LocalPath(tmp_path / "app.py"), tmp_path / "cache")


def wheel(folder: Path, name: str, module: str) -> Path:
    """A minimal pure-Python wheel installing ``<name>.py`` holding ``module`` (pip installs it offline)."""
    dist = f"{name}-1.0.dist-info"
    files = {f"{name}.py": module.encode(),
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
             f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for path, data in files.items()) + f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record.encode()
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for entry, data in files.items():
            archive.writestr(entry, data)
    return path


def test_python_requirements_are_installed_into_the_package(tmp_path: Path) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "app.py").write_text("import dep\n")
    made = wheel(folder, "dep", "VALUE = 42\n")
    (folder / "requirements.txt").write_text(f"./{made.name}\n")
    artifact = package(LocalPath(folder, "function", "python3.12"), tmp_path / "cache")
    listed = names(artifact.data)
    assert "app.py" in listed and "dep.py" in listed and "dep-1.0.dist-info/METADATA" in listed
    assert read(artifact.data, "dep.py") == b"VALUE = 42\n"
    assert not any(name.endswith(".pyc") for name in listed)
    # Without a Python runtime, requirements.txt is only a file.
    plain = package(LocalPath(folder, "function", "nodejs20.x"), tmp_path / "cache")
    assert "dep.py" not in names(plain.data)


def test_a_layer_requirements_file_installs_into_python(tmp_path: Path) -> None:
    folder = tmp_path / "layer"
    folder.mkdir()
    made = wheel(folder, "shared", "NAME = 'layer'\n")
    (folder / "requirements.txt").write_text(f"./{made.name}\n")
    artifact = package(LocalPath(folder, "layer"), tmp_path / "cache")
    assert read(artifact.data, "python/shared.py") == b"NAME = 'layer'\n"


def test_a_failed_install_says_what_failed(tmp_path: Path) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "requirements.txt").write_text("./missing-1.0-py3-none-any.whl\n")
    with pytest.raises(BuildError, match=r"(?s)-m pip install failed in .*missing-1\.0-py3-none-any\.whl"):
        package(LocalPath(folder, "function", "python3.12"), tmp_path / "cache")


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_node_dependencies_are_installed_into_a_copy(tmp_path: Path) -> None:
    folder = tmp_path / "fn"
    (folder / "lib").mkdir(parents=True)
    (folder / "index.mjs").write_text("export const handler = async () => 1;\n")
    (folder / "lib" / "package.json").write_text('{"name": "lib", "version": "1.0.0", "main": "index.js"}')
    (folder / "lib" / "index.js").write_text("module.exports = 7;\n")
    (folder / "package.json").write_text('{"name": "fn", "version": "1.0.0", "dependencies": {"lib": "file:./lib"}}')
    (folder / "node_modules" / "stale").mkdir(parents=True)
    (folder / "node_modules" / "stale" / "x.js").write_text("")
    artifact = package(LocalPath(folder, "function", "nodejs20.x"), tmp_path / "cache")
    listed = names(artifact.data)
    assert "index.mjs" in listed and "node_modules/lib/index.js" in listed
    assert "node_modules/stale/x.js" not in listed  # dependencies are installed afresh
    assert not (folder / "package-lock.json").exists()  # the source folder is left alone
