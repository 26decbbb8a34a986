"""The journal: jobs, sources, invoices and the hash-chained event log in SQLite (SPEC §10).

Every state change is one `BEGIN IMMEDIATE` transaction that also appends the event that
records it, so the change and its record are durable together before the next step acts.
All job state changes go through `Journal.transition`, which refuses illegal ones.
One `Journal` (one connection) per thread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from printstation.base.errors import ConfigInvalid

from . import batches, db, paper, queries, reading
from .states import (
    FINAL,
    INVOICE,
    SOURCE,
    InvoiceState,
    SheetState,
    SourceState,
    State,
    check_transition,
    sql_in,
)

GENESIS = "0" * 64
_FINAL_SQL = sql_in(FINAL)
# A file is finished once its source row is in a final state; until then it waits.
_UNFINISHED_SQL = sql_in(set(SourceState) - SOURCE.final)
# Columns `transition` may set besides state and reason.
_JOB_COLUMNS = frozenset({"kind", "invoice_key", "invoice_json", "errors", "printer",
                          "cups_job_id", "attempts", "next_attempt_at", "paper_code",
                          "paper_number", "reprint_of"})

Clock = Callable[[], dt.datetime]

# One write lock per database file, shared by the Journals (threads) of this process.
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """UTC ISO-8601 with milliseconds and `Z`, as stored everywhere in the journal."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(body)).encode("utf-8")).hexdigest()


class StationMismatch(ConfigInvalid):
    """The journal belongs to another station id."""


@dataclass(frozen=True)
class Outcome:
    """What reading one invoice of a claimed file decided for its job."""

    state: State
    reason: str | None = None
    kind: str | None = None
    invoice_key: str | None = None
    invoice_json: str | None = None
    printer: str | None = None
    errors: str | None = None


