"""Durable file operations: atomic writes and moves that survive a crash or power loss.

Write to a temporary file in the target folder, flush and fsync it, rename it into place,
then fsync the folder so the new name itself is on disk (borg's SaveFile; Mailman forgets
the last step).

Files we hand to people (rejected files, their reports, result files) are never put over
an existing name: `rename_new` refuses to replace (renameat2 RENAME_NOREPLACE, or a hard
link, which fails on an existing name), and `create_new` (and base/filenames.py's
`free_name`) pick another name.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

# Every temporary name we make starts so; `remove_stale_temps` removes nothing else.
TEMP_PREFIX = ".printstation-"
_CHUNK = 1 << 20


def _temp_name(kind: str) -> str:
    """A short hidden name, whatever the length of the final one (NAME_MAX is 255 bytes)."""
    return f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.{kind}"


def disk_full(exc: BaseException) -> bool:
    """The error says the filesystem (or the user's quota) is full: ENOSPC or EDQUOT from
    the OS, SQLITE_FULL (13, extended codes keep it in the low byte) from SQLite."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == 13


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


def fsync_dirs(folders: Iterable[Path]) -> None:
    """Sync each distinct folder once (the names a batch of moves or writes made)."""
    for folder in sorted(set(folders)):
        fsync_dir(folder)


def fsync_file(path: Path) -> None:
    """Put a file written by someone else (SQLite's backup, say) on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_files(paths: Iterable[Path]) -> None:
    """Put each file that exists on disk (the pages a batch's printer left unsynced)."""
    for path in paths:
        try:
            fsync_file(path)
        except FileNotFoundError:
            continue


def replace_file(src: Path, dst: Path) -> None:
    """Rename `src` over `dst` in one folder, durably: the new name survives a power loss."""
    os.replace(src, dst)
    fsync_dir(dst.parent)


def _write_temp(folder: Path, data: bytes, mode: int, sync: bool = True) -> Path:
    """`data` in a new temporary file in `folder`, on disk (unless not `sync`); removed
    again if that fails."""
    tmp = folder / _temp_name("tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: Path, data: bytes, mode: int = 0o644, sync_dir: bool = True,
                 sync_data: bool = True) -> None:
    """Replace `path` with `data`: readers see the old or the new file, never half. With
    `sync_dir=False` the bytes are on disk but the name may not be, with `sync_data=False`
    not the bytes either (a process crash loses neither): the caller syncs them."""
    tmp = _write_temp(path.parent, data, mode, sync_data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """libc's renameat2 (glibc 2.28 and later), or None."""
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                     ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# A filesystem that cannot rename without replacing answers these; links may still work.
_NOREPLACE_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP)
# Hard links refused: protected_hardlinks (a file of another user), or no links at all.
_LINK_REFUSED = (errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP)


def rename_new(src: Path, dst: Path) -> None:
    """Rename `src` to `dst` in one step, failing with FileExistsError if `dst` exists.

    renameat2(RENAME_NOREPLACE) where the kernel and filesystem have it; else a hard link
    (which never replaces) and an unlink; else, where links are refused too, a check then
    a plain rename (the only gap: a name made in between by someone else). Not durable by
    itself: the caller fsyncs the folders.
    """
    func = _renameat2()
    if func is not None:
        if func(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in _NOREPLACE_UNSUPPORTED:
            raise OSError(err, os.strerror(err), str(src), None, str(dst))
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _LINK_REFUSED:
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst)) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """A descriptor on `path` for reading, and its stat, if it is a regular file.

    Never follows a symlink, and O_NONBLOCK means a FIFO swapped in at the last moment
    does not hang the open; anything but a regular file raises OSError(EINVAL).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def copy_new(src: Path, dst: Path, abort: Callable[[], bool] | None = None,
             expect: tuple[int, int] | None = None) -> None:
    """Copy regular file `src` to the new name `dst`, durably, never replacing `dst`.

    The bytes go to a temporary name beside `dst`, are fsynced, and only then get the
    name: a crash leaves no half file under it. `abort` is asked between chunks (a daemon
    asked to stop gives up a long copy: InterruptedError); `expect` (device, inode) makes
    sure the file copied is the one the caller looked at.
    """
    fd, st = open_regular(src)
    tmp = dst.with_name(_temp_name("part"))
    try:
        if expect is not None and (st.st_dev, st.st_ino) != expect:
            raise FileNotFoundError(errno.ENOENT, "replaced while being taken", str(src))
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                               (st.st_mode & 0o777) | 0o600), "wb") as fout:
            while chunk := os.read(fd, _CHUNK):
                if abort is not None and abort():
                    raise InterruptedError(errno.EINTR, "copy abandoned: stopping", str(src))
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        # Written to while it was copied: the copy may mix old and new bytes. Give it
        # up; the caller takes the file again once it has settled.
        after = os.fstat(fd)
        if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != \
                (st.st_size, st.st_mtime_ns, st.st_ctime_ns):
            raise FileNotFoundError(errno.ENOENT, "changed while being copied", str(src))
        rename_new(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    fsync_dir(dst.parent)


def same_file(a: Path, b: Path) -> bool:
    """`a` and `b` are one inode, or two regular files with the same bytes (a copy)."""
    sa, sb = os.lstat(a), os.lstat(b)
    if os.path.samestat(sa, sb):
        return True
    if not (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)) or sa.st_size != sb.st_size:
        return False
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                ca, cb = fa.read(_CHUNK), fb.read(_CHUNK)
                if ca != cb:
                    return False
                if not ca:
                    return True
    except OSError:
        return False


def move_file(src: Path, dst: Path, abort: Callable[[], bool] | None = None,
              sync: bool = True) -> None:
    """Move `src` to `dst` (which must not exist) durably; never replaces `dst`.

    A rename when both are on one filesystem. Across filesystems the bytes are copied to a
    temporary name beside `dst`, fsynced and given the name, and only then is `src`
    removed: a crash in between leaves two copies, never none. A `dst` that already holds
    `src` (the same inode, or the same bytes: such a crash) completes the move. Symlinks
    and other non-regular files are moved as they are, never opened.
    `sync=False`: a rename leaves both folders for the caller to sync (`fsync_dirs`, once
    for a batch); a copy is synced here, since it must be on disk before `src` goes."""
    try:
        rename_new(src, dst)
    except FileExistsError:
        if not same_file(src, dst):
            raise
        os.unlink(src)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        st = os.lstat(src)
        if stat.S_ISLNK(st.st_mode):
            # A link is recreated, never followed.
            tmp = dst.with_name(_temp_name("part"))
            os.symlink(os.readlink(src), tmp)
            try:
                rename_new(tmp, dst)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        elif stat.S_ISREG(st.st_mode):
            try:
                copy_new(src, dst, abort, (st.st_dev, st.st_ino))
            except FileExistsError:
                if not same_file(src, dst):
                    raise
        else:
            raise  # a FIFO or device cannot be copied without opening it
        fsync_dir(dst.parent)
        os.unlink(src)
    if sync:
        fsync_dir(dst.parent)
        fsync_dir(src.parent)


def create_new(names: Iterable[Path], data: bytes, ours: Callable[[Path], bool],
               mode: int = 0o644, sync_dir: bool = True) -> Path:
    """Write `data` under the first of `names` that is free, atomically and durably.

    A name that exists is never replaced: if `ours` recognises the file there (our own,
    written before a crash), that one is kept and returned; otherwise the next name is
    tried. `names` must all be in one folder and should not end. `sync_dir=False`: the
    caller syncs the folder (once for a batch of files)."""
    tmp: Path | None = None
    try:
        for name in names:
            if tmp is None:
                tmp = _write_temp(name.parent, data, mode)
            try:
                rename_new(tmp, name)
            except FileExistsError:
                if ours(name):
                    return name
                continue
            tmp = None
            if sync_dir:
                fsync_dir(name.parent)
            return name
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    raise FileExistsError(errno.EEXIST, "no free name")


def remove_stale_temps(folder: Path, recursive: bool = False) -> list[Path]:
    """Remove our temporary files that a crash left in `folder` (not those of a process
    still running, such as this one); returns what was removed."""
    removed: list[Path] = []
    below: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if recursive and entry.is_dir(follow_symlinks=False):
            below += remove_stale_temps(Path(entry.path), recursive)
            continue
        if not entry.name.startswith(TEMP_PREFIX) or not entry.name.endswith((".tmp", ".part")):
            continue
        pid = entry.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except FileNotFoundError:
            pass
    if removed:
        fsync_dir(folder)
    return removed + below


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
