"""Group commit: several claimed files registered, or several files' verdicts settled, in
one journal transaction (DURABILITY.md says which commits remain and why).

A backlog of single-invoice files made two commits per file before anything reached a
printer: the intake's register and the reader's settle, each a WAL fsync. Neither precedes
an outside effect of its own, so several files share one commit: the events are appended
in order inside it, so the hash chain is the one a commit per file would have made.

The reader decides a batch before it commits any of it, so its duplicate checks must see
the verdicts of the batch's earlier files as if they were committed (`PendingReads`): two
files with the same bytes, or the same invoice number, in one batch still make the second
a duplicate, exactly as when each file was settled on its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .states import FINAL, InvoiceState, SourceState, State, sql_in

if TYPE_CHECKING:
    from .journal import Journal, Outcome

# What `queries.earlier_copy` counts as a file that was not taken.
_NOT_TAKEN = FINAL - {State.PRINTED}


@dataclass(frozen=True)
class NewSource:
    """A file claimed into the spool, to be registered with its first job (`incoming`)."""

    source_id: str
    raw_name: bytes
    spool_name: str
    sha256: str | None
    size: int | None
    recovered: bool = False


def record_source(journal: Journal, src: NewSource, now: str) -> str:
    """Insert a claimed file and its incoming job; call inside `transaction()`.

    `raw_name` is the name's bytes as the filesystem has them (not always UTF-8); the
    journal shows it as text with \\xNN escapes.
    """
    c = journal.conn
    name = src.raw_name.decode("utf-8", "backslashreplace")
    seq = c.execute("INSERT INTO sources (id, name, raw_name, spool_name, sha256, size,"
                    " state, claimed_at) VALUES (?,?,?,?,?,?,?,?)",
                    (src.source_id, name, src.raw_name, src.spool_name, src.sha256, src.size,
                     SourceState.OPEN.value, now)).lastrowid
    c.execute("INSERT INTO jobs (id, source_id, source_name, source_sha256, source_seq,"
              " state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
              (src.source_id, src.source_id, name, src.sha256, seq, State.INCOMING.value,
               now, now))
    payload: dict[str, Any] = {"file": name, "size": src.size, "sha256": src.sha256}
    if src.recovered:
        payload["recovered"] = True
    journal.append_event("job.incoming", src.source_id, None, payload)
    return src.source_id


def register_sources(journal: Journal, sources: Sequence[NewSource]) -> list[str]:
    """Register several claimed files in one commit, in the order given; their job ids."""
    now = journal.now()
    with journal.transaction():
        return [record_source(journal, src, now) for src in sources]


def record_read(journal: Journal, job: sqlite3.Row, outcomes: Sequence[Outcome],
                reset_attempts: bool = False) -> list[str]:
    """Apply what reading one file decided; call inside `transaction()`. The incoming job
    takes the first invoice, each further invoice of a batch file becomes its own job.

    `reset_attempts`: the file was read in the jail without incident and goes on to
    print, so its count of read attempts starts again at zero (`reading.read_done`), in
    the same commit as its verdict.
    """
    c = journal.conn
    if reset_attempts:
        c.execute("UPDATE jobs SET attempts = 0 WHERE id = ? AND state = ?",
                  (job["id"], State.INCOMING.value))
    ids = []
    for index, outcome in enumerate(outcomes):
        job_id = job["id"] if index == 0 else f"{job['source_id']}-{index + 1}"
        if index:
            now = journal.now()
            c.execute("INSERT INTO jobs (id, source_id, source_name, source_sha256,"
                      " source_seq, batch_index, state, created_at, updated_at)"
                      " VALUES (?,?,?,?,?,?,?,?,?)",
                      (job_id, job["source_id"], job["source_name"], job["source_sha256"],
                       job["source_seq"], index, State.INCOMING.value, now, now))
            journal.append_event("job.created", job_id, None,
                                 {"file": job["source_name"], "batch_index": index})
        journal.transition(job_id, outcome.state, outcome.reason,
                           kind=outcome.kind, invoice_key=outcome.invoice_key,
                           invoice_json=outcome.invoice_json, printer=outcome.printer,
                           errors=outcome.errors)
        ids.append(job_id)
    return ids


@dataclass
class _Read:
    job: sqlite3.Row
    outcomes: list[Outcome]
    reset_attempts: bool


@dataclass
class PendingReads:
    """Verdicts of a reader's batch, decided and not yet committed, in arrival order.

    Its duplicate checks answer as `queries.earlier_copy` and `queries.invoice_taken`
    would if every verdict added so far were already committed.
    """

    reads: list[_Read] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.reads)

    def add(self, job: sqlite3.Row, outcomes: list[Outcome],
            reset_attempts: bool = False) -> None:
        self.reads.append(_Read(job, outcomes, reset_attempts))

    def earlier_copy(self, journal: Journal, sha256: str,
                     source_seq: int) -> dict[str, Any] | None:
        """A job of an earlier file with the same bytes that was taken, not refused: in
        the journal (leaving out this batch's files, still `incoming` there), or in this
        batch. Only earlier arrivals count: files are read in arrival order."""
        mine = [r.job["id"] for r in self.reads]
        row = journal.conn.execute(
            "SELECT j.id, j.created_at, s.rowid AS seq FROM jobs j"
            " JOIN sources s ON s.id = j.source_id WHERE s.sha256 = ? AND s.rowid < ?"
            f" AND j.state NOT IN {sql_in(_NOT_TAKEN)}"
            f" AND j.id NOT IN ({','.join('?' * len(mine))})"
            " ORDER BY s.rowid LIMIT 1", (sha256, source_seq, *mine)).fetchone()
        found = [(row["seq"], row["id"], row["created_at"])] if row else []
        for read in self.reads:
            job = read.job
            if job["source_sha256"] != sha256 or job["source_seq"] >= source_seq:
                continue
            for index, outcome in enumerate(read.outcomes):
                if outcome.state not in _NOT_TAKEN:
                    job_id = job["id"] if index == 0 else f"{job['source_id']}-{index + 1}"
                    found.append((job["source_seq"], job_id, job["created_at"]))
                    break
        if not found:
            return None
        _, job_id, created_at = min(found)
        return {"id": job_id, "created_at": created_at}

    def invoice_taken(self, journal: Journal, key: str,
                      job_id: str) -> dict[str, Any] | sqlite3.Row | None:
        """The job that printed `key` (not voided), another live job for it in the
        journal, or one this batch has queued or held."""
        c = journal.conn
        row = c.execute("SELECT job_id AS id, printed_at AS at FROM invoices WHERE key = ?"
                        " AND state = ?", (key, InvoiceState.PRINTED.value)).fetchone()
        if row is None:
            row = c.execute(
                "SELECT id, created_at AS at FROM jobs WHERE invoice_key = ? AND id IS NOT ?"
                f" AND state NOT IN {sql_in(FINAL)} ORDER BY created_at LIMIT 1",
                (key, job_id)).fetchone()
        if row is not None:
            return row
        for read in self.reads:
            for index, outcome in enumerate(read.outcomes):
                other = read.job["id"] if index == 0 else \
                    f"{read.job['source_id']}-{index + 1}"
                if outcome.invoice_key == key and outcome.state not in FINAL \
                        and other != job_id:
                    return {"id": other, "at": read.job["created_at"]}
        return None

    def settle(self, journal: Journal) -> list[list[str]]:
        """Commit every verdict of the batch in one transaction; each file's job ids."""
        with journal.transaction():
            return [record_read(journal, r.job, r.outcomes, r.reset_attempts)
                    for r in self.reads]
