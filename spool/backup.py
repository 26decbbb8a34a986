"""`printstation backup DEST`: a consistent copy of the journal and the archive, checked.

Root runs it, and the archive may hold what a clerk planted, so it trusts no name:

- Nothing is followed through a symlink, in the archive or in DEST. The archive is walked
  folder by folder through descriptors opened with O_NOFOLLOW, and each file is opened the
  same way and checked with fstat to be a regular file; a symlink, FIFO or device is
  listed in the index as refused, with the reason, and not copied. DEST, when it exists,
  must be a real folder; inside it every file is written under a new hidden name created
  with O_EXCL|O_NOFOLLOW and renamed into place (a rename replaces a name, it never
  writes through it), and a symlinked sub-folder is reported, never entered.
- SQLite opens files by name and follows links, so the journal is copied with its backup
  API in one step (a stepwise backup never finishes under writes, TECH.md) into a
  private temporary folder (0700, `$TMPDIR` or /tmp), checked with `integrity_check`, and
  only then copied into DEST by descriptor and renamed into place: a failed backup never
  replaces a good one.
- Every archived file is hashed while it is copied and checked against the journal copy
  (spool/archive_index.py): a source against the sha256 taken when it was claimed, a
  rendered page against its job's `pdf_sha256`. Mismatches, files the journal says are
  archived but are not, and refused files are problems: the copy still completes, the
  index says what is wrong, and the command exits 1.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sqlite3
import stat
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .archive_index import Expected, expected_files, journal_summary
from .backup_dest import (
    DIR_FLAGS,
    BackupFailed,
    Output,
    dest_folder,
    install,
    open_dest,
    sync_dir,
)
from .journal import iso, utc_now

# Told (stage, how many done, of how many or None) as the backup advances; the stage is
# "journal" or "archive", for the CLI to say in the clerk's language.
Progress = Callable[[str, int, int | None], None]

# O_NONBLOCK: a FIFO put in place of a file between the listing and the open must not
# hang the backup; it is then refused by fstat.
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CHUNK = 1 << 20


@dataclass
class Report:
    """What a backup did; `problems` (one line each) make the command exit 1."""

    dest: Path
    events: int = 0
    files: int = 0
    copied: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    index: list[dict[str, Any]] = field(default_factory=list)


def backup(db_path: Path, archive_root: Path, dest: Path,
           progress: Progress = lambda what, done, total: None) -> Report:
    report = Report(dest)
    dest_fd = open_dest(dest)
    try:
        progress("journal", 0, None)
        with tempfile.TemporaryDirectory(prefix="printstation-backup-") as private:
            snapshot = Path(private) / "journal.db"
            summary, expected = _snapshot(db_path, snapshot)
            mode = stat.S_IMODE(os.stat(db_path).st_mode) & 0o666
            report.events = summary["events"]
            # The archive first, the journal and its index last: a backup that fails on
            # the way (a full medium) leaves DEST's previous journal and index together,
            # never a new journal beside an old index.
            _ArchiveCopy(report, dest_fd, expected, progress).run(archive_root)
            # The clerks' calibration offsets (the journal holds each change too).
            offsets = db_path.parent / "calibration.toml"
            if offsets.is_file():
                install(dest_fd, "calibration.toml", [offsets.read_bytes()], mode,
                        dest / "calibration.toml")
            install(dest_fd, "journal.db", _read_chunks(snapshot), mode, dest / "journal.db")
        doc = {"created_at": iso(utc_now()), "journal": {"path": "journal.db", **summary},
               "archive": "archive/", "files": report.index, "problems": report.problems}
        data = (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        install(dest_fd, "archive-index.json", [data], mode, dest / "archive-index.json")
    finally:
        os.close(dest_fd)
    return report


def _snapshot(db_path: Path, copy_path: Path) -> tuple[dict[str, Any], dict[str, Expected]]:
    """The journal copied and checked; its summary and the archive files it knows."""
    uri = f"file:{urllib.parse.quote(os.fspath(db_path))}?mode=ro"
    try:
        source = sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot open the journal {db_path}: {exc}") from None
    copy = sqlite3.connect(copy_path)
    try:
        source.backup(copy, pages=-1)
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupFailed(f"the copy failed integrity_check: {verdict}")
        return journal_summary(copy), expected_files(copy)
    finally:
        copy.close()
        source.close()


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _shown(rel: str) -> str:
    """A relative path as text: bytes that are not UTF-8 as \\xNN escapes."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink: not followed"
    if stat.S_ISFIFO(mode):
        return "a FIFO: not opened"
    if stat.S_ISSOCK(mode):
        return "a socket: not opened"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device: not opened"
    return "not a regular file: not opened"


