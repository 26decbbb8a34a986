"""`[retention]`: files past their age leave archive/, rejected/ and results/ (SPEC §12).

Once an hour (by the station's clock) the runner looks for files that reached their
folder more than `archive_days`, `rejected_days`, `results_days` ago (0: kept for ever).
A file's age counts from the moment its jobs were all final in the journal; a rejected
file or a result must also not have been modified since the cutoff (a rejected file
keeps the time its writer gave it, so that time alone could be long before it was
dropped, as could an archived file's, which is why the journal decides). A file is
removed only when the journal ties it to its source and that source is done
(spool/expiry.py): a file the journal cannot place is left alone, and with sync on, so
is every file whose jobs' events head office has not acknowledged. Removals from the
archive and the rejected folder are journaled (`file.expired`) before the file goes;
results are notices to the finance software and are removed unjournaled.

The archive is filed by claim date (`YYYY/MM/DD`), and a file is final no earlier than
it was claimed, so only day folders before the cutoff's day are looked into; an emptied
day folder is removed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from printstation.base import logs
from printstation.base.durable import fsync_dir
from printstation.config import Config
from printstation.spool import expiry, iso

from .context import Context
from .runner import JournalRunner

# How often a pass runs, by the station's clock, and how often the clock is looked at:
# the station's clock may be stepped (NTP after a long power cut, a clerk), so the time
# left is not slept through in one go. A look is one clock read, nothing else.
PASS_EVERY = dt.timedelta(hours=1)
CHECK_S = 5.0
# One pass stops after this long (and goes on at once in the next), so the loop keeps
# coming round however large a first clean-up is.
PASS_BUDGET_S = 10.0
REPORT = ".error.txt"
RESULT = ".result.json"
# Reports and results are small; anything larger is not ours.
MAX_READ = 1 << 20


@dataclass
class Swept:
    removed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    kept_unsynced: int = 0
    more: bool = False  # the pass ran out of time


class RetentionRunner(JournalRunner):
    name = "retention"
    idle_s = CHECK_S

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.due: dt.datetime | None = None  # None: a pass is due now
        # Where a pass that ran out of time goes on (the last day folder or result file
        # it finished), so that every pass gets further than the one before.
        self.resume: dict[str, str] = {}

    def reconfigure(self, old: Config, new: Config) -> None:
        """New ages apply at once."""
        self.due = None
        self.wake()

    def run_once(self) -> bool:
        now = self.ctx.clock()
        if self.due is not None and now < self.due:
            return False
        swept = self.sweep(now)
        total = sum(swept.removed.values())
        if total or swept.kept_unsynced:
            logs.info("retention.swept", removed=total, **swept.removed,
                      kept_unsynced=swept.kept_unsynced or None)
        self.due = None if swept.more else now + PASS_EVERY
        if not swept.more:
            self.resume.clear()
        return swept.more

    # -- one pass -----------------------------------------------------------------------

    def sweep(self, now: dt.datetime) -> Swept:
        r = self.ctx.settings.retention
        swept = Swept()
        deadline = time.monotonic() + PASS_BUDGET_S
        for days, step in ((r.archive_days, self.archive), (r.rejected_days, self.rejected),
                           (r.results_days, self.results)):
            if days and not swept.more and not self.stopping:
                step(now - dt.timedelta(days=days), days, swept, deadline)
        return swept

    def done_before(self, source: str, cutoff: str, swept: Swept) -> bool:
        """The source is done, done before `cutoff`, and (sync on) head office holds it."""
        conn = self.journal.conn
        at = expiry.finished_at(conn, source)
        if at is None or at >= cutoff:
            return False
        if self.ctx.settings.sync.url and expiry.unsynced(conn, source):
            swept.kept_unsynced += 1
            return False
        return True

    def remove(self, source: str, folder: str, files: list[tuple[Path, str]], days: int,
               swept: Swept, journal: bool = True) -> None:
        """Journal the removal of `files` ((path, name in the journal)), then remove them."""
        if journal:
            done = expiry.journaled(self.journal.conn, source, folder)
            fresh = [shown for _, shown in files if shown not in done]
            if fresh:
                expiry.record(self.journal, source, folder, fresh, days)
        for path, shown in files:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                # Not ours to remove after all (a clerk's file, a read-only folder): the
                # rest of the pass goes on; it is tried again next hour.
                logs.warning("retention.remove_failed", job=source, folder=folder,
                             file=shown, error=exc.strerror or str(exc))
                continue
            swept.removed[folder] += 1
            logs.debug("retention.removed", job=source, folder=folder, file=shown, days=days)
        if files:
            fsync_dir(files[0][0].parent)

    def archive(self, cutoff: dt.datetime, days: int, swept: Swept, deadline: float) -> None:
        root = self.ctx.spool.archive_root
        for folder, rel in _old_days(root, cutoff.date()):
            if rel <= self.resume.get("archive", ""):
                continue
            if time.monotonic() > deadline or self.stopping:
                swept.more = True
                return
            by_source: dict[str, list[tuple[Path, str]]] = defaultdict(list)
            for entry in _files(folder):
                source = self.archive_source(entry.name)
                if source is not None:
                    by_source[source].append((Path(entry.path), f"{rel}/{entry.name}"))
            for source, files in by_source.items():
                if self.done_before(source, iso(cutoff), swept):
                    self.remove(source, "archive", files, days, swept)
            _remove_empty(folder, root)
            self.resume["archive"] = rel

    def archive_source(self, name: str) -> str | None:
        """`ID--name` is a source's file; `JOB.pdf` the page printed for a job."""
        if "--" in name:
            return name.partition("--")[0]
        if name.endswith(".pdf"):
            return expiry.source_of_job(self.journal.conn, name[:-4])
        return None

    def rejected(self, cutoff: dt.datetime, days: int, swept: Swept, deadline: float) -> None:
        folder = self.ctx.settings.intake.rejected_dir
        places = expiry.rejected_destinations(self.journal.conn, iso(cutoff))
        by_source: dict[str, list[tuple[Path, str]]] = defaultdict(list)
        for entry in _files(folder, before=cutoff):
            path = Path(entry.path)
            if entry.name.endswith(REPORT):
                sources = self.report_sources(path)
            else:
                found = places.get(os.fsencode(path))
                sources = {found} if found else set()
            # A report naming several files (never written so) is left to a person.
            if len(sources) == 1:
                by_source[sources.pop()].append((path, _shown(entry.name)))
        # Rejected files are few (a rejection is the exception): one pass takes them all.
        for source, files in by_source.items():
            if self.done_before(source, iso(cutoff), swept):
                self.remove(source, "rejected", files, days, swept)

    def report_sources(self, path: Path) -> set[str]:
        """The source an `X.error.txt` is about: the one whose jobs it names."""
        text = _read_small(path)
        if text is None:
            return set()
        ids = {m.group(1) for m in expiry.SOURCE_ID.finditer(text.decode("utf-8", "replace"))}
        return expiry.known_sources(self.journal.conn, ids)

    def results(self, cutoff: dt.datetime, days: int, swept: Swept, deadline: float) -> None:
        folder = self.ctx.settings.intake.results_dir
        for entry in _files(folder, before=cutoff):
            if entry.name <= self.resume.get("results", "") or not entry.name.endswith(RESULT):
                continue
            if time.monotonic() > deadline or self.stopping:
                swept.more = True
                return
            self.resume["results"] = entry.name
            job = _result_job(Path(entry.path))
            source = expiry.source_of_job(self.journal.conn, job) if job else None
            if source is not None and self.done_before(source, iso(cutoff), swept):
                self.remove(source, "results", [(Path(entry.path), _shown(entry.name))],
                            days, swept, journal=False)


