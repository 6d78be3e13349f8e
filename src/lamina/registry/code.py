"""Function code, stored once per SHA-256 of its zip, unpacked once, read-only.

Layout under the store's root::

    blobs/<sha256>.zip     the zip as uploaded (0o444)
    tree/<sha256>/         its unpacked tree, what an environment sees at /var/task (dirs 0o555,
                           files 0o444, or 0o555 when the zip marks them executable)

The blob is the commit point: it is renamed into place only after its tree is, so an artifact is
present when both exist. Everything is built under a temporary sibling (``.tmp-<pid>-*``) and
renamed into place, so a failed or refused upload changes nothing; temporaries left by a process
that died are swept when a store is opened on the same root.

Zips come from strangers. Every entry is checked from the central directory before a byte is
written (names, types, sizes, encryption, symlink targets), then extracted in one streaming pass
that counts the bytes it really writes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import secrets
import shutil
import stat
import struct
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from lamina.config import Limits
from lamina.errors import AwsError, InvalidParameterValueException, ResourceNotFoundException

# AWS's wording for an archive it cannot read at all (CreateFunction/UpdateFunctionCode).
UNREADABLE = "Could not unzip uploaded file. Please check your file, then try to upload again."

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")
_TEMP = re.compile(r"\.(?:tmp|trash)-(\d+)-")
_CHUNK = 1024 * 1024
_NAME_MAX = 255
_PATH_MAX = 4095
_LINK_TARGET_MAX = 4095
_LINK_HOPS_MAX = 40  # Linux's MAXSYMLINKS: past this the kernel answers ELOOP, nothing escapes.

# Only these two: zipfile inflates deflate with a cap on the output of each read, but hands whole
# compressed chunks to bz2/lzma, and 64 KiB of bzip2 can expand to gigabytes in memory.
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_SPECIAL = {stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
            stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}
# Everything zipfile (or the decompressor under it) raises on bytes that are not a sound zip.
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
            NotImplementedError, RuntimeError, IndexError, KeyError, OverflowError)


@dataclass(frozen=True, slots=True)
class CodeArtifact:
    sha256: str  # hex digest of the zip bytes
    code_sha256: str  # base64 of the raw digest: AWS's CodeSha256
    size: int  # zip size in bytes: AWS's CodeSize
    unzipped_size: int  # bytes of the files and symlinks in the tree
    zip_path: Path
    root: Path  # the unpacked tree, read-only


class _Kind(Enum):
    FILE = "file"
    DIR = "dir"
    LINK = "link"


@dataclass(frozen=True, slots=True)
class _Entry:
    info: zipfile.ZipInfo
    path: str  # normalized, relative, "/"-separated; "" is the tree's root
    kind: _Kind
    target: str = ""  # symlinks only


class CodeStore:
    """Content-addressed code: ``put_zip`` validates, stores and unpacks; the rest look up.

    Safe to call from many threads and processes on one root: each upload is built in its own
    temporary and renamed into place, so racing uploads of the same bytes agree on one tree, and
    threads of one process share the work through a per-digest lock. Nothing is fsynced but the
    blob: after an OS crash, a tree may need re-uploading; a process crash leaves it whole.
    """

    def __init__(self, root: Path, limits: Limits) -> None:
        self._limits = limits
        self._blobs = root / "blobs"
        self._trees = root / "tree"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._trees.mkdir(parents=True, exist_ok=True)
        # Linux refuses paths over PATH_MAX; keep room for the tree's own absolute path.
        self._path_max = _PATH_MAX - len(os.fsencode(self._trees.absolute())) - 66
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, list[int]]] = {}
        self._known: dict[str, CodeArtifact] = {}
        self._sweep()

    def put_zip(self, data: bytes) -> CodeArtifact:
        """Store ``data`` and return its artifact; storing the same bytes again is a no-op.

        Refuses hostile or broken zips with InvalidParameterValueException before anything is
        written. Limits are checked on upload: bytes stored under older, looser limits stay valid.
        """
        if len(data) > self._limits.code_zip_bytes:
            # AWS answers an oversized direct upload with RequestEntityTooLargeException, which is
            # not in Lambda's botocore model (the request-size check belongs to the API layer, see
            # Limits.create_request_bytes); a zip that reaches us some other way is a bad value.
            raise InvalidParameterValueException(
                f"Zipped size must be smaller than {self._limits.code_zip_bytes} bytes; "
                f"the uploaded file has {len(data)} bytes.")
        sha = hashlib.sha256(data).hexdigest()
        with self._locked(sha):
            known = self.get(sha)
            if known is not None:
                return known
            archive, entries, unzipped = self._validate(data)
            with archive:
                tree = self._trees / sha
                if not tree.is_dir():  # else a crash or a delete left a whole tree and no blob
                    self._unpack(archive, entries, tree)
            self._store_blob(sha, data)
            return self._remember(sha, len(data), unzipped)

    def get(self, sha256: str) -> CodeArtifact | None:
        """The stored artifact, also one stored before a restart; None if absent."""
        if not _SHA256_HEX.fullmatch(sha256):
            return None
        blob, tree = self._blobs / f"{sha256}.zip", self._trees / sha256
        if not (blob.is_file() and tree.is_dir()):
            self._known.pop(sha256, None)
            return None
        known = self._known.get(sha256)
        if known is not None:
            return known
        with zipfile.ZipFile(blob) as archive:
            unzipped = sum(i.file_size for i in archive.infolist() if _kind(i) is not _Kind.DIR)
        return self._remember(sha256, blob.stat().st_size, unzipped)

    def open_zip(self, sha256: str) -> Path:
        """Path of the stored zip; ResourceNotFoundException if it is not stored."""
        artifact = self.get(sha256)
        if artifact is None:
            raise ResourceNotFoundException(f"Code with SHA-256 {sha256} not found.")
        return artifact.zip_path

    def delete(self, sha256: str) -> None:
        """Remove blob and tree; the caller guarantees nothing uses them. Absent is not an error.

        The blob goes first, so a crash midway leaves no artifact, and the tree is renamed away
        before removal, so no upload ever adopts a half-removed tree.
        """
        if not _SHA256_HEX.fullmatch(sha256):
            return
        with self._locked(sha256):
            self._known.pop(sha256, None)
            (self._blobs / f"{sha256}.zip").unlink(missing_ok=True)
            tree = self._trees / sha256
            if not tree.is_dir():
                return
            # A sibling, not a subfolder: moving a sealed (0o555) dir to another parent needs
            # write permission on the dir itself, to rewrite its "..".
            trash = self._trees / f".trash-{os.getpid()}-{secrets.token_hex(8)}"
            os.rename(tree, trash)
            _remove(trash)

    # -- validation -----------------------------------------------------------------------

    def _validate(self, data: bytes) -> tuple[zipfile.ZipFile, list[_Entry], int]:
        """Open and check the whole archive; the caller closes the returned ZipFile."""
        limit = self._limits.zip_max_entries
        # zipfile builds one ZipInfo (~300 bytes) per central record before we can count them:
        # count signatures first so 50 MB of tiny records cannot cost a gigabyte of memory.
        if _central_records(data) > limit:
            raise _refusal(f"the file has more than {limit} entries.")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except _CORRUPT:
            raise InvalidParameterValueException(UNREADABLE) from None
        try:
            entries, unzipped = self._check(archive)
        except BaseException:
            archive.close()
            raise
        return archive, entries, unzipped

    def _check(self, archive: zipfile.ZipFile) -> tuple[list[_Entry], int]:
        infos = archive.infolist()
        if len(infos) > self._limits.zip_max_entries:
            raise _refusal(f"the file has more than {self._limits.zip_max_entries} entries.")
        entries: dict[str, _Entry] = {}
        unzipped = 0
        for info in infos:
            name = info.orig_filename  # zipfile's .filename is cut at NUL; check what was sent
            path = self._normalize(name)
            kind = _kind(info)
            if info.flag_bits & 0x41:  # bit 0: encrypted, bit 6: strong encryption
                raise _refusal(f"entry {_q(name)} is encrypted; encrypted zips are not supported.")
            if kind is not _Kind.DIR:
                if info.compress_type not in _METHODS:
                    raise _refusal(f"entry {_q(name)} uses compression method {info.compress_type}; "
                                   "only stored and deflate are supported.")
                unzipped += info.file_size
            if path == "":
                if kind is _Kind.DIR:
                    continue  # "./" names the tree itself
                raise _refusal(f"entry {_q(name)} does not name a file inside the code directory.")
            if path in entries:
                raise _refusal(f"entry {_q(name)} appears more than once.")
            target = _read_link(archive, info) if kind is _Kind.LINK else ""
            entries[path] = _Entry(info, path, kind, target)
        if unzipped > self._limits.code_unzipped_bytes:
            raise _unzipped_too_large(self._limits)
        links = {e.path: e.target for e in entries.values() if e.kind is _Kind.LINK}
        for entry in entries.values():
            _check_parents(entry, entries)
            if entry.kind is _Kind.LINK and not _resolves_inside(entry.path, links):
                raise _refusal(f"symlink {_q(entry.info.orig_filename)} points to "
                               f"{_q(entry.target)}, outside the code directory.")
        return list(entries.values()), unzipped

    def _normalize(self, name: str) -> str:
        """The entry's path relative to the tree, or a refusal naming what is wrong with it."""
        if not name:
            raise _refusal("an entry has an empty name.")
        if "\x00" in name:
            raise _refusal(f"entry {_q(name)} has a NUL byte in its name.")
        if "\\" in name:
            raise _refusal(f"entry {_q(name)} contains a backslash; "
                           "zip entry names must separate folders with '/'.")
        if name.startswith("/"):
            raise _refusal(f"entry {_q(name)} is an absolute path.")
        if _DRIVE.match(name):
            raise _refusal(f"entry {_q(name)} starts with a drive letter.")
        parts: list[str] = []
        for part in name.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    raise _refusal(f"entry {_q(name)} escapes the code directory.")
                parts.pop()
            elif len(os.fsencode(part)) > _NAME_MAX:
                raise _refusal(f"entry {_q(name)} has a name longer than {_NAME_MAX} bytes.")
            else:
                parts.append(part)
        path = "/".join(parts)
        if len(os.fsencode(path)) > self._path_max:
            raise _refusal(f"entry {_q(name)} has a path longer than {self._path_max} bytes.")
        return path

    # -- storage --------------------------------------------------------------------------

    def _unpack(self, archive: zipfile.ZipFile, entries: list[_Entry], tree: Path) -> None:
        """Extract into a temporary sibling, seal it read-only and rename it to ``tree``."""
        temp = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=self._trees))
        try:
            base = f"{temp}/"
            dirs = {""}
            used = 0
            for entry in entries:
                _make_dirs(base, entry.path.rpartition("/")[0], dirs)
                if entry.kind is _Kind.DIR:
                    _make_dirs(base, entry.path, dirs)
                elif entry.kind is _Kind.LINK:
                    os.symlink(entry.target, base + entry.path)
                else:
                    used += _extract(archive, entry, base + entry.path, used, self._limits)
            for d in dirs:
                os.chmod(base + d, 0o555)
            try:
                os.rename(temp, tree)
            except OSError:
                if not tree.is_dir():
                    raise
                # Another process renamed the same bytes' tree into place first; keep theirs.
                _remove(temp)
        except BaseException:
            if temp.exists():
                _remove(temp)
            raise

    def _store_blob(self, sha: str, data: bytes) -> None:
        fd, name = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", suffix=".zip", dir=self._blobs)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fchmod(out.fileno(), 0o444)
                os.fsync(out.fileno())
            os.replace(name, self._blobs / f"{sha}.zip")
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def _remember(self, sha: str, size: int, unzipped: int) -> CodeArtifact:
        artifact = CodeArtifact(
            sha256=sha, code_sha256=base64.b64encode(bytes.fromhex(sha)).decode("ascii"),
            size=size, unzipped_size=unzipped,
            zip_path=self._blobs / f"{sha}.zip", root=self._trees / sha)
        self._known[sha] = artifact
        return artifact

    @contextmanager
    def _locked(self, sha: str) -> Iterator[None]:
        """One lock per digest, dropped when its last user leaves."""
        with self._guard:
            lock, users = self._locks.setdefault(sha, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[sha]

    def _sweep(self) -> None:
        """Remove temporaries of processes that no longer run (a crash mid-upload or mid-delete)."""
        for folder in (self._trees, self._blobs):
            for child in folder.iterdir():
                match = _TEMP.match(child.name)
                if match is None or _alive(int(match.group(1))):
                    continue
                if child.is_dir() and not child.is_symlink():
                    _remove(child)
                else:
                    child.unlink(missing_ok=True)


def _kind(info: zipfile.ZipInfo) -> _Kind:
    # Unix mode bits live in the high half of external_attr. Like Info-ZIP's unzip, honour them
    # whenever they are set, whatever system the zip claims to come from.
    mode = info.external_attr >> 16
    fmt = stat.S_IFMT(mode)
    if fmt == stat.S_IFLNK:
        return _Kind.LINK
    if fmt == stat.S_IFDIR:
        return _Kind.DIR
    if fmt not in (0, stat.S_IFREG):
        what = _SPECIAL.get(fmt, "special file")
        raise _refusal(f"entry {_q(info.orig_filename)} is a {what}; "
                       "only files, directories and symlinks are allowed.")
    return _Kind.DIR if info.orig_filename.endswith("/") else _Kind.FILE


def _read_link(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """A symlink's target, which the zip stores as the entry's content."""
    name = _q(info.orig_filename)
    if info.file_size > _LINK_TARGET_MAX:
        raise _refusal(f"symlink {name} has a target longer than {_LINK_TARGET_MAX} bytes.")
    try:
        raw = archive.read(info)
    except _CORRUPT:
        raise _corrupted(info) from None
    try:
        target = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refusal(f"symlink {name} has a target that is not UTF-8.") from None
    if not target or "\x00" in target:
        raise _refusal(f"symlink {name} has an empty target or one with a NUL byte.")
    if target.startswith("/"):
        raise _refusal(f"symlink {name} points to the absolute path {_q(target)}; "
                       "symlinks must stay inside the code directory.")
    return target


def _check_parents(entry: _Entry, entries: dict[str, _Entry]) -> None:
    """Refuse an entry below a file or a symlink: nothing is ever written through a link."""
    parent = entry.path
    while "/" in parent:
        parent = parent.rpartition("/")[0]
        above = entries.get(parent)
        if above is not None and above.kind is not _Kind.DIR:
            raise _refusal(f"entry {_q(entry.info.orig_filename)} is inside "
                           f"{_q(above.info.orig_filename)}, which is not a directory.")


def _resolves_inside(path: str, links: dict[str, str]) -> bool:
    """Whether following the symlink at ``path`` stays in the tree, as the kernel would follow it.

    Resolution runs over the zip's own symlinks, so a chain (``s -> .`` then ``t -> s/s/../..``)
    is judged by where it really lands, and never looks at anything outside the tree.
    """
    where = path.split("/")[:-1]  # physical directory components, root = []
    pending = list(reversed(links[path].split("/")))
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not where:
                return False
            where.pop()
            continue
        where.append(part)
        target = links.get("/".join(where))
        if target is not None:
            hops += 1
            if hops > _LINK_HOPS_MAX:
                return True
            where.pop()
            if target.startswith("/"):
                return False
            pending.extend(reversed(target.split("/")))
    return True


def _make_dirs(base: str, path: str, made: set[str]) -> None:
    """Create ``path`` and its missing parents under ``base`` (which ends in "/")."""
    missing = []
    while path not in made:
        missing.append(path)
        path = path.rpartition("/")[0]
    for d in reversed(missing):
        os.mkdir(base + d, 0o755)
        made.add(d)


def _extract(archive: zipfile.ZipFile, entry: _Entry, dest: str, used: int, limits: Limits) -> int:
    """Stream one member to ``dest``, counting the bytes really inflated; returns them.

    ``used`` is what earlier members inflated to: the limit is on the tree's real total.
    """
    info = entry.info
    # 0o555 keeps a provided runtime's `bootstrap` executable; any x bit in the zip means x.
    mode = 0o555 if (info.external_attr >> 16) & 0o111 else 0o444
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    written = 0
    with os.fdopen(fd, "wb") as out:
        try:
            member = archive.open(info)
        except _CORRUPT:
            raise _corrupted(info) from None
        with member:
            while True:
                try:
                    chunk = member.read(_CHUNK)
                except _CORRUPT:
                    raise _corrupted(info) from None
                if not chunk:
                    break
                written += len(chunk)
                # Declared sizes were checked up front; these are the real bytes, in case a
                # member inflates past what its header claims.
                if used + written > limits.code_unzipped_bytes:
                    raise _unzipped_too_large(limits)
                out.write(chunk)
        os.fchmod(out.fileno(), mode)
    if written != info.file_size:
        raise _corrupted(info)
    return written


def _central_records(data: bytes) -> int:
    """An upper bound on the central directory records zipfile will parse in ``data``."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(data):
        return 0  # no end record: zipfile refuses the bytes before parsing any entry
    size, start = struct.unpack_from("<L", data, end + 12)[0], 0
    locator = end - 20
    if locator >= 0 and data.startswith(b"PK\x06\x07", locator):
        start = 0  # zip64: the directory's bounds come from another record; count everything
    elif size <= end:
        start = end - size
    return data.count(b"PK\x01\x02", start, end)


_UNZIPPED = "Unzipped size must be smaller than {} bytes"  # AWS's wording, no full stop


def _unzipped_too_large(limits: Limits) -> AwsError:
    return InvalidParameterValueException(_UNZIPPED.format(limits.code_unzipped_bytes))


def _corrupted(info: zipfile.ZipInfo) -> AwsError:
    return _refusal(f"entry {_q(info.orig_filename)} is corrupted.")


def _refusal(detail: str) -> AwsError:
    return InvalidParameterValueException(f"Could not unzip uploaded file: {detail}")


def _q(name: str, limit: int = 120) -> str:
    """``name`` quoted for a message: control characters escaped, long names cut."""
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in name)
    if len(shown) > limit:
        shown = shown[:limit] + "..."
    return f"'{shown}'"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    """rmtree for a sealed tree: give its directories their write bit back first."""
    for dirpath, _, _ in os.walk(path):  # os.walk does not follow symlinks into other trees
        os.chmod(dirpath, 0o755)
    shutil.rmtree(path)
