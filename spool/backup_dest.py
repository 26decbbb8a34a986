"""Writing a backup into DEST without ever writing through a link someone put there.

DEST may be a medium other people can write to. Everything in it is reached through
folder descriptors opened with O_NOFOLLOW, every file is written under a new hidden name
created with O_EXCL|O_NOFOLLOW, fsynced, and renamed into place: a rename replaces a
name (a symlink there included), it never writes through it. A symlinked folder in DEST
is reported and never entered.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from printstation.base.errors import StationError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# The medium itself failing: carrying on would only repeat the error for every file.
_FATAL_WRITE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})

Problem = Callable[[str], None]


class BackupFailed(StationError):
    """The copy is not trustworthy; the previous backup (if any) was left as it was."""


def open_dest(dest: Path) -> int:
    """DEST as a folder descriptor: created when missing; a symlink or a file is refused."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass  # a name that is not a folder: said below
    except OSError as exc:
        raise BackupFailed(f"cannot create {dest}: {exc.strerror}") from None
    try:
        return os.open(dest, DIR_FLAGS)
    except OSError as exc:
        if os.path.islink(dest):
            raise BackupFailed(f"{dest} is a symlink, which a backup does not follow: give "
                               "the real folder as DEST") from None
        raise BackupFailed(f"{dest}: not a folder ({exc.strerror})") from None


def dest_folder(parent: int, name: str, mode: int, shown: Path,
                problem: Problem) -> int | None:
    """The folder `name` in DEST (created when missing) as a descriptor; None, reported,
    when it is a symlink or cannot be made."""
    try:
        os.mkdir(name, mode | 0o700, dir_fd=parent)
    except FileExistsError:
        pass
    except OSError as exc:
        problem(f"{shown}: cannot create: {exc.strerror}; nothing under it was copied")
        return None
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        try:
            link = stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
        except OSError:
            link = False
        why = "is a symlink" if link else f"is not a folder ({exc.strerror})"
        problem(f"{shown} {why}: not followed; nothing under it was copied (remove it and "
                "run the backup again)")
        return None


def hidden_name() -> str:
    # Hidden: a later backup's walk, and anyone listing DEST, can tell it is unfinished.
    return f".printstation-backup-{os.getpid()}-{secrets.token_hex(4)}.part"


def install(dir_fd: int, name: str, chunks: Iterable[bytes], mode: int, shown: Path) -> None:
    """Write `name` in the folder `dir_fd` durably: a new name first, then renamed."""
    tmp = hidden_name()
    try:
        out = os.open(tmp, _CREATE, mode, dir_fd=dir_fd)
        with os.fdopen(out, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        discard(tmp, dir_fd)
        raise BackupFailed(f"cannot write {shown}: {exc.strerror}") from None
    sync_dir(dir_fd)


def discard(name: str, dir_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def sync_dir(dir_fd: int) -> None:
    """Put new names on disk; a filesystem that cannot sync a folder says EINVAL."""
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise


class Output:
    """One archive file being copied into DEST, chunk by chunk as it is hashed.

    A failure that concerns this file alone (a name the medium refuses) is reported and
    the walk goes on; the medium itself failing (full, read-only, I/O error) stops the
    backup.
    """

    def __init__(self, dst: int, name: str, info: os.stat_result, shown: Path,
                 problem: Problem):
        self.dst, self.name, self.info, self.shown = dst, name, info, shown
        self.problem = problem
        self.tmp = hidden_name()
        self.fh: BinaryIO | None = None

        def create() -> None:
            fd = os.open(self.tmp, _CREATE, stat.S_IMODE(info.st_mode) & 0o777, dir_fd=dst)
            self.fh = os.fdopen(fd, "wb")

        self._attempt(create)

    def write(self, chunk: bytes) -> bool:
        """False once the copy has failed (the caller goes on hashing)."""
        fh = self.fh
        return fh is not None and self._attempt(lambda: fh.write(chunk))

    def finish(self) -> bool:
        """Sync the copy, give it the file's times, and rename it into place."""
        fh = self.fh
        if fh is None:
            return False

        def done() -> None:
            fh.flush()
            os.fsync(fh.fileno())
            os.utime(fh.fileno(), ns=(self.info.st_atime_ns, self.info.st_mtime_ns))
            fh.close()
            os.rename(self.tmp, self.name, src_dir_fd=self.dst, dst_dir_fd=self.dst)

        return self._attempt(done)

    def abandon(self) -> None:
        if self.fh is not None:
            with contextlib.suppress(OSError):
                self.fh.close()
            self.fh = None
        discard(self.tmp, self.dst)

    def _attempt(self, action: Callable[[], object]) -> bool:
        try:
            action()
            return True
        except OSError as exc:
            self.abandon()
            if exc.errno in _FATAL_WRITE:
                raise BackupFailed(f"{self.shown}: {exc.strerror}: the backup stopped") \
                    from None
            self.problem(f"{self.shown}: not copied: {exc.strerror}")
            return False
