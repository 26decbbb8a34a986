"""The reading stage: a claimed file becomes one job per invoice, queued or rejected.

Files that are parsed in the jail (`jail.py`) have each read attempt counted in the
journal before the jail gets them (`spool/reading.py`): a file whose reading the daemon
did not survive is read after the fresh ones, and one that stopped it twice is refused
`file.too_complex` without being read again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable

from printstation.base import logs
from printstation.invoice import Problem, problem
from printstation.spool import Outcome, State, reading
from printstation.spool.batches import PendingReads

from .checks import Entry, check_file, read_limited, route
from .context import Context
from .crash import crash_point
from .jail import Interrupted, JailBroken, jailed, too_complex
from .runner import JournalRunner

# A batch of files is decided, then committed at once: at most this many files, and no
# file is started after this much work, so the first file of a backlog waits at most that
# long for its commit (a lone file waits for nothing).
BATCH_FILES = 32
BATCH_S = 0.05


def _errors(problems: list[Problem]) -> str:
    return json.dumps([p.to_dict() for p in problems], ensure_ascii=False)


class ReadRunner(JournalRunner):
    name = "reader"

    def __init__(self, ctx: Context, on_read: Callable[[], None]):
        super().__init__(ctx)
        self.on_read = on_read

    def run_once(self) -> bool:
        batch = self.read_batch()
        if not batch:
            return False
        if len(batch) > 1:
            crash_point("after_read_batch")
        try:
            settled = batch.settle(self.journal)
        except (UnicodeError, ValueError, OverflowError, sqlite3.InterfaceError):
            # One verdict the journal cannot store rolled the whole batch back: settle
            # the files one by one, so that only that one is rejected for it.
            settled = [self.settle_one(read.job, read.outcomes, read.reset_attempts)
                       for read in batch.reads]
        crash_point("after_read")
        for read, ids in zip(batch.reads, settled, strict=True):
            for job_id, outcome in zip(ids, read.outcomes, strict=True):
                logs.info(f"job.{outcome.state}", job=job_id, invoice=outcome.invoice_key,
                          file=read.job["source_name"], printer=outcome.printer,
                          reason=outcome.reason)
        self.on_read()
        return True

    def read_batch(self) -> PendingReads:
        """Decide the next incoming files, in arrival order, up to BATCH_FILES of them or
        BATCH_S of work, none of it committed yet.

        A file read in the jail is read alone: its attempt is committed before the jail
        gets it (poison detection), and a crash after that read but before its verdict
        is committed counts against the file; sharing a commit with the files read after
        it would widen that window from one read to a whole batch.
        """
        batch = PendingReads()
        started = time.monotonic()
        for job in self.journal.next_incoming_batch(BATCH_FILES):
            alone = jailed(job["source_name"])
            if self.stopping or (alone and batch):
                break
            outcomes = self.decide(job, batch)
            if outcomes is None:
                break  # the daemon is stopping: the file waits, its attempt uncounted
            batch.add(job, outcomes, reset_attempts=alone and
                      outcomes[0].state is not State.REJECTED)
            if alone or time.monotonic() - started >= BATCH_S:
                break
        return batch

    def settle_one(self, job: sqlite3.Row, outcomes: list[Outcome],
                   reset_attempts: bool) -> list[str]:
        one = PendingReads()
        one.add(job, outcomes, reset_attempts)
        try:
            return one.settle(self.journal)[0]
        except (UnicodeError, ValueError, OverflowError, sqlite3.InterfaceError) as exc:
            # A verdict the journal cannot store (text it refuses, a number too large)
            # must not hold the file, and every file behind it, for ever: reject it.
            logs.error("reader.unstorable", job=job["id"], file=job["source_name"],
                       error=repr(exc)[:200])
            outcomes[:] = [_reject([problem("file.encoding", detail="its content cannot be "
                                            "stored as text",
                                            detail_zh="其内容无法作为文字保存")])]
            return self.journal.settle_read(job, outcomes)

    def decide(self, job: sqlite3.Row,
               batch: PendingReads | None = None) -> list[Outcome] | None:
        batch = batch if batch is not None else PendingReads()
        name = job["source_name"]
        if jailed(name) and job["attempts"] >= reading.POISON_AFTER:
            logs.warning("reader.poison", job=job["id"], file=name, attempts=job["attempts"])
            return [_reject(too_complex("it stopped the reader twice; it is not read again",
                                        "已两次使读取程序中断，不再读取").problems)]
        path = self.ctx.spool.path(job["spool_name"])
        try:
            data = read_limited(path, self.ctx.settings.intake.max_file_mb)
        except FileNotFoundError:
            return [Outcome(State.REJECTED, "spool.missing")]
        if isinstance(data, Problem):
            return [_reject([data])]
        earlier = batch.earlier_copy(self.journal, job["source_sha256"], job["source_seq"]) \
            if job["source_sha256"] else None
        if earlier:
            return [_reject([problem("file.duplicate", at=earlier["created_at"],
                                     job=earlier["id"])])]
        if not jailed(name):
            return self.check(job, data, batch)
        # Counted and committed before the jail gets the file: if the daemon does not
        # survive this read (SIGKILL, watchdog, OOM killer), the next start knows.
        attempt = reading.read_begins(self.journal, job["id"])
        if attempt > 1:
            logs.warning("reader.again", job=job["id"], file=name, attempt=attempt,
                         note="the daemon stopped while reading this file before")
        try:
            outcomes = self.check(job, data, batch)
        except (Interrupted, JailBroken):
            # Neither says anything about the file: a clean stop, or a station fault
            # (the runner logs it and retries); the attempt does not count against it.
            reading.read_interrupted(self.journal, job["id"])
            if self.stopping:
                return None
            raise
        # Its count of attempts starts again at zero in the commit of its verdict
        # (`PendingReads.add(reset_attempts=...)`), not in a commit of its own.
        return outcomes

    def check(self, job: sqlite3.Row, data: bytes,
              batch: PendingReads | None = None) -> list[Outcome]:
        pending = batch if batch is not None else PendingReads()

        def taken(key: str) -> Problem | None:
            row = pending.invoice_taken(self.journal, key, job["id"])
            return problem("invoice.duplicate", "number", key=key, at=row["at"],
                           job=row["id"]) if row else None

        try:
            checked = check_file(job["source_name"], data, self.ctx, taken, cancel=self._stop)
        except (Interrupted, JailBroken):
            raise
        except Exception as exc:
            # A bug met by some input must not stop the queue on that file: log it in
            # full and reject the file with what is known.
            logs.error("reader.bug", exc_info=True, job=job["id"], file=job["source_name"],
                                   error=repr(exc))
            return [_reject([problem("file.type", ext=os.path.splitext(job["source_name"])[1],
                                     detail=f"it could not be checked ({type(exc).__name__})",
                                     detail_zh=f"无法检查（{type(exc).__name__}）")])]
        if checked.file_problems:
            return [_reject(checked.file_problems)]
        return [self._outcome(entry) for entry in checked.entries]

    def _outcome(self, entry: Entry) -> Outcome:
        key = entry.key or None
        if entry.problems:
            return Outcome(State.REJECTED, entry.problems[0].code, invoice_key=key,
                           kind=entry.kind, errors=_errors(entry.problems))
        wanted = entry.invoice.printer if entry.invoice else None
        printer = route(entry.kind or "", wanted, self.ctx.settings)
        return Outcome(State.QUEUED if printer else State.HELD,
                       None if printer else "printer.missing", kind=entry.kind,
                       invoice_key=key, printer=printer, invoice_json=entry.to_json())


def _reject(problems: list[Problem] | tuple[Problem, ...]) -> Outcome:
    return Outcome(State.REJECTED, problems[0].code, errors=_errors(problems))
