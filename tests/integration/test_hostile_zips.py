"""Zips from strangers: refused through CreateFunction with a clear error, nothing left behind."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, create_python_function, invoke_json, make_zip, unique_name

HELLO = "def handler(event, context):\n    return 'hello'\n"
UNZIPPED_LIMIT = 250 * 1024 * 1024


def zip_with(*entries: tuple[str, bytes, int]) -> bytes:
    """A zip of (name, content, unix mode incl. file type) entries, names written as given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", HELLO)
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def zeros_zip(size: int) -> bytes:
    """``app.py`` and one deflated member of ``size`` zero bytes (about 1/1000 of it compressed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", HELLO)
        info = zipfile.ZipInfo("padding.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(1 << 20)
        with archive.open(info, "w") as member:
            left = size
            while left:
                member.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))
    return buffer.getvalue()


def lie_about_size(data: bytes, member: str, declared: int) -> bytes:
    """Rewrite ``member``'s uncompressed size in its local header and central record."""
    out = bytearray(data)
    name = member.encode()
    local = out.find(b"PK\x03\x04")
    while local >= 0:
        name_len = struct.unpack_from("<H", out, local + 26)[0]
        if bytes(out[local + 30:local + 30 + name_len]) == name:
            struct.pack_into("<L", out, local + 22, declared)
            break
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", out, central + 28)[0]
        if bytes(out[central + 46:central + 46 + name_len]) == name:
            struct.pack_into("<L", out, central + 24, declared)
            break
        central = out.find(b"PK\x01\x02", central + 4)
    assert local >= 0 and central >= 0
    return bytes(out)


def store_listing(server: Server) -> set[str]:
    code = server.data_dir / "code"
    return {str(path.relative_to(code)) for path in code.rglob("*")}


@pytest.fixture
def untouched(server: Server) -> Iterator[None]:
    """Asserts that the test leaves the code store exactly as it found it (no file, no temporary)."""
    before = store_listing(server)
    yield
    assert store_listing(server) == before


def refuse(client: Any, zip_bytes: bytes) -> str:
    """Create a function from ``zip_bytes``, expect the refusal, check nothing exists; the message."""
    name = unique_name("hostile")
    with pytest.raises(ClientError) as excinfo:
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": zip_bytes})
    error = excinfo.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException", error
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as missing:
        client.get_function(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    return str(error["Message"])


REGULAR = 0o100644
SYMLINK = 0o120777


@pytest.mark.parametrize(("zip_bytes", "expected"), [
    pytest.param(b"this is not a zip file at all", "Could not unzip uploaded file. Please check your file, then "
                 "try to upload again.", id="not-a-zip"),
    pytest.param(make_zip({"app.py": HELLO})[:-30], "Could not unzip uploaded file. Please check your file",
                 id="truncated"),
    pytest.param(zip_with(("../evil.py", b"print('escaped')", REGULAR)),
                 "Could not unzip uploaded file: entry '../evil.py' escapes the code directory.", id="dot-dot"),
    pytest.param(zip_with(("lib/../../evil.py", b"x", REGULAR)),
                 "Could not unzip uploaded file: entry 'lib/../../evil.py' escapes the code directory.",
                 id="nested-dot-dot"),
    pytest.param(zip_with(("/tmp/evil.py", b"x", REGULAR)),
                 "Could not unzip uploaded file: entry '/tmp/evil.py' is an absolute path.", id="absolute"),
    pytest.param(zip_with(("passwd", b"../../../../../../etc/passwd", SYMLINK)),
                 "Could not unzip uploaded file: symlink 'passwd' points to '../../../../../../etc/passwd', "
                 "outside the code directory.", id="symlink-relative"),
    pytest.param(zip_with(("passwd", b"/etc/passwd", SYMLINK)),
                 "Could not unzip uploaded file: symlink 'passwd' points to the absolute path '/etc/passwd'",
                 id="symlink-absolute"),
    pytest.param(zip_with(("dir", b"..", SYMLINK), ("dir/evil.py", b"x", REGULAR)),
                 "Could not unzip uploaded file: symlink 'dir' points to '..', outside the code directory.",
                 id="write-through-symlink"),
    pytest.param(zip_with(("fifo", b"", 0o010644)),
                 "Could not unzip uploaded file: entry 'fifo' is a fifo", id="fifo"),
])
def test_hostile_zip_is_refused(server: Server, lambda_client: Any, untouched: None,
                                zip_bytes: bytes, expected: str) -> None:
    message = refuse(lambda_client, zip_bytes)
    assert message.startswith(expected), message
    code = server.data_dir / "code"
    assert not list(code.rglob("evil.py"))
    assert not (server.data_dir / "evil.py").exists() and not Path("/tmp/evil.py").exists()


def test_symlink_inside_the_tree_is_kept(lambda_client: Any) -> None:
    # The control case for the symlink refusals: a link that stays inside the tree works.
    reader = "def handler(event, context):\n    return open('link.txt').read()\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", reader)
        archive.writestr("data/real.txt", "real content")
        link = zipfile.ZipInfo("link.txt")
        link.external_attr = SYMLINK << 16
        archive.writestr(link, "data/real.txt")
    name = unique_name("symlink")
    lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": buffer.getvalue()})
    assert invoke_json(lambda_client, name)[1] == "real content"


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = zeros_zip(UNZIPPED_LIMIT + 1024 * 1024)
    assert len(data) < 1024 * 1024  # what reaches the server is small; what it would unpack is not
    return data


def test_zip_bomb_is_refused(lambda_client: Any, untouched: None, bomb: bytes) -> None:
    message = refuse(lambda_client, bomb)
    assert message == f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes"


def test_zip_bomb_lying_about_its_size_is_refused(lambda_client: Any, untouched: None, bomb: bytes) -> None:
    # The headers claim 1 KB; the real bytes inflate to 251 MB: checked while extracting.
    message = refuse(lambda_client, lie_about_size(bomb, "padding.bin", 1024))
    assert message == "Could not unzip uploaded file: entry 'padding.bin' is corrupted."


def test_update_with_a_hostile_zip_keeps_the_old_code(lambda_client: Any, untouched: None) -> None:
    name = create_python_function(lambda_client, HELLO)
    before = lambda_client.get_function_configuration(FunctionName=name)
    with pytest.raises(ClientError) as excinfo:
        lambda_client.update_function_code(FunctionName=name, ZipFile=zip_with(("../evil.py", b"x", REGULAR)))
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValueException"
    after = lambda_client.get_function_configuration(FunctionName=name)
    assert (after["CodeSha256"], after["RevisionId"]) == (before["CodeSha256"], before["RevisionId"])
    lambda_client.delete_function(FunctionName=name)