def _shown(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _files(folder: Path, before: dt.datetime | None = None) -> list[os.DirEntry]:
    """Regular files in `folder` (not hidden: atomic writes in progress), modified before
    `before` when given."""
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        if before is not None and info.st_mtime >= before.timestamp():
            continue
        found.append(entry)
    return sorted(found, key=lambda e: e.name)


def _old_days(root: Path, before: dt.date) -> list[tuple[Path, str]]:
    """The archive's `YYYY/MM/DD` folders of days before `before`, oldest first."""
    found = []
    for year in _numbered(root, 4):
        for month in _numbered(root / year, 2):
            for day in _numbered(root / year / month, 2):
                try:
                    date = dt.date(int(year), int(month), int(day))
                except ValueError:
                    continue
                if date < before:
                    found.append((root / year / month / day, f"{year}/{month}/{day}"))
    return found


def _numbered(folder: Path, width: int) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n for n in names if len(n) == width and n.isdigit()
                  and (folder / n).is_dir() and not (folder / n).is_symlink())


def _remove_empty(folder: Path, root: Path) -> None:
    """Remove an emptied day folder, and its month and year folders when emptied too."""
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or not ours to remove): stop here
        fsync_dir(folder.parent)
        folder = folder.parent


def _read_small(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with open(fd, "rb") as fh:
        data = fh.read(MAX_READ + 1)
    return data if len(data) <= MAX_READ else None


def _result_job(path: Path) -> str | None:
    data = _read_small(path)
    try:
        job = json.loads(data).get("job") if data is not None else None
    except (ValueError, AttributeError):
        return None
    return job if isinstance(job, str) else None
