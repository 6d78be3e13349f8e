"""lamina.registry.code: content-addressed code, unpacked read-only, hostile zips refused."""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import multiprocessing
import os
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.config import Limits
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.registry.code import UNREADABLE, CodeArtifact, CodeStore

ROOT = os.geteuid() == 0
LINK = 0o120777
EXE = 0o100755
REG = 0o100644

Member = tuple[str, bytes | str] | tuple[str, bytes | str, int]


def make_zip(members: Sequence[Member], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name, data[, unix mode]) members, in order."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which we want
        with zipfile.ZipFile(buf, "w", method) as archive:
            for member in members:
                info = zipfile.ZipInfo(member[0], date_time=(2024, 1, 1, 0, 0, 0))
                info.compress_type = method
                if len(member) == 3:
                    info.external_attr = member[2] << 16
                archive.writestr(info, member[1])
    return buf.getvalue()


def raw_zip(name: bytes, data: bytes) -> bytes:
    """A one-entry stored zip written by hand, for names zipfile will not write."""
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, len(data), len(data),
                        len(name), 0) + name + data
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 0x314, 20, 0, 0, 0, 0x21, crc, len(data),
                          len(data), len(name), 0, 0, 0, 0, REG << 16, 0) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end


def patch(data: bytes, name: str, *, flags: int | None = None, size: int | None = None,
          crc: int | None = None) -> bytes:
    """Rewrite header fields of member ``name`` in both its local and its central header."""
    out = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    name_bytes = info.orig_filename.encode()
    central = data.index(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name_bytes)] != name_bytes:
        central = data.index(b"PK\x01\x02", central + 1)
    for header, offsets in ((info.header_offset, (6, 14, 22)), (central, (8, 16, 24))):
        for value, at, fmt in zip((flags, crc, size), offsets, ("<H", "<L", "<L"), strict=True):
            if value is not None:
                struct.pack_into(fmt, out, header + at, value)
    return bytes(out)


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "code"


@pytest.fixture
def store(root: Path) -> CodeStore:
    return CodeStore(root, Limits())


HELLO = make_zip([("handler.py", "def handler(e, c):\n    return e\n"),
                  ("bootstrap", "#!/bin/sh\nexec python3 handler.py\n", EXE),
                  ("lib/", b"", 0o40755),
                  ("lib/deep/data.bin", b"\x00" * 5000, REG),
                  ("lib/link", "deep/data.bin", LINK)])


# -- happy path ---------------------------------------------------------------------------


def test_put_zip_stores_blob_and_tree(store: CodeStore, root: Path) -> None:
    artifact = store.put_zip(HELLO)

    digest = hashlib.sha256(HELLO).digest()
    assert artifact.sha256 == digest.hex()
    assert artifact.code_sha256 == base64.b64encode(digest).decode()
    assert artifact.size == len(HELLO)
    with zipfile.ZipFile(io.BytesIO(HELLO)) as archive:
        assert artifact.unzipped_size == sum(i.file_size for i in archive.infolist()) == 5079
    assert artifact.zip_path == root / "blobs" / f"{digest.hex()}.zip"
    assert artifact.zip_path.read_bytes() == HELLO
    assert artifact.root == root / "tree" / digest.hex()
    assert (artifact.root / "handler.py").read_text().startswith("def handler")
    assert (artifact.root / "lib/deep/data.bin").stat().st_size == 5000
    assert os.readlink(artifact.root / "lib/link") == "deep/data.bin"
    assert (artifact.root / "lib/link").read_bytes() == b"\x00" * 5000
    assert snapshot(root) == {"blobs", f"blobs/{artifact.sha256}.zip", "tree", f"tree/{artifact.sha256}",
                              *(f"tree/{artifact.sha256}/{p}" for p in
                                ("handler.py", "bootstrap", "lib", "lib/deep", "lib/deep/data.bin",
                                 "lib/link"))}


def test_put_zip_is_idempotent(store: CodeStore, root: Path) -> None:
    first = store.put_zip(HELLO)
    before = snapshot(root)

    assert store.put_zip(HELLO) == first
    assert snapshot(root) == before


