"""Durable file operations: atomic writes and moves that survive a crash or power loss.

Write to a temporary file in the target folder, flush and fsync it, `os.replace` it into
place, then fsync the folder so the new name itself is on disk (borg's SaveFile; Mailman
forgets the last step).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from pathlib import Path


def _temp_name(kind: str) -> str:
    """A short hidden name, whatever the length of the final one (NAME_MAX is 255 bytes)."""
    return f".printstation-{os.getpid()}-{secrets.token_hex(4)}.{kind}"


def fsync_dir(path: Path) -> None:
    """Put the folder's entries (a new or renamed name) on disk.

    Some network filesystems (CIFS, some NFS set-ups) answer a folder's fsync with EINVAL:
    they cannot sync a folder, and make names durable on their own. That is not an error.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Put a file written by someone else (SQLite's backup, say) on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(src: Path, dst: Path) -> None:
    """Rename `src` over `dst` in one folder, durably: the new name survives a power loss."""
    os.replace(src, dst)
    fsync_dir(dst.parent)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never half."""
    tmp = path.with_name(_temp_name("tmp"))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def move_file(src: Path, dst: Path) -> None:
    """Move `src` to `dst` (which must not exist) durably.

    A rename when both are on one filesystem. Across filesystems the bytes are copied to a
    temporary name beside `dst`, fsynced and renamed, and only then is `src` removed: a
    crash in between leaves two copies, never none. Symlinks and other non-regular files
    are moved as they are, never opened.
    """
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = dst.with_name(_temp_name("part"))
        if src.is_symlink() or not src.is_file():
            # A link or special file cannot be copied without opening it: recreate the link,
            # and refuse anything else across filesystems.
            if not src.is_symlink():
                raise
            os.symlink(os.readlink(src), tmp)
        else:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                os.fsync(fout.fileno())
        os.rename(tmp, dst)
        fsync_dir(dst.parent)
        os.unlink(src)
    fsync_dir(dst.parent)
    fsync_dir(src.parent)


NAME_MAX = 255


def fit_name(name: str, suffix: str = "", limit: int = NAME_MAX) -> str:
    """`name + suffix`, the name's stem shortened (extension kept) to fit `limit` bytes.

    Works on the bytes the filesystem sees, so names that are not UTF-8 (surrogate-
    escaped by Python) survive unchanged when they fit.
    """
    raw, tail = os.fsencode(name), os.fsencode(suffix)
    if len(raw) + len(tail) <= limit:
        return name + suffix
    stem, dot, ext = raw.rpartition(b".")
    if not dot or not stem or len(ext) > 16:
        stem, ext = raw, b""
    else:
        ext = b"." + ext
    room = limit - len(tail) - len(ext) - 1
    return os.fsdecode(stem[:room] + b"~" + ext + tail)


def free_name(folder: Path, name: str, tag: str) -> Path:
    """`folder/name`, or with `.tag` before the extension when that name is taken."""
    candidate = folder / fit_name(name)
    if not os.path.lexists(candidate):
        return candidate
    stem, dot, ext = name.rpartition(".")
    tagged = f"{stem}.{tag}.{ext}" if dot and stem else f"{name}.{tag}"
    return folder / fit_name(tagged)