class _ArchiveCopy:
    """The walk of `archive/`: each regular file hashed, checked and copied to DEST."""

    def __init__(self, report: Report, dest_fd: int, expected: dict[str, Expected],
                 progress: Progress):
        self.report, self.dest_fd, self.expected = report, dest_fd, expected
        self.progress = progress
        self.seen: set[str] = set()

    def run(self, archive_root: Path) -> None:
        try:
            root = os.open(archive_root, DIR_FLAGS)
        except FileNotFoundError:
            root = None
        except OSError as exc:
            # The archive folder itself a symlink: refused like any other.
            why = _kind(stat.S_IFLNK) if os.path.islink(archive_root) else exc.strerror
            self.report.problems.append(f"{archive_root}: {why}; nothing in it was copied")
            root = None
        if root is not None:
            target = self.dest_dir(self.dest_fd, "archive", "archive",
                                   stat.S_IMODE(os.fstat(root).st_mode))
            try:
                self.walk(root, target, "")
            finally:
                os.close(root)
                if target is not None:
                    os.close(target)
        for path, exp in self.expected.items():
            if exp.required and path not in self.seen:
                self.report.problems.append(
                    f"archive/{path}: missing; the journal says {exp.describe()} is there")
                self.report.index.append({"path": path, "missing": True, "copied": False,
                                          **exp.doc()})
        self.progress("archive", self.report.files, len(self.expected))

    def refuse(self, rel: str, mode: int, src: int | None = None) -> None:
        """A symlink or special file: listed as refused, with the reason, never opened.
        A link's target is read (not followed) so the operator sees what it aimed at."""
        reason = _kind(mode)
        self.seen.add(_shown(rel))
        exp = self.expected.get(_shown(rel))
        entry: dict[str, Any] = {"path": _shown(rel), "refused": reason, "copied": False}
        if src is not None and stat.S_ISLNK(mode):
            with contextlib.suppress(OSError):
                entry["target"] = _shown(os.readlink(os.path.basename(rel), dir_fd=src))
        if exp is not None:
            entry.update(exp.doc())
        self.report.index.append(entry)
        self.report.problems.append(f"archive/{_shown(rel)} is {reason}; not copied" + (
            f" (the journal expects {exp.describe()} there)" if exp else ""))

    def problem(self, text: str) -> None:
        self.report.problems.append(text)

    def dest_dir(self, parent: int, name: str, rel: str, mode: int) -> int | None:
        return dest_folder(parent, name, mode, self.report.dest / rel, self.problem)

    def walk(self, src: int, dst: int | None, rel: str) -> None:
        with os.scandir(src) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        wrote = False
        for entry in entries:
            path = rel + entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the listing
            if stat.S_ISDIR(info.st_mode):
                self.folder(src, dst, entry.name, path, info.st_mode)
            elif stat.S_ISREG(info.st_mode):
                # Hidden names are atomic writes in progress (base/durable.py): not yet
                # archive.
                if not entry.name.startswith("."):
                    wrote |= self.file(src, dst, entry.name, path)
            else:
                self.refuse(path, info.st_mode, src)
        if wrote and dst is not None:
            sync_dir(dst)

    def folder(self, src: int, dst: int | None, name: str, path: str, mode: int) -> None:
        try:
            sub = os.open(name, DIR_FLAGS, dir_fd=src)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return  # removed since the listing
            if exc.errno == errno.ELOOP:  # swapped for a symlink since the listing
                self.refuse(path, stat.S_IFLNK)
            else:
                self.report.problems.append(f"archive/{_shown(path)}: cannot open the "
                                            f"folder: {exc.strerror}; nothing in it was copied")
            return
        target = self.dest_dir(dst, name, f"archive/{_shown(path)}", stat.S_IMODE(mode)) \
            if dst is not None else None
        try:
            self.walk(sub, target, path + "/")
        finally:
            os.close(sub)
            if target is not None:
                os.close(target)

    def file(self, src: int, dst: int | None, name: str, path: str) -> bool:
        """Hash one file (copying it unless DEST has it already); True when it wrote."""
        shown = _shown(path)
        try:
            fd = os.open(name, _READ, dir_fd=src)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            if exc.errno == errno.ELOOP:  # swapped for a symlink since the listing
                self.refuse(path, stat.S_IFLNK)
            else:
                self.report.problems.append(f"archive/{shown}: cannot read: {exc.strerror}")
            return False
        with open(fd, "rb") as fh:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                self.refuse(path, info.st_mode)
                return False
            self.seen.add(shown)
            copy = dst is not None and not self.current(dst, name, info, shown)
            digest, size, copied = self.stream(fh, dst if copy else None, name, info, shown)
        self.report.files += 1
        self.report.copied += copied
        if self.report.files % 50 == 0:
            self.progress("archive", self.report.files, len(self.expected))
        self.record(shown, digest, size, copied or (dst is not None and not copy))
        return copied

    def current(self, dst: int, name: str, info: os.stat_result, shown: str) -> bool:
        """DEST already holds this file (same size and time, as rsync decides)."""
        try:
            there = os.stat(name, dir_fd=dst, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISLNK(there.st_mode):
            self.report.notes.append(f"{self.report.dest}/archive/{shown}: a symlink in DEST"
                                     " was replaced by the file (not followed)")
        return stat.S_ISREG(there.st_mode) and there.st_size == info.st_size and \
            there.st_mtime_ns == info.st_mtime_ns

    def stream(self, fh: BinaryIO, dst: int | None, name: str, info: os.stat_result,
               shown: str) -> tuple[str | None, int, bool]:
        """Read the file once: its sha256 and size, and its copy into DEST when asked.

        A read error leaves no hash (None); a write error leaves the file uncopied but
        still hashed, so that the index says whether the archive's file is intact.
        """
        digest, size = hashlib.sha256(), 0
        out = Output(dst, name, info, self.report.dest / 'archive' / shown,
                     self.problem) if dst is not None else None
        while True:
            try:
                chunk = fh.read(CHUNK)
            except OSError as exc:
                if out is not None:
                    out.abandon()
                self.report.problems.append(f"archive/{shown}: cannot read: {exc.strerror}")
                return None, size, False
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if out is not None and not out.write(chunk):
                out = None
        return digest.hexdigest(), size, out is not None and out.finish()

    def record(self, shown: str, digest: str | None, size: int, in_dest: bool) -> None:
        exp = self.expected.get(shown)
        entry: dict[str, Any] = {"path": shown, "sha256": digest, "size": size,
                                 "copied": in_dest}
        if exp is None:
            entry["matched"] = None
            entry["note"] = "not in the journal copy (archived after it was taken?)"
            self.report.notes.append(f"archive/{shown}: not in the journal copy")
        else:
            entry.update(exp.doc())
            entry["matched"] = None if exp.sha256 is None or digest is None \
                else digest == exp.sha256
            if entry["matched"] is False:
                text = (f"archive/{shown}: sha256 {digest} is not the journal's "
                        f"{exp.sha256}: {exp.describe()} changed after it was archived")
                if exp.settled:
                    self.report.problems.append(text)
                else:
                    entry["note"] = "its job was still in the queue: it may be rendered again"
                    self.report.notes.append(text + " (its job is still in the queue)")
        self.report.index.append(entry)


__all__ = ["BackupFailed", "Report", "backup"]