def test_tree_is_read_only(store: CodeStore) -> None:
    artifact = store.put_zip(HELLO)

    def mode(rel: str) -> int:
        return stat.S_IMODE((artifact.root / rel).lstat().st_mode)

    assert mode(".") == 0o555
    assert mode("lib") == mode("lib/deep") == 0o555
    assert mode("handler.py") == mode("lib/deep/data.bin") == 0o444
    assert stat.S_IMODE(artifact.zip_path.stat().st_mode) == 0o444
    if not ROOT:  # root ignores permission bits; the modes above are what protects the tree
        with pytest.raises(PermissionError):
            (artifact.root / "handler.py").write_text("evil")
        with pytest.raises(PermissionError):
            (artifact.root / "new.py").write_text("evil")


@pytest.mark.parametrize(("mode", "expected"), [(EXE, 0o555), (0o100744, 0o555), (0o100700, 0o555),
                                                (REG, 0o444), (0o100600, 0o444), (0, 0o444)])
def test_executable_bit_is_kept(store: CodeStore, mode: int, expected: int) -> None:
    artifact = store.put_zip(make_zip([("bootstrap", "#!/bin/sh\n", mode)]))

    assert stat.S_IMODE((artifact.root / "bootstrap").stat().st_mode) == expected


def test_dot_dot_that_stays_inside_is_normalized(store: CodeStore) -> None:
    artifact = store.put_zip(make_zip([("a/../b.txt", "b"), ("./c/./d.txt", "d")]))

    assert (artifact.root / "b.txt").read_text() == "b"
    assert (artifact.root / "c/d.txt").read_text() == "d"
    assert not (artifact.root / "a").exists()


def test_symlinks_inside_the_tree_are_kept(store: CodeStore) -> None:
    artifact = store.put_zip(make_zip([("node_modules/pkg/cli.js", "x", EXE),
                                       ("node_modules/.bin/cli", "../pkg/cli.js", LINK),
                                       ("self", ".", LINK), ("loop-a", "loop-b", LINK),
                                       ("loop-b", "loop-a", LINK), ("dangling", "missing/file", LINK)]))

    assert (artifact.root / "node_modules/.bin/cli").read_text() == "x"
    assert os.readlink(artifact.root / "self") == "."
    assert os.readlink(artifact.root / "dangling") == "missing/file"


def test_empty_zip_is_an_empty_tree(store: CodeStore) -> None:
    artifact = store.put_zip(make_zip([]))

    assert list(artifact.root.iterdir()) == []
    assert artifact.unzipped_size == 0


def test_get_after_restart(store: CodeStore, root: Path) -> None:
    artifact = store.put_zip(HELLO)

    restarted = CodeStore(root, Limits())
    assert restarted.get(artifact.sha256) == artifact
    assert restarted.open_zip(artifact.sha256) == artifact.zip_path


def test_get_and_open_zip_of_absent_code(store: CodeStore) -> None:
    absent = hashlib.sha256(b"nothing").hexdigest()

    assert store.get(absent) is None
    assert store.get("../../etc/passwd") is None
    with pytest.raises(ResourceNotFoundException) as caught:
        store.open_zip(absent)
    assert caught.value.message == f"Code with SHA-256 {absent} not found."


def test_a_tree_without_its_blob_is_not_an_artifact_and_is_reused(store: CodeStore) -> None:
    artifact = store.put_zip(HELLO)
    artifact.zip_path.unlink()  # what a crash between the two renames leaves
    inode = artifact.root.stat().st_ino

    assert store.get(artifact.sha256) is None
    assert store.put_zip(HELLO) == artifact
    assert artifact.root.stat().st_ino == inode


def test_delete_removes_blob_and_tree(store: CodeStore, root: Path) -> None:
    keep = store.put_zip(make_zip([("keep.py", "")]))
    before = snapshot(root)
    artifact = store.put_zip(HELLO)

    store.delete(artifact.sha256)

    assert snapshot(root) == before
    assert store.get(artifact.sha256) is None
    assert CodeStore(root, Limits()).get(artifact.sha256) is None
    assert store.get(keep.sha256) == keep
    store.delete(artifact.sha256)  # absent: nothing to do
    store.delete("../../etc")
    assert store.put_zip(HELLO) == artifact


def test_concurrent_puts_of_the_same_zip_make_one_tree(store: CodeStore, root: Path) -> None:
    barrier = threading.Barrier(8)
    results: list[CodeArtifact] = []

    def put() -> None:
        barrier.wait()
        results.append(store.put_zip(HELLO))

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8 and len(set(results)) == 1
    assert sorted(os.listdir(root / "tree")) == [results[0].sha256]
    assert sorted(os.listdir(root / "blobs")) == [f"{results[0].sha256}.zip"]


