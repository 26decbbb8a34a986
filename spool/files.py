"""The spool folder: where claimed files live until their jobs are final.

A claimed file is renamed to `spool/<SOURCE ID>--<original name>`, so that after a crash
between the rename and the journal insert the file still says what it is; start-up
registers such orphans. Printed files are archived under `archive/YYYY/MM/DD/`.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import secrets
from pathlib import Path

from printstation.base.durable import fit_name, fsync_dir, move_file

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def display_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 shown as \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def new_source_id(now: dt.datetime) -> str:
    """A short id a clerk can type: a time prefix that sorts, and 30 random bits."""
    stamp = now.strftime("%y%m%d")
    rand = secrets.randbits(30)
    tail = "".join(_ALPHABET[(rand >> s) & 31] for s in range(25, -1, -5))
    return f"{stamp}{tail}"


class SpoolDir:
    def __init__(self, data_dir: Path):
        self.root = data_dir / "spool"
        self.archive_root = data_dir / "archive"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.archive_root.mkdir(parents=True, exist_ok=True)

    def path(self, spool_name: str) -> Path:
        return self.root / spool_name

    def claim(self, src: Path, source_id: str) -> str:
        """Move `src` into the spool durably; returns its spool name.

        Maildir-style: hard-link it into the spool, sync, then unlink the original. A
        rename out of the watched folder would raise an unmatched IN_MOVED_FROM, which
        watchdog holds for 0.5 s to pair it, delaying every later event behind it; an
        unlink raises IN_DELETE, which it passes on at once. After a crash between link
        and unlink both names share one inode, and `finish_claim` completes the claim.
        Where links are refused, rename; across filesystems, copy (`move_file`).
        """
        spool_name = fit_name(f"{source_id}--{display_name(src.name)}")
        dst = self.root / spool_name
        if os.path.lexists(dst):
            raise FileExistsError(dst)
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP,
                                 errno.EXDEV):
                raise
            move_file(src, dst)
            return spool_name
        fsync_dir(self.root)
        # Test-only: a crash between link and unlink (see daemon/crash.py).
        if os.environ.get("PRINTSTATION_CRASH_AT") == "between_link_and_unlink":
            os.kill(os.getpid(), 9)
        os.unlink(src)
        fsync_dir(src.parent)
        return spool_name

    def finish_claim(self, spool_name: str, drop_dir: Path) -> bool:
        """Unlink the drop folder's name of a file whose claim a crash interrupted.

        The drop folder's name is found by inode, so a name the spool had to shorten or
        escape is found too.
        """
        spooled = os.lstat(self.root / spool_name)
        for entry in os.scandir(drop_dir):
            if os.path.samestat(entry.stat(follow_symlinks=False), spooled):
                os.unlink(entry.path)
                fsync_dir(drop_dir)
                return True
        return False

    def orphans(self, known: set[str]) -> list[tuple[str, str, str]]:
        """Spool files with no journal row: (source id, original name, spool name)."""
        found = []
        for entry in sorted(os.listdir(self.root)):
            source_id, sep, name = entry.partition("--")
            if sep and source_id not in known and not entry.startswith("."):
                found.append((source_id, name, entry))
        return found

    def archive_dir(self, claimed_at: str) -> Path:
        """`archive/YYYY/MM/DD/` of a file's (UTC) claim date."""
        folder = self.archive_root / claimed_at[:4] / claimed_at[5:7] / claimed_at[8:10]
        folder.mkdir(parents=True, exist_ok=True)
        return folder
