"""The finishing stage: when all of a file's jobs are final, put the file in its one place.

Printed (any invoice of it) → `data_dir/archive/YYYY/MM/DD/`; otherwise → `rejected_dir`
with `X.error.txt`. Either way `results_dir/X.result.json` tells the finance software. The
destination is journaled before the move, so a crash in the middle resumes the same move.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from printstation.base import logs
from printstation.base.durable import atomic_write, fit_name, free_name, move_file
from printstation.spool import display_name

from .crash import crash_point
from .reports import error_text, result_doc
from .runner import JournalRunner

MAX_RETRY_S = 300.0


class FinishRunner(JournalRunner):
    name = "finisher"

    def setup(self) -> None:
        super().setup()
        # None: the first pass scans every open file (left from before a restart).
        self.seen_seq: int | None = None
        # Files that failed to finish: source id -> (next try, pause). They are retried
        # with a growing pause and never hold up the files behind them.
        self.retry: dict[str, tuple[float, float]] = {}

    def run_once(self) -> bool:
        # Read the mark before the query: an event appended meanwhile is seen next time.
        mark = self.journal.last_seq()
        sources = self.journal.sources_to_finish(self.seen_seq)
        now = time.monotonic()
        due = [s for s, (at, _) in self.retry.items() if at <= now]
        if due:
            sources += [s for s in self.journal.sources_to_finish() if s["id"] in due]
        for source in sources:
            if self.stopping:
                return True
            try:
                self.finish(source)
                self.retry.pop(source["id"], None)
            except Exception as exc:
                pause = min(self.retry.get(source["id"], (0, 0.5))[1] * 2, MAX_RETRY_S)
                self.retry[source["id"]] = (time.monotonic() + pause, pause)
                logs.error("file.finish_failed", exc_info=True, job=source["id"],
                                       file=source["name"], error=repr(exc), retry_s=pause)
        self.seen_seq = mark
        return bool(sources) and not all(s["id"] in self.retry for s in sources)

    def nap_s(self) -> float:
        if not self.retry:
            return self.idle_s
        soonest = min(at for at, _ in self.retry.values()) - time.monotonic()
        return max(0.05, min(self.idle_s, soonest))

    def finish(self, source: sqlite3.Row) -> None:
        intake = self.ctx.settings.intake
        jobs = self.journal.jobs_of_source(source["id"])
        # File names as the filesystem has them (a name need not be UTF-8).
        original = os.fsdecode(source["raw_name"]) if source["raw_name"] else source["name"]
        archived = any(j["state"] == "printed" for j in jobs)
        if archived:
            # Unique (the spool name) and fixed by the claim date: nothing to plan.
            destination = self.ctx.spool.archive_dir(source["claimed_at"]) / source["spool_name"]
        elif source["state"] == "open":
            # A free name depends on what is there now; journal it before moving, so a
            # crash mid-move resumes with the same name.
            destination = free_name(intake.rejected_dir, original, source["id"])
            self.journal.plan_finish(source["id"], os.fsencode(destination))
            crash_point("after_plan_finish")
        else:
            destination = Path(os.fsdecode(source["destination"]))
        rejected_any = any(j["state"] != "printed" for j in jobs)
        if rejected_any:
            base = original if archived else destination.name
            report = intake.rejected_dir / fit_name(base, ".error.txt")
            atomic_write(report, error_text(source["name"], jobs, archived).encode("utf-8"))
        spooled = self.ctx.spool.path(source["spool_name"])
        if os.path.lexists(spooled):
            move_file(spooled, destination)
        crash_point("after_move")
        now = self.journal.now()
        result = result_doc(source["name"], jobs, now)
        atomic_write(intake.results_dir / fit_name(original, ".result.json"),
                     (json.dumps(result, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
        self.journal.finish(source["id"], archived,
                            {"file": source["name"], "destination": display_name(str(destination)),
                             "state": result["state"]})
        logs.info("file.archived" if archived else "file.rejected", job=source["id"],
                  file=source["name"], destination=destination, state=result["state"])