def test_concurrent_puts_of_different_zips(store: CodeStore, root: Path) -> None:
    zips = [make_zip([("n.txt", str(n))]) for n in range(8)]
    results: dict[int, CodeArtifact] = {}

    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, store.put_zip(zips[n])))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {(results[n].root / "n.txt").read_text() for n in range(8)} == {str(n) for n in range(8)}
    assert len(os.listdir(root / "tree")) == len(os.listdir(root / "blobs")) == 8


def _put_in_process(root: str, data: bytes) -> str:
    return CodeStore(Path(root), Limits()).put_zip(data).sha256


def test_concurrent_puts_from_processes(root: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        shas = list(pool.map(_put_in_process, [str(root)] * 8, [HELLO] * 8))

    assert set(shas) == {hashlib.sha256(HELLO).hexdigest()}
    assert sorted(os.listdir(root / "tree")) == [shas[0]]
    assert sorted(os.listdir(root / "blobs")) == [f"{shas[0]}.zip"]
    assert (root / "tree" / shas[0] / "lib/deep/data.bin").stat().st_size == 5000


def test_temporaries_of_dead_processes_are_swept(root: Path) -> None:
    CodeStore(root, Limits())
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    dead, mine = child.pid, os.getpid()
    stale = root / "tree" / f".tmp-{dead}-abc"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub").chmod(0o555)
    (stale).chmod(0o555)
    (root / "tree" / f".trash-{dead}-abc").mkdir()
    (root / "blobs" / f".tmp-{dead}-abc.zip").write_bytes(b"half")
    (root / "tree" / f".tmp-{mine}-abc").mkdir()

    CodeStore(root, Limits())

    assert sorted(os.listdir(root / "tree")) == [f".tmp-{mine}-abc"]
    assert os.listdir(root / "blobs") == []


# -- refusals -------------------------------------------------------------------------------

BOMB_DATA = b"\x00" * (4 * 1024 * 1024)


def lying_bomb(*, crc_of_prefix: bool) -> bytes:
    """A deflated member of 4 MiB of zeros whose headers declare 100 bytes."""
    honest = make_zip([("bomb.txt", BOMB_DATA)])
    crc = zlib.crc32(BOMB_DATA[:100]) if crc_of_prefix else None
    return patch(honest, "bomb.txt", size=100, crc=crc)


def encrypted() -> bytes:
    return patch(make_zip([("secret.py", "x")]), "secret.py", flags=0x1)


def corrupted_stream() -> bytes:
    data = bytearray(make_zip([("ok.py", "fine"), ("lib/a.txt", b"abcdefgh" * 64)], zipfile.ZIP_STORED))
    data[data.index(b"abcdefgh") + 3] ^= 0xFF
    return bytes(data)


def too_short() -> bytes:
    """Declares more bytes than its deflate stream holds, with the checksum of what it holds."""
    return patch(make_zip([("short.txt", "tiny")]), "short.txt", size=10)


P = "Could not unzip uploaded file: "
REFUSALS: list[tuple[str, bytes, Limits, str]] = [
    ("not a zip", b"this is not a zip file", Limits(), UNREADABLE),
    ("empty", b"", Limits(), UNREADABLE),
    ("truncated", HELLO[: len(HELLO) // 2], Limits(), UNREADABLE),
    ("truncated end record", HELLO[:-5], Limits(), UNREADABLE),
    ("zip too large", HELLO, Limits(code_zip_bytes=200),
     f"Zipped size must be smaller than 200 bytes; the uploaded file has {len(HELLO)} bytes."),
    ("unzipped too large", make_zip([("zeros", b"\x00" * 5000)]), Limits(code_unzipped_bytes=1000),
     "Unzipped size must be smaller than 1000 bytes"),
    ("unzipped total too large", make_zip([(f"f{n}", b"\x00" * 300) for n in range(4)]),
     Limits(code_unzipped_bytes=1000), "Unzipped size must be smaller than 1000 bytes"),
    ("too many entries", make_zip([(f"f{n}", "") for n in range(4)]), Limits(zip_max_entries=3),
     P + "the file has more than 3 entries."),
    ("too many dirs", make_zip([(f"d{n}/", "") for n in range(4)]), Limits(zip_max_entries=3),
     P + "the file has more than 3 entries."),
    ("dot dot", make_zip([("../evil", "x")]), Limits(), P + "entry '../evil' escapes the code directory."),
    ("dot dot deeper", make_zip([("a/b/../../../evil", "x")]), Limits(),
     P + "entry 'a/b/../../../evil' escapes the code directory."),
    ("absolute", make_zip([("/etc/cron.d/x", "x")]), Limits(),
     P + "entry '/etc/cron.d/x' is an absolute path."),
    ("unc", make_zip([("//server/share/x", "x")]), Limits(),
     P + "entry '//server/share/x' is an absolute path."),
    ("drive", make_zip([("C:/Windows/x", "x")]), Limits(),
     P + "entry 'C:/Windows/x' starts with a drive letter."),
    ("drive relative", make_zip([("c:x", "x")]), Limits(), P + "entry 'c:x' starts with a drive letter."),
    ("backslash", make_zip([("..\\evil", "x")]), Limits(),
     P + "entry '..\\evil' contains a backslash; zip entry names must separate folders with '/'."),
    ("nul", raw_zip(b"ok.py\x00../../evil", b"x"), Limits(),
     P + "entry 'ok.py\\x00../../evil' has a NUL byte in its name."),
    ("empty name", raw_zip(b"", b"x"), Limits(), P + "an entry has an empty name."),
    ("names the root", make_zip([("a/..", "x")]), Limits(),
     P + "entry 'a/..' does not name a file inside the code directory."),
    ("long name", make_zip([("x" * 256, "x")]), Limits(),
     P + f"entry '{'x' * 120}...' has a name longer than 255 bytes."),
    ("duplicate", make_zip([("a.py", "1"), ("a.py", "2")]), Limits(),
     P + "entry 'a.py' appears more than once."),
    ("duplicate after normalizing", make_zip([("a/b.py", "1"), ("a/./b.py", "2")]), Limits(),
     P + "entry 'a/./b.py' appears more than once."),
    ("file and dir", make_zip([("a", "1"), ("a/", "")]), Limits(), P + "entry 'a/' appears more than once."),
    ("below a file", make_zip([("a", "1"), ("a/b", "2")]), Limits(),
     P + "entry 'a/b' is inside 'a', which is not a directory."),
    ("below a symlink", make_zip([("d/", ""), ("l", "d", LINK), ("l/x", "2")]), Limits(),
     P + "entry 'l/x' is inside 'l', which is not a directory."),
    ("symlink absolute", make_zip([("l", "/etc/passwd", LINK)]), Limits(),
     P + "symlink 'l' points to the absolute path '/etc/passwd'; "
     "symlinks must stay inside the code directory."),
    ("symlink escapes", make_zip([("a/l", "../../etc", LINK)]), Limits(),
     P + "symlink 'a/l' points to '../../etc', outside the code directory."),
    ("symlink chain escapes", make_zip([("s", ".", LINK), ("t", "s/s/s/../../..", LINK)]), Limits(),
     P + "symlink 't' points to 's/s/s/../../..', outside the code directory."),
    ("symlink via symlink", make_zip([("up", "..", LINK), ("a/l", "../up/x", LINK)]), Limits(),
     P + "symlink 'up' points to '..', outside the code directory."),
    ("symlink through a symlink", make_zip([("d/", ""), ("up", "d/..", LINK), ("a/l", "../up/..", LINK)]),
     Limits(), P + "symlink 'a/l' points to '../up/..', outside the code directory."),
    ("symlink empty", make_zip([("l", "", LINK)]), Limits(),
     P + "symlink 'l' has an empty target or one with a NUL byte."),
    ("symlink not utf-8", make_zip([("l", b"\xff", LINK)]), Limits(),
     P + "symlink 'l' has a target that is not UTF-8."),
    ("encrypted", encrypted(), Limits(),
     P + "entry 'secret.py' is encrypted; encrypted zips are not supported."),
    ("bzip2", make_zip([("a.txt", "x")], zipfile.ZIP_BZIP2), Limits(),
     P + "entry 'a.txt' uses compression method 12; only stored and deflate are supported."),
    ("fifo", make_zip([("p", "", stat.S_IFIFO | 0o644)]), Limits(),
     P + "entry 'p' is a fifo; only files, directories and symlinks are allowed."),
    ("char device", make_zip([("dev/null", "", stat.S_IFCHR | 0o666)]), Limits(),
     P + "entry 'dev/null' is a character device; only files, directories and symlinks are allowed."),
    ("block device", make_zip([("sda", "", stat.S_IFBLK | 0o660)]), Limits(),
     P + "entry 'sda' is a block device; only files, directories and symlinks are allowed."),
    ("socket", make_zip([("s", "", stat.S_IFSOCK | 0o660)]), Limits(),
     P + "entry 's' is a socket; only files, directories and symlinks are allowed."),
    ("corrupted data", corrupted_stream(), Limits(), P + "entry 'lib/a.txt' is corrupted."),
    ("shorter than declared", too_short(), Limits(), P + "entry 'short.txt' is corrupted."),
    # The headers say 100 bytes under a 1000-byte limit; the stream holds 4 MiB. zipfile stops
    # inflating at the declared size, so the checksum (of all 4 MiB) fails after 100 bytes.
    ("lying zip bomb", lying_bomb(crc_of_prefix=False), Limits(code_unzipped_bytes=1000),
     P + "entry 'bomb.txt' is corrupted."),
]


@pytest.mark.parametrize(("data", "limits", "message"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_hostile_zip_is_refused_and_changes_nothing(root: Path, data: bytes, limits: Limits,
                                                    message: str) -> None:
    store = CodeStore(root, limits)
    kept = store.put_zip(make_zip([("kept.py", "")]))
    before = snapshot(root)

    with pytest.raises(InvalidParameterValueException) as caught:
        store.put_zip(data)

    assert type(caught.value) is InvalidParameterValueException
    assert caught.value.message == message
    assert snapshot(root) == before
    assert store.get(kept.sha256) == kept


def test_zip_bomb_with_a_matching_checksum_inflates_only_its_declared_size(store: CodeStore) -> None:
    artifact = store.put_zip(lying_bomb(crc_of_prefix=True))

    assert (artifact.root / "bomb.txt").stat().st_size == 100
    assert artifact.unzipped_size == 100


def test_many_tiny_records_are_counted_before_parsing(root: Path) -> None:
    # A central directory of 2000 records refused by counting signatures, before zipfile builds
    # a ZipInfo per record (50 MB of them would cost over a gigabyte).
    data = make_zip([(f"{n}", "") for n in range(2000)], zipfile.ZIP_STORED)

    with pytest.raises(InvalidParameterValueException) as caught:
        CodeStore(root, Limits(zip_max_entries=1999)).put_zip(data)
    assert caught.value.message == P + "the file has more than 1999 entries."
    assert CodeStore(root, Limits(zip_max_entries=2000)).put_zip(data).unzipped_size == 0


# -- property: no name, however strange, writes outside the tree ------------------------------

PIECES = st.sampled_from(["..", ".", "/", "//", "a", "b", "\\", "C:", ":", "\x00", "é", " ", "~", "$"])
NAMES = st.one_of(st.lists(PIECES, min_size=1, max_size=8).map("".join),
                  st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20))
# Relative paths over few names, so that symlinks point at each other and chains form.
PATHS = st.lists(st.sampled_from(["..", ".", "a", "b", "l"]), min_size=1, max_size=6).map("/".join)
MEMBERS = st.lists(st.tuples(PATHS | NAMES, st.booleans(), PATHS | NAMES), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members=MEMBERS)
def test_no_member_name_escapes_the_tree(members: list[tuple[str, bool, str]]) -> None:
    data = make_zip([(name, target, LINK) if link else (name, "x") for name, link, target in members])
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        (base / "outside").mkdir()
        (base / "outside" / "sentinel").write_text("s")
        before = snapshot(base)
        store = CodeStore(base / "store", Limits())
        try:
            artifact = store.put_zip(data)
        except InvalidParameterValueException:
            assert snapshot(base / "store") == {"blobs", "tree"}
            return
        finally:
            assert {p for p in snapshot(base) if not p.startswith("store")} == before
        tree = os.path.realpath(artifact.root)
        for dirpath, dirnames, filenames in os.walk(artifact.root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                mode = os.lstat(path).st_mode
                assert stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)
                try:
                    resolved = os.path.realpath(path, strict=True)
                except OSError as error:
                    if error.errno == errno.ELOOP:
                        continue  # a loop of links inside the tree: the kernel refuses, nothing escapes
                    resolved = os.path.realpath(path)  # dangling: where it would point
                assert resolved == tree or resolved.startswith(tree + os.sep), (path, resolved)
        assert sorted(os.listdir(base / "store" / "tree")) == [artifact.sha256]
        store.delete(artifact.sha256)