class Journal:
    def __init__(self, path: Path, station: str, clock: Clock = utc_now):
        self.path = path
        self.station = station
        self.clock = clock
        self.conn = db.connect(path)
        # Called after a commit that appended events (the daemon wakes its sync worker).
        self.on_event: Callable[[], None] | None = None
        self._appended = False
        # Fields every event appended inside `stamped()` carries in its payload too.
        self._stamp: dict[str, Any] = {}
        with _LOCKS_GUARD:
            self._write_lock = _WRITE_LOCKS.setdefault(str(path.resolve()), threading.Lock())
        db.migrate(self.conn)
        self._claim_station()

    def close(self) -> None:
        self.conn.close()

    def now(self) -> str:
        return iso(self.clock())

    def _claim_station(self) -> None:
        with self.transaction() as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'station'").fetchone()
            if row is None:
                c.execute("INSERT INTO meta VALUES ('station', ?)", (self.station,))
            elif row["value"] != self.station:
                raise StationMismatch(
                    f"{self.path} belongs to station {row['value']!r}, not {self.station!r}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: read-then-write without "database is locked" surprises.

        Writers of this process queue on a lock first: SQLite's own busy handler sleeps in
        steps of up to 100 ms, which made the pipeline's threads wait far longer than the
        work takes. Other processes (the CLI) still meet the busy timeout.
        """
        with self._write_lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._appended = False
                raise
            self.conn.execute("COMMIT")
        if self._appended:
            self._appended = False
            if self.on_event is not None:
                self.on_event()

    # -- events -------------------------------------------------------------------------

    @contextmanager
    def stamped(self, **fields: Any) -> Iterator[None]:
        """Every event appended inside this block carries `fields` in its payload as well
        (an operator action taken through the web console says so: `via="web"`)."""
        saved, self._stamp = self._stamp, {**self._stamp, **fields}
        try:
            yield
        finally:
            self._stamp = saved

    def append_event(self, type_: str, job_id: str | None = None,
                     invoice_key: str | None = None,
                     payload: dict[str, Any] | None = None) -> int:
        """Append one event; call inside `transaction()`. Returns its seq."""
        last = self.conn.execute(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
        body = {"seq": seq, "id": uuid.uuid4().hex, "at": self.now(), "station": self.station,
                "type": type_, "job_id": job_id, "invoice_key": invoice_key,
                "payload": {**(payload or {}), **self._stamp}}
        self.conn.execute(
            "INSERT INTO events (seq, id, at, station, type, job_id, invoice_key, payload,"
            " prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (seq, body["id"], body["at"], self.station, type_, job_id, invoice_key,
             canonical(body["payload"]), prev, event_hash(prev, body)))
        self._appended = True
        return seq

    # -- the one place job states change ------------------------------------------------

    def transition(self, job_id: str, new: State, reason: str | None = None,
                   payload: dict[str, Any] | None = None, **columns: Any) -> None:
        """Move a job to `new`, journaling `job.<new>`; call inside `transaction()`."""
        row = self.conn.execute("SELECT state, invoice_key FROM jobs WHERE id = ?",
                                (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job {job_id}")
        check_transition(job_id, row["state"], new)
        bad = set(columns) - _JOB_COLUMNS
        if bad:
            raise ValueError(f"transition cannot set {sorted(bad)}")
        sets = ", ".join(f"{name} = ?" for name in columns)
        self.conn.execute(
            f"UPDATE jobs SET state = ?, reason = ?, updated_at = ?{', ' if sets else ''}{sets}"
            " WHERE id = ?", (new.value, reason, self.now(), *columns.values(), job_id))
        event = {"from": row["state"], "to": new.value, **(payload or {})}
        if reason:
            event["reason"] = reason
        self.append_event(f"job.{new.value}", job_id,
                          columns.get("invoice_key", row["invoice_key"]), event)

    # -- intake -------------------------------------------------------------------------

    def register_source(self, source_id: str, raw_name: bytes, spool_name: str,
                        sha256: str | None, size: int | None, recovered: bool = False) -> str:
        """Record a file claimed into the spool, with its first job (`incoming`).

        `raw_name` is the name's bytes as the filesystem has them (not always UTF-8); the
        journal shows it as text with \\xNN escapes.
        """
        src = batches.NewSource(source_id, raw_name, spool_name, sha256, size, recovered)
        with self.transaction():
            return batches.record_source(self, src, self.now())

    def known_sources(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT id FROM sources")}

    # -- reading ------------------------------------------------------------------------

    def next_incoming(self) -> sqlite3.Row | None:
        """Fresh files in arrival order, then those whose reading was cut short."""
        return reading.next_incoming(self.conn)

    def next_incoming_batch(self, limit: int) -> list[sqlite3.Row]:
        """Up to `limit` fresh files in arrival order, else the oldest interrupted one."""
        return reading.next_incoming_batch(self.conn, limit)

    def earlier_copy(self, sha256: str, source_seq: int) -> sqlite3.Row | None:
        """A job of an earlier file with the same bytes that was taken, not refused.

        Only earlier arrivals count: files are read in arrival order, so those are already
        decided, and the verdict does not depend on timing.
        """
        return queries.earlier_copy(self.conn, sha256, source_seq)

    def invoice_taken(self, key: str, job_id: str) -> sqlite3.Row | None:
        """The job that printed `key` (not voided), or another live job for it."""
        return queries.invoice_taken(self.conn, key, job_id)

    def settle_read(self, job: sqlite3.Row, outcomes: list[Outcome]) -> list[str]:
        """Apply what reading decided: the incoming job takes the first invoice, and each
        further invoice of a batch becomes its own job. Returns the job ids."""
        with self.transaction():
            return batches.record_read(self, job, outcomes)

    # -- printing -----------------------------------------------------------------------

    def next_for_printer(self, printer: str, state: State) -> sqlite3.Row | None:
        """The oldest job of `printer` in `state`, in arrival order (file, then batch)."""
        return self.conn.execute(
            "SELECT j.*, s.spool_name FROM jobs j JOIN sources s ON s.id = j.source_id"
            " WHERE j.printer = ? AND j.state = ? ORDER BY j.source_seq, j.batch_index LIMIT 1",
            (printer, state.value)).fetchone()

    def jobs_in_state(self, printer: str, state: State, limit: int = -1) -> list[sqlite3.Row]:
        """A printer's jobs in `state`, in arrival order (all, or the first `limit`)."""
        return self.conn.execute(
            "SELECT j.*, s.spool_name FROM jobs j JOIN sources s ON s.id = j.source_id"
            " WHERE j.printer = ? AND j.state = ? ORDER BY j.source_seq, j.batch_index"
            " LIMIT ?", (printer, state.value, limit)).fetchall()

    def mark_printed(self, job_id: str, payload: dict[str, Any] | None = None) -> None:
        """The printer confirmed the job (or an operator did): in one transaction the job is
        printed, the invoice marked used, and the sheet it was given marked used."""
        with self.transaction():
            self.record_printed(job_id, payload)

    def record_printed(self, job_id: str, payload: dict[str, Any] | None = None) -> None:
        """`mark_printed` inside a transaction the caller holds: a printer in a backlog
        settles the job before in the commit that submits the next (DURABILITY.md)."""
        now = self.now()
        c = self.conn
        job = c.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        record = invoice_record(json.loads(job["invoice_json"]))
        # The total rides on the event: head office sees the amount, and the offline
        # budget (unacknowledged printed totals) is summed from the outbox alone. So
        # do the invoice's number, date and buyer: head office's invoice search and
        # finance's export are built from the events alone.
        total = {"total": record["total"]} if record and record["total"] else {}
        if record is not None:
            total["invoice"] = {name: record[name] for name in PRINTED_FIELDS}
        self.transition(job_id, State.PRINTED, payload={**(payload or {}), **total})
        paper.settle(c, job_id, SheetState.USED, job["invoice_key"], None, now)
        if record is None:
            return  # a PDF whose number could not be read: known by its bytes only
        # An invoice printed before (a reprint) is printed again: a move of its own.
        old = c.execute("SELECT state FROM invoices WHERE key = ?", (record["key"],)).fetchone()
        if old is not None:
            INVOICE.check(record["key"], old["state"], InvoiceState.PRINTED)
        c.execute(
            "INSERT INTO invoices (key, code, number, kind, date, buyer_name, buyer_tin,"
            " total_amount, total_tax, total, state, printed_at, print_count, job_id,"
            " paper_code, paper_number)"
            " VALUES (:key, :code, :number, :kind, :date, :buyer_name, :buyer_tin,"
            " :total_amount, :total_tax, :total, :state, :now, 1, :job, :paper_code,"
            " :paper_number)"
            " ON CONFLICT(key) DO UPDATE SET state = excluded.state,"
            " printed_at = excluded.printed_at, print_count = print_count + 1,"
            " job_id = excluded.job_id, paper_code = excluded.paper_code,"
            " paper_number = excluded.paper_number",
            {**record, "state": InvoiceState.PRINTED.value, "now": now, "job": job_id,
             "paper_code": job["paper_code"], "paper_number": job["paper_number"]})

    # -- finishing ----------------------------------------------------------------------

    def last_seq(self) -> int:
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]

    def sources_to_finish(self, since_seq: int | None = None) -> list[sqlite3.Row]:
        """Files whose jobs are all final but which are not yet archived or rejected.

        With `since_seq`, only files with a job that went final after that event: the
        finisher's steady state, which stays cheap however long the backlog is. Without
        it, a full scan (at start-up).
        """
        all_final = (f" AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.source_id = s.id"
                     f" AND j.state NOT IN {_FINAL_SQL})")
        if since_seq is None:
            return self.conn.execute(
                f"SELECT * FROM sources s WHERE s.state IN {_UNFINISHED_SQL}{all_final}"
                " ORDER BY s.rowid").fetchall()
        finals = ",".join(f"'job.{state}'" for state in sorted(FINAL))
        return self.conn.execute(
            "SELECT * FROM sources s WHERE s.id IN (SELECT j.source_id FROM events e"
            f" JOIN jobs j ON j.id = e.job_id WHERE e.seq > ? AND e.type IN ({finals}))"
            f" AND s.state IN {_UNFINISHED_SQL}{all_final} ORDER BY s.rowid",
            (since_seq,)).fetchall()

    def jobs_of_source(self, source_id: str) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM jobs WHERE source_id = ? ORDER BY batch_index",
                                 (source_id,)).fetchall()

    def plan_finish(self, source_id: str, destination: bytes) -> None:
        """Record where the file will go before moving it, so a crash mid-move resumes.

        The path is kept as the filesystem's bytes: a file's name need not be UTF-8.
        """
        with self.transaction() as c:
            self.check_source(source_id, SourceState.FINISHING)
            c.execute("UPDATE sources SET state = ?, destination = ? WHERE id = ?",
                      (SourceState.FINISHING.value, destination, source_id))

    def finish(self, source_id: str, archived: bool, payload: dict[str, Any]) -> None:
        state = SourceState.ARCHIVED if archived else SourceState.REJECTED
        with self.transaction() as c:
            self.check_source(source_id, state)
            c.execute("UPDATE sources SET state = ?, finished_at = ? WHERE id = ?",
                      (state.value, self.now(), source_id))
            self.append_event(f"file.{state.value}", source_id, None, payload)

    def check_source(self, source_id: str, new: SourceState) -> None:
        """Refuse a move of a file that its lifecycle lacks; call inside `transaction()`."""
        row = self.conn.execute("SELECT state FROM sources WHERE id = ?", (source_id,)).fetchone()
        if row is None:
            raise KeyError(f"no source {source_id}")
        SOURCE.check(source_id, row["state"], new)


# The invoice's facts a `job.printed` event carries to head office (SPEC §11).
PRINTED_FIELDS = ("code", "number", "kind", "date", "buyer_name", "buyer_tin")


def invoice_record(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The `invoices` row of a stored invoice (or of the facts read from a PDF or OFD)."""
    if doc.get("format") in ("pdf", "ofd"):
        if not doc["number"]:
            return None
        key = f"{doc['code']}-{doc['number']}" if doc["code"] else doc["number"]
        return {"key": key, "code": doc["code"] or None, "number": doc["number"],
                "kind": "einvoice", "date": doc["date"], "buyer_name": None, "buyer_tin": None,
                "total_amount": doc.get("total_amount", ""),
                "total_tax": doc.get("total_tax", ""), "total": doc["total"]}
    key = f"{doc['code']}-{doc['number']}" if doc["code"] else doc["number"]
    return {"key": key, "code": doc["code"] or None, "number": doc["number"],
            "kind": doc["kind"], "date": doc["date"], "buyer_name": doc["buyer"]["name"],
            "buyer_tin": doc["buyer"]["tin"], "total_amount": doc["total_amount"],
            "total_tax": doc["total_tax"], "total": doc["total"]}
