"""The spool folder: where claimed files live until their jobs are final.

A claimed file is renamed to `spool/<SOURCE ID>--<original name>`, so that after a crash
between the rename and the journal insert the file still says what it is; start-up
registers such orphans. Spool names are always valid UTF-8 and at most NAME_MAX bytes (the
journal stores them as text): a name that is not UTF-8 is shown with \\xNN escapes, a long
one is shortened with a hash. Printed files are archived under `archive/YYYY/MM/DD/`.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from printstation.base.durable import (
    copy_new,
    fsync_dir,
    remove_stale_temps,
    rename_new,
    same_file,
)
from printstation.base.filenames import fit_name

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
ID_RANDOM_CHARS = 10  # 50 random bits
# The drop folder will not let go of a file: no write permission, a sticky bit, read-only.
_LOCKED = (errno.EACCES, errno.EPERM, errno.EROFS)


class DropLocked(OSError):
    """The file could be read but not removed from the drop folder; nothing was taken."""


@dataclass
class Claim:
    """One file to take into the spool: where it is, the source id it gets, whether its
    bytes are copied, and the (device, inode) the caller looked at."""

    src: Path
    source_id: str
    copy: bool = False
    expect: tuple[int, int] | None = None


def display_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 shown as \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def new_source_id(now: dt.datetime, randbits: Callable[[int], int] = secrets.randbits) -> str:
    """A short id a clerk can type: a date prefix that sorts, and 50 random bits.

    Fifty bits keep a collision within one day's files below one in a billion at a
    hundred thousand files a day; the intake still checks each new id is unused.
    """
    stamp = now.strftime("%y%m%d")
    rand = randbits(5 * ID_RANDOM_CHARS)
    tail = "".join(_ALPHABET[(rand >> (5 * i)) & 31] for i in reversed(range(ID_RANDOM_CHARS)))
    return f"{stamp}{tail}"


def _is_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SpoolDir:
    def __init__(self, data_dir: Path):
        self.root = data_dir / "spool"
        self.archive_root = data_dir / "archive"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.archive_root.mkdir(parents=True, exist_ok=True)

    def clean_temps(self) -> list[Path]:
        """Remove temporary files a crash left in the spool and the archive."""
        return remove_stale_temps(self.root) + remove_stale_temps(self.archive_root, True)

    def path(self, spool_name: str) -> Path:
        return self.root / spool_name

    def has_id(self, source_id: str) -> bool:
        """Some spool file already carries this source id."""
        prefix = f"{source_id}--"
        return any(name.startswith(prefix) for name in os.listdir(self.root))

    def ids(self) -> set[str]:
        """The source ids the spool's files carry (listed once for a batch of claims)."""
        return {name.partition("--")[0] for name in os.listdir(self.root) if "--" in name}

    def claim(self, src: Path, source_id: str, copy: bool = False,
              abort: Callable[[], bool] | None = None,
              expect: tuple[int, int] | None = None) -> str:
        """Move `src` into the spool durably; returns its spool name.

        Maildir-style: hard-link it into the spool, sync, then unlink the original. A
        rename out of the watched folder would raise an unmatched IN_MOVED_FROM, which
        watchdog holds for 0.5 s to pair it, delaying every later event behind it; an
        unlink raises IN_DELETE, which it passes on at once. After a crash between link
        and unlink both names share one inode, and `finish_claim` completes the claim.
        Where links are refused, rename (never over an existing name); across
        filesystems, and with `copy` (a file with other hard links, whose bytes a writer
        could still change through them), copy the bytes, then unlink the original.

        If the original cannot be removed (DropLocked), our copy is removed again: the
        file stays where it is, taken once.
        """
        result = self.claim_many([Claim(src, source_id, copy, expect)], abort)[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def claim_many(self, claims: list[Claim], abort: Callable[[], bool] | None = None
                   ) -> list[str | Exception]:
        """Claim several files as `claim` does, with each folder synced once for them all.

        The spool's new names are all made first and the spool folder synced once; only
        then are the drop folder's names removed and that folder synced once. So a power
        loss never finds a file gone from the drop folder but not yet in the spool, and a
        crash between the two steps leaves files under both names, which start-up
        recovery finishes one by one (`finish_claim`). Returns, in order, each file's
        spool name or the exception that stopped its claim (FileNotFoundError: taken
        away or replaced; InterruptedError: stopping; DropLocked; any other error).
        """
        placed: list[str | Exception] = []
        for claim in claims:
            try:
                placed.append(self._place(claim, abort))
            except Exception as exc:
                placed.append(exc)
        if any(isinstance(p, str) for p in placed):
            fsync_dir(self.root)
            # Test-only: a crash between link and unlink (see daemon/crash.py).
            if os.environ.get("PRINTSTATION_CRASH_AT") == "between_link_and_unlink":
                os.kill(os.getpid(), 9)
        results: list[str | Exception] = []
        let_go: set[Path] = set()
        for claim, spool_name in zip(claims, placed, strict=True):
            if isinstance(spool_name, str):
                try:
                    self._let_go(claim.src, self.root / spool_name, claim.expect)
                    let_go.add(claim.src.parent)
                except Exception as exc:
                    spool_name = exc
            results.append(spool_name)
        for folder in sorted(let_go):
            fsync_dir(folder)
        return results

    def _place(self, claim: Claim, abort: Callable[[], bool] | None) -> str:
        """Give the file its spool name (a link, a copy, or, where links are refused, a
        rename that also removes the drop folder's name); its folders are synced by
        `claim_many`, once for the batch (a copy's bytes and name are synced here)."""
        src = claim.src
        spool_name = fit_name(f"{claim.source_id}--{display_name(src.name)}")
        dst = self.root / spool_name
        if os.path.lexists(dst):
            raise FileExistsError(dst)
        if claim.expect is None:
            st = os.lstat(src)
            claim.expect = (st.st_dev, st.st_ino)
        if claim.copy:
            copy_new(src, dst, abort, claim.expect)
            return spool_name
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                self._copy_across(src, dst, abort, claim.expect)
                return spool_name
            if exc.errno not in (errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP):
                raise
            try:
                rename_new(src, dst)
            except OSError as exc2:
                if exc2.errno in _LOCKED:
                    raise DropLocked(exc2.errno, exc2.strerror, str(src)) from None
                raise
            # Renamed: the drop folder's name is gone already; `_let_go` finds nothing.
            return spool_name
        linked = os.lstat(dst)
        if (linked.st_dev, linked.st_ino) != claim.expect:
            # Another file was put under the name after the caller looked at it: not
            # the one it checked. Let go of it; the caller looks at it afresh.
            os.unlink(dst)
            raise FileNotFoundError(errno.ENOENT, "replaced while being taken", str(src))
        return spool_name

    def _copy_across(self, src: Path, dst: Path, abort: Callable[[], bool] | None,
                     expect: tuple[int, int] | None) -> None:
        st = os.lstat(src)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
            fsync_dir(self.root)
        elif stat.S_ISREG(st.st_mode):
            copy_new(src, dst, abort, expect)
        else:
            # A FIFO or device cannot be copied without opening it.
            raise OSError(errno.EXDEV, "a special file cannot cross filesystems", str(src))

    def _let_go(self, src: Path, dst: Path, ident: tuple[int, int]) -> None:
        """Unlink the drop folder's name now that the spool holds the file.

        Only if the name still holds the inode `ident` (device, inode) we took: a writer
        may have renamed a new file over it since, which is then left for its own turn.
        If the folder refuses, our copy is removed again: DropLocked. The caller syncs the
        drop folder (once for a batch).
        """
        try:
            st = os.lstat(src)
            if (st.st_dev, st.st_ino) == ident:
                os.unlink(src)
        except FileNotFoundError:
            pass  # its writer took the name away: the spool's copy is the file
        except OSError as exc:
            os.unlink(dst)
            fsync_dir(self.root)
            if exc.errno in _LOCKED:
                raise DropLocked(exc.errno, exc.strerror, str(src)) from None
            raise

    def unclaim(self, spool_name: str, drop_dir: Path, name: str) -> bool:
        """Put a file the journal never recorded back in the drop folder (the data folder
        filled up between the claim and the record). False if that is not possible now."""
        src, dst = self.root / spool_name, drop_dir / name
        try:
            rename_new(src, dst)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                return False
            try:
                self._copy_across(src, dst, None, None)
                os.unlink(src)
            except OSError:
                return False
        fsync_dir(drop_dir)
        fsync_dir(self.root)
        return True

    def finish_claim(self, spool_name: str, drop_dir: Path) -> bool:
        """Unlink the drop folder's name of a file whose claim a crash interrupted.

        The drop folder's name is found by inode, so a name the spool had to shorten or
        escape is found too. Never raises for the drop folder (start-up calls this): a name
        that cannot be removed stays, and the intake reports the folder.
        """
        try:
            spooled = os.lstat(self.root / spool_name)
            entries = list(os.scandir(drop_dir))
        except OSError:
            return False
        for entry in entries:
            try:
                if os.path.samestat(entry.stat(follow_symlinks=False), spooled):
                    os.unlink(entry.path)
                    fsync_dir(drop_dir)
                    return True
            except OSError:
                continue
        # A file claimed by copying (another user's, or hard-linked) has an inode of its
        # own: its drop name is the one in the spool name, if it still holds the same
        # bytes. Left behind, it would be taken again as a second file.
        original = drop_dir / spool_name.partition("--")[2]
        try:
            if original.name and os.path.isfile(original) and \
                    same_file(original, self.root / spool_name):
                os.unlink(original)
                fsync_dir(drop_dir)
                return True
        except OSError:
            pass
        return False

    def orphans(self, known: set[str]) -> list[tuple[str, str, str]]:
        """Spool files with no journal row: (source id, original name, spool name).

        One per source id (a second file with an id already used is left for the intake,
        which gives it a new id); a name that is not valid UTF-8 (left by an older
        version) is renamed first, so that the journal can record it.
        """
        found = []
        seen = set(known)
        for entry in sorted(os.listdir(self.root)):
            source_id, sep, name = entry.partition("--")
            if not sep or not source_id or source_id in seen or entry.startswith("."):
                continue
            if not _is_text(entry):
                fixed = self.rename(entry, source_id)
                if fixed is None:
                    continue
                entry, name = fixed, fixed.partition("--")[2]
            seen.add(source_id)
            found.append((source_id, name, entry))
        return found

    def strays(self, live: set[str]) -> list[str]:
        """Spool files that are not in `live` (the spool names the journal knows)."""
        return [n for n in sorted(os.listdir(self.root))
                if n not in live and not n.startswith(".")]

    def rename(self, spool_name: str, source_id: str) -> str | None:
        """Give a spool file the source id `source_id` (and a name the journal can store);
        returns its new spool name, or None if it cannot be renamed."""
        name = spool_name.partition("--")[2] if "--" in spool_name else spool_name
        new = fit_name(f"{source_id}--{display_name(name)}")
        if new == spool_name:
            return new
        try:
            rename_new(self.root / spool_name, self.root / new)
        except OSError:
            return None
        fsync_dir(self.root)
        return new

    def archive_dir(self, claimed_at: str) -> Path:
        """`archive/YYYY/MM/DD/` of a file's (UTC) claim date."""
        folder = self.archive_root / claimed_at[:4] / claimed_at[5:7] / claimed_at[8:10]
        folder.mkdir(parents=True, exist_ok=True)
        return folder
