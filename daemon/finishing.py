"""The finishing stage: when all of a file's jobs are final, put the file in its one place.

Printed (any invoice of it) → `data_dir/archive/YYYY/MM/DD/`; otherwise → `rejected_dir`
with `X.error.txt`. Either way `results_dir/X.result.json` tells the finance software. The
destination is journaled before the move, so a crash in the middle resumes the same move.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from printstation.spool import atomic_write, fit_name, free_name, move_file

from . import logs
from .reports import error_text, result_doc
from .runner import JournalRunner


class FinishRunner(JournalRunner):
    name = "finisher"

    def setup(self) -> None:
        super().setup()
        # None: the first pass scans every open file (left from before a restart).
        self.seen_seq: int | None = None

    def run_once(self) -> bool:
        # Read the mark before the query: an event appended meanwhile is seen next time.
        mark = self.journal.last_seq()
        sources = self.journal.sources_to_finish(self.seen_seq)
        for source in sources:
            if self.stopping:
                return True
            self.finish(source)
        self.seen_seq = mark
        return bool(sources)

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
            self.journal.plan_finish(source["id"], str(destination))
        else:
            destination = Path(source["destination"])
        rejected_any = any(j["state"] != "printed" for j in jobs)
        if rejected_any:
            base = original if archived else destination.name
            report = intake.rejected_dir / fit_name(base, ".error.txt")
            atomic_write(report, error_text(source["name"], jobs, archived).encode("utf-8"))
        spooled = self.ctx.spool.path(source["spool_name"])
        if os.path.lexists(spooled):
            move_file(spooled, destination)
        now = self.journal.now()
        result = result_doc(source["name"], jobs, now)
        atomic_write(intake.results_dir / fit_name(original, ".result.json"),
                     (json.dumps(result, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
        self.journal.finish(source["id"], archived,
                            {"file": source["name"], "destination": str(destination),
                             "state": result["state"]})
        logs.info("file.archived" if archived else "file.rejected", job=source["id"],
                  file=source["name"], destination=destination, state=result["state"])
