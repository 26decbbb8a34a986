"""The finishing stage: when all of a file's jobs are final, put the file in its one place.

Printed (any invoice of it) → `data_dir/archive/YYYY/MM/DD/`; otherwise → `rejected_dir`
with `X.error.txt`. Either way `results_dir/X.result.json` tells the finance software. The
destination is journaled before the move, so a crash in the middle resumes the same move.

Files ready together are settled as a batch (at most BATCH): the rejected files'
destinations journaled in one transaction, every file moved and its report written, each
folder synced once, the result files written and their folder synced once, then one
journal transaction finishes them all (spool/finishing.py; DURABILITY.md, "Finisher").
A crash anywhere in a batch leaves its files unfinished in the journal, and the next
start finishes them again, finding what was already done as its own.

Nothing is ever put over an existing name (SPEC §5). A rejected `X` whose name (or whose
`X.error.txt`) is taken lands as `X` with `.JOBID` before its extension, and its report
beside it as `<that name>.error.txt`. A result or report whose name is taken by another
file's gets `.JOBID` before its own suffix: `X.JOBID.result.json`, `X.JOBID.error.txt`.
Each says the file's original name inside. A file found under our name after a crash is
recognised as our own (same job, same text) and kept, so a resumed finish adds nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from printstation.base import logs
from printstation.base.durable import (
    create_new,
    disk_full,
    fsync_dir,
    fsync_dirs,
    fsync_files,
    move_file,
    same_file,
)
from printstation.base.filenames import fit_name, free_name
from printstation.spool import display_name, finishing, sources

from .crash import crash_point
from .reports import error_text, result_doc
from .runner import JournalRunner

MAX_RETRY_S = 300.0
# A full disk clears without us: look again soon, whatever the number of tries.
DISK_RETRY_S = 5.0
# Files settled together at most: the first file's result and commit wait for the moves
# and result files of the others (a result file is one fsync), so a backlog shares its
# folder syncs and commits without holding any file back for long.
BATCH = 32
# In a backlog files come ready one at a time, as the printer prints them: the finisher
# starts a batch at most this long after the last one ended, so the next one gathers the
# files printed meanwhile (a share of one commit and of each folder sync). A file ready
# after a quiet spell is finished at once.
GATHER_S = 0.05
REPORT = ".error.txt"
RESULT = ".result.json"


def suffixed(folder: Path, name: str, tag: str, suffix: str) -> Iterator[Path]:
    """`name + suffix`, then `name.TAG + suffix`, `name.TAG-2 + suffix`, … in `folder`."""
    yield folder / fit_name(name, suffix)
    count = 1
    while True:
        mark = tag if count == 1 else f"{tag}-{count}"
        yield folder / fit_name(name, f".{mark}{suffix}")
        count += 1


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _result_of(path: Path, job: str) -> bool:
    try:
        if path.stat().st_size > 1 << 20:
            return False
        return json.loads(path.read_bytes()).get("job") == job
    except (OSError, ValueError, AttributeError):
        return False


@dataclass
class Settling:
    """One file of a batch on its way to its one place."""

    source: sqlite3.Row
    jobs: list[sqlite3.Row]
    original: str
    spooled: Path
    destination: Path
    archived: bool
    # A rejected file's destination, chosen now: journaled for the batch before any moves.
    plan: bool = False
    report_dir: Path | None = None
    result: dict | None = None
    written: Path | None = None


class FinishRunner(JournalRunner):
    name = "finisher"
    # Why files cannot be finished now (a full disk), for `status`; or None.
    problem: str | None = None

    def setup(self) -> None:
        super().setup()
        # None: the first pass scans every open file (left from before a restart).
        self.seen_seq: int | None = None
        # Files that failed to finish: source id -> (next try, pause). They are retried
        # with a growing pause and never hold up the files behind them.
        self.retry: dict[str, tuple[float, float]] = {}
        self.problem = None
        self.batch_ended = 0.0

    def run_once(self) -> bool:
        pause = self.batch_ended + GATHER_S - time.monotonic()
        if pause > 0 and not self.stopping:
            time.sleep(pause)
        # Read the mark before the query: an event appended meanwhile is seen next time.
        mark = self.journal.last_seq()
        sources_ = self.journal.sources_to_finish(self.seen_seq)
        now = time.monotonic()
        due = [s for s, (at, _) in self.retry.items() if at <= now]
        if due:
            sources_ += [s for s in self.journal.sources_to_finish() if s["id"] in due]
        for start in range(0, len(sources_), BATCH):
            if self.stopping:
                return True
            try:
                self.finish_batch(sources_[start:start + BATCH])
            except InterruptedError:
                return True  # a long copy given up because we are stopping: next start
        self.seen_seq = mark
        if sources_:
            self.batch_ended = time.monotonic()
        return bool(sources_) and not all(s["id"] in self.retry for s in sources_)

    def _failed(self, source: sqlite3.Row, exc: Exception) -> None:
        full = disk_full(exc)
        pause = min(self.retry.get(source["id"], (0, 0.5))[1] * 2,
                    DISK_RETRY_S if full else MAX_RETRY_S)
        self.retry[source["id"]] = (time.monotonic() + pause, pause)
        if not full:
            logs.error("file.finish_failed", exc_info=True, job=source["id"],
                       file=source["name"], error=repr(exc), retry_s=pause)
        elif self.problem is None:
            # An outage is logged when it starts, not on every retry.
            self.problem = f"disk full: files cannot be finished ({exc})"
            logs.error("file.disk_full", job=source["id"], file=source["name"],
                       error=str(exc), retry_s=pause)

    def _each(self, batch: list[Settling], step: Callable[[Settling], None]) -> list[Settling]:
        """Run `step` on each file; a file whose step fails leaves the batch (retried
        later), the others go on. A copy given up because we stop ends the batch."""
        kept = []
        for item in batch:
            try:
                step(item)
                kept.append(item)
            except InterruptedError:
                raise
            except Exception as exc:
                self._failed(item.source, exc)
        return kept

    def _all(self, batch: list[Settling], action: Callable[[], object]) -> bool:
        """Run a step shared by the whole batch; if it fails, every file of it fails."""
        try:
            action()
            return True
        except Exception as exc:
            for item in batch:
                self._failed(item.source, exc)
            return False

    def nap_s(self) -> float:
        if not self.retry:
            return self.idle_s
        soonest = min(at for at, _ in self.retry.values()) - time.monotonic()
        return max(0.05, min(self.idle_s, soonest))

    def _free_rejected(self, source: sqlite3.Row, original: str, chosen: set[bytes]) -> Path:
        """A name in rejected_dir free for the file and for its report beside it, that no
        other file being finished has planned (in the journal, or in this batch)."""
        planned = sources.planned_destinations(self.journal, source["id"]) | chosen
        return free_name(self.ctx.settings.intake.rejected_dir, original, source["id"],
                         (REPORT,), lambda path: os.fsencode(path) in planned)

    def finish_batch(self, sources_: list[sqlite3.Row]) -> None:
        """Settle files that are ready: plan, move, sync, write results, sync, commit."""
        chosen: set[bytes] = set()
        batch: list[Settling] = []
        for source in sources_:
            try:
                batch.append(self._destination(source, chosen))
            except Exception as exc:
                self._failed(source, exc)
        plans = [item for item in batch if item.plan]
        # A rejected file's free name depends on what is there now: journaled (for the
        # whole batch at once) before any of them moves, so a crash mid-move resumes
        # with the same names.
        if plans and not self._all(plans, lambda: finishing.plan_many(
                self.journal, [(i.source["id"], os.fsencode(i.destination)) for i in plans])):
            batch = [item for item in batch if not item.plan]
        elif plans:
            crash_point("after_plan_finish")
        batch = self._each(batch, self._place)
        # The moves' names (and the reports', and the archived pages' the print stage
        # left unsynced in the archive folder, bytes and names) on disk, each folder once
        # for the batch, before the result files tell anyone and before the journal says
        # finished.
        pages = [self.ctx.spool.archive_dir(item.source["claimed_at"]) / f"{j['id']}.pdf"
                 for item in batch for j in item.jobs if j["cups_job_id"] is not None]
        folders = {self.ctx.spool.root} | {item.destination.parent for item in batch}
        folders |= {item.report_dir for item in batch if item.report_dir is not None}
        folders |= {page.parent for page in pages}
        if not batch or not self._all(
                batch, lambda: (fsync_files(pages), fsync_dirs(folders))):
            return
        crash_point("after_finish_moves")
        batch = self._each(batch, self._write_result)
        if not batch or not self._all(
                batch, lambda: fsync_dir(self.ctx.settings.intake.results_dir)):
            return
        crash_point("after_finish_results")
        self._commit(batch)

    def _destination(self, source: sqlite3.Row, chosen: set[bytes]) -> Settling:
        jobs = self.journal.jobs_of_source(source["id"])
        # File names as the filesystem has them (a name need not be UTF-8).
        original = os.fsdecode(source["raw_name"]) if source["raw_name"] else source["name"]
        spooled = self.ctx.spool.path(source["spool_name"])
        archived = any(j["state"] == "printed" for j in jobs)
        plan = False
        if archived:
            # Unique (the spool name) and fixed by the claim date: nothing to plan.
            destination = self.ctx.spool.archive_dir(source["claimed_at"]) / source["spool_name"]
        elif source["state"] == "open":
            destination = self._free_rejected(source, original, chosen)
            plan = True
        else:
            destination = Path(os.fsdecode(source["destination"]))
            if os.path.lexists(spooled) and os.path.lexists(destination) and \
                    not same_file(spooled, destination):
                # Another file took the planned name while this one waited: never over it.
                destination = self._free_rejected(source, original, chosen)
                sources.replan(self.journal, source["id"], os.fsencode(destination))
        if not archived:
            chosen.add(os.fsencode(destination))
        return Settling(source, jobs, original, spooled, destination, archived, plan)

    def _place(self, item: Settling) -> None:
        """The report of a file with errors, then the file itself, in place; their folders
        are synced by the batch."""
        rejected_dir = self.ctx.settings.intake.rejected_dir
        if any(j["state"] != "printed" for j in item.jobs):
            stored_as = None if item.archived else display_name(item.destination.name)
            report = error_text(item.source["name"], item.jobs, item.archived,
                                stored_as).encode("utf-8")
            if item.archived:
                names = suffixed(rejected_dir, item.original, item.source["id"], REPORT)
            else:
                names = suffixed(item.destination.parent, item.destination.name,
                                 item.source["id"], REPORT)
            create_new(names, report, lambda path: _holds(path, report), sync_dir=False)
            item.report_dir = rejected_dir if item.archived else item.destination.parent
        if os.path.lexists(item.spooled):
            move_file(item.spooled, item.destination, abort=lambda: self.stopping,
                      sync=False)
        crash_point("after_move")

    def _write_result(self, item: Settling) -> None:
        intake = self.ctx.settings.intake
        item.result = result_doc(item.source["name"], item.jobs, self.journal.now())
        data = (json.dumps(item.result, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        item.written = create_new(
            suffixed(intake.results_dir, item.original, item.source["id"], RESULT), data,
            lambda path: _result_of(path, item.source["id"]), sync_dir=False)

    def _commit(self, batch: list[Settling]) -> None:
        """One transaction finishes the batch; should it be refused (a file another process
        finished meanwhile), each file is finished on its own, so one cannot block the
        rest."""
        done = [finishing.Finished(item.source["id"], item.archived, {
            "file": item.source["name"], "destination": display_name(str(item.destination)),
            "state": item.result["state"]}) for item in batch if item.result is not None]
        try:
            finishing.finish_many(self.journal, done)
        except Exception:
            for item, fin in zip(batch, done, strict=True):
                try:
                    finishing.finish_many(self.journal, [fin])
                except Exception as exc:
                    self._failed(item.source, exc)
                    item.result = None
        for item in batch:
            if item.result is None:
                continue
            self.retry.pop(item.source["id"], None)
            if self.problem is not None:
                self.problem = None
                logs.info("file.disk_ok", note="finishing files again")
            logs.info("file.archived" if item.archived else "file.rejected",
                      job=item.source["id"], file=item.source["name"],
                      destination=item.destination, state=item.result["state"],
                      result=item.written.name if item.written else None)
