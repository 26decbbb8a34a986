"""What the intake asks of a file in the drop folder before and after taking it: is it a
name we leave alone, is it complete, what are its bytes' sha256 (SPEC §5).

Every read here is bounded: the file is opened without following a symlink and without
blocking on a FIFO swapped in at the last moment, checked to be a regular file of at most
the size limit through its descriptor, and only the bytes a check needs are read (a PDF's
tail, an XML's head and tail, a small JSON whole). A gigabyte being copied into the folder
used to be read whole on every change: gigabytes of memory, and a stop that took minutes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import struct
from collections.abc import Mapping
from pathlib import Path

from printstation.base.durable import open_regular

IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload")
HEAD = 4096
TAIL = 1024
# A zip's end record is 22 bytes plus a comment of at most 65,535.
ZIP_TAIL = 22 + 65535
_CHUNK = 1 << 20
# What the last bytes of a whole file of each kind look like (JSON: before parsing it).
_JSON_END = (b"}", b"]")


def ignored(name: str) -> bool:
    """Names a writer uses while it is still writing, and dot-files, are left alone."""
    lower = name.lower()
    return name.startswith((".", "~")) or lower.endswith(IGNORED_SUFFIXES)


def _read_at(fd: int, offset: int, size: int) -> bytes:
    parts = []
    while size > 0 and (chunk := os.pread(fd, size, offset)):
        parts.append(chunk)
        offset += len(chunk)
        size -= len(chunk)
    return b"".join(parts)


def signature(st: os.stat_result) -> tuple[int, int, int]:
    """What tells one version of a file from the next: (size, mtime, inode)."""
    return st.st_size, st.st_mtime_ns, st.st_ino


def complete_by_content(path: Path, name: str, max_bytes: int = 20 << 20,
                        expect: tuple[int, int, int] | None = None) -> bool:
    """True when the bytes themselves show the file is whole (it may still be invalid).

    False for anything that is not a regular file of at most `max_bytes`, and, with
    `expect` (a `signature`), for a file that is no longer the one the caller looked at.
    """
    ext = os.path.splitext(name)[1].lower()
    if ext not in (".pdf", ".xml", ".json", ".ofd", ".zip"):
        return False
    try:
        fd, st = open_regular(path)
    except OSError:
        return False
    try:
        size = st.st_size
        if size > max_bytes or (expect is not None and signature(st) != expect):
            return False
        if ext in (".ofd", ".zip"):
            return _zip_whole(_read_at(fd, max(0, size - ZIP_TAIL), ZIP_TAIL), size)
        tail = _read_at(fd, max(0, size - TAIL), TAIL).rstrip()
        if ext == ".pdf":
            return tail.endswith(b"%%EOF")
        if ext == ".xml":
            head = re.sub(rb"<\?.*?\?>|<!--.*?-->", b"", _read_at(fd, 0, HEAD), flags=re.S)
            root = re.search(rb"<([A-Za-z_][\w.:-]*)[\s>/]", head)
            return bool(root) and tail.endswith(b"</" + root.group(1) + b">")
        if not tail.endswith(_JSON_END):
            return False  # cheap: most partial JSON files stop here, unparsed
        data = _read_at(fd, 0, size)
    except OSError:
        return False
    finally:
        os.close(fd)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            json.loads(data.decode(encoding))
            return True
        except (UnicodeDecodeError, ValueError, RecursionError):
            continue
    return False


def _zip_whole(tail: bytes, size: int) -> bool:
    """A zip (OFD is one) is whole when its end record closes the file and its central
    directory ends where that record begins: a zip writer writes both last."""
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return False
    end = size - len(tail) + at
    directory_size, directory_at, comment = struct.unpack("<IIH", tail[at + 12:at + 22])
    if directory_at == 0xFFFFFFFF:
        return False  # zip64: rare for invoices; the settle time decides
    return end + 22 + comment == size and directory_at + directory_size == end


def file_digest(path: Path) -> tuple[str | None, int | None]:
    """(sha256, size) of a spooled file, read in chunks.

    Never raises for the file itself: a file the daemon may not read gives (None, its
    size), and one that is not a regular file (or is gone) gives (None, None). The reader
    then refuses it with its own code (`file.unreadable`, `file.not_regular`); start-up
    recovery calls this too, and must not stop on one bad file.
    """
    try:
        fd, _ = open_regular(path)
    except PermissionError:
        try:
            return None, os.lstat(path).st_size
        except OSError:
            return None, None
    except OSError:
        return None, None
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            size += len(chunk)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EIO, errno.EPERM):
            raise
        return None, size
    finally:
        os.close(fd)
    return digest.hexdigest(), size


def must_copy(path: Path, st: os.stat_result, max_bytes: int) -> bool:
    """Whether the intake copies this file into the spool rather than linking it.

    A file with other hard links is copied: a writer holding another link could still
    change the bytes we spool. So is one another user owns (the finance software's):
    moved as it is, it would stay theirs to rewrite, in the spool between checking and
    printing, and in the archive afterwards. Not one over the limit, nor one we may not
    read: they are refused unread.
    """
    foreign = st.st_uid != os.geteuid() and os.access(path, os.R_OK)
    return stat.S_ISREG(st.st_mode) and (st.st_nlink > 1 or foreign) and \
        st.st_size <= max_bytes


def drop_writable(folder: Path, st: os.stat_result) -> bool:
    """May this process remove the file `st` from `folder` (by the permission bits)?

    Write and search permission on the folder, and with the sticky bit (/tmp-style) it
    must own the file or the folder. Used to tell when a folder that refused to let go of
    a file has been fixed; the unlink itself stays the real test.
    """
    try:
        folder_st = os.stat(folder)
    except OSError:
        return False
    if not os.access(folder, os.W_OK | os.X_OK, effective_ids=os.access in
                     os.supports_effective_ids):
        return False
    euid = os.geteuid()
    return not folder_st.st_mode & stat.S_ISVTX or euid in (st.st_uid, folder_st.st_uid)


def test_source_ids(environ: Mapping[str, str]) -> list[str]:
    """Test-only: `PRINTSTATION_TEST_SOURCE_IDS=A,B` makes the intake try these source ids
    first, so a test can make a new id collide with one already in use."""
    return [i for i in environ.get("PRINTSTATION_TEST_SOURCE_IDS", "").split(",") if i]
