"""The finishing stage: when all of a file's jobs are final, put the file in its one place.

Printed (any invoice of it) → `data_dir/archive/YYYY/MM/DD/`; otherwise → `rejected_dir`
with `X.error.txt`. Either way `results_dir/X.result.json` tells the finance software. The
destination is journaled before the move, so a crash in the middle resumes the same move.

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
from collections.abc import Iterator
from pathlib import Path

from printstation.base import logs
from printstation.base.durable import (
    create_new,
    disk_full,
    fit_name,
    free_name,
    move_file,
    same_file,
)
from printstation.spool import display_name, sources

from .crash import crash_point
from .reports import error_text, result_doc
from .runner import JournalRunner

MAX_RETRY_S = 300.0
# A full disk clears without us: look again soon, whatever the number of tries.
DISK_RETRY_S = 5.0
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

    def run_once(self) -> bool:
        # Read the mark before the query: an event appended meanwhile is seen next time.
        mark = self.journal.last_seq()
        sources_ = self.journal.sources_to_finish(self.seen_seq)
        now = time.monotonic()
        due = [s for s, (at, _) in self.retry.items() if at <= now]
        if due:
            sources_ += [s for s in self.journal.sources_to_finish() if s["id"] in due]
        for source in sources_:
            if self.stopping:
                return True
            try:
                self.finish(source)
                self.retry.pop(source["id"], None)
                if self.problem is not None:
                    self.problem = None
                    logs.info("file.disk_ok", note="finishing files again")
            except InterruptedError:
                return True  # a long copy given up because we are stopping: next start
            except Exception as exc:
                self._failed(source, exc)
        self.seen_seq = mark
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

    def nap_s(self) -> float:
        if not self.retry:
            return self.idle_s
        soonest = min(at for at, _ in self.retry.values()) - time.monotonic()
        return max(0.05, min(self.idle_s, soonest))

    def _free_rejected(self, source: sqlite3.Row, original: str) -> Path:
        """A name in rejected_dir free for the file and for its report beside it, that no
        other file being finished has planned."""
        planned = sources.planned_destinations(self.journal, source["id"])
        return free_name(self.ctx.settings.intake.rejected_dir, original, source["id"],
                         (REPORT,), lambda path: os.fsencode(path) in planned)

    def finish(self, source: sqlite3.Row) -> None:
        intake = self.ctx.settings.intake
        jobs = self.journal.jobs_of_source(source["id"])
        # File names as the filesystem has them (a name need not be UTF-8).
        original = os.fsdecode(source["raw_name"]) if source["raw_name"] else source["name"]
        spooled = self.ctx.spool.path(source["spool_name"])
        archived = any(j["state"] == "printed" for j in jobs)
        if archived:
            # Unique (the spool name) and fixed by the claim date: nothing to plan.
            destination = self.ctx.spool.archive_dir(source["claimed_at"]) / source["spool_name"]
        elif source["state"] == "open":
            # A free name depends on what is there now; journal it before moving, so a
            # crash mid-move resumes with the same name.
            destination = self._free_rejected(source, original)
            self.journal.plan_finish(source["id"], os.fsencode(destination))
            crash_point("after_plan_finish")
        else:
            destination = Path(os.fsdecode(source["destination"]))
            if os.path.lexists(spooled) and os.path.lexists(destination) and \
                    not same_file(spooled, destination):
                # Another file took the planned name while this one waited: never over it.
                destination = self._free_rejected(source, original)
                sources.replan(self.journal, source["id"], os.fsencode(destination))
        if any(j["state"] != "printed" for j in jobs):
            stored_as = None if archived else display_name(destination.name)
            report = error_text(source["name"], jobs, archived, stored_as).encode("utf-8")
            if archived:
                names = suffixed(intake.rejected_dir, original, source["id"], REPORT)
            else:
                names = suffixed(destination.parent, destination.name, source["id"], REPORT)
            create_new(names, report, lambda path: _holds(path, report))
        if os.path.lexists(spooled):
            move_file(spooled, destination, abort=lambda: self.stopping)
        crash_point("after_move")
        now = self.journal.now()
        result = result_doc(source["name"], jobs, now)
        data = (json.dumps(result, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        written = create_new(suffixed(intake.results_dir, original, source["id"], RESULT), data,
                             lambda path: _result_of(path, source["id"]))
        self.journal.finish(source["id"], archived,
                            {"file": source["name"], "destination": display_name(str(destination)),
                             "state": result["state"]})
        logs.info("file.archived" if archived else "file.rejected", job=source["id"],
                  file=source["name"], destination=destination, state=result["state"],
                  result=written.name)
