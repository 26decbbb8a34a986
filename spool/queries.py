"""Named read queries on the journal, for the stages, the commands and the metrics.

Every query on the journal is written in `spool/` (SPEC §2); callers ask by name. State
lists come from the state machine (`states.py`), never typed as SQL strings.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from .db import connect
from .states import FINAL, State

_FINAL_LIST = ", ".join(f"'{s.value}'" for s in sorted(FINAL))


def open_readonly(path: Path) -> sqlite3.Connection | None:
    """The journal opened read-only for a view, or None before the first run."""
    return connect(path, readonly=True) if path.exists() else None


def job(conn: sqlite3.Connection, job_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()


def held_for(conn: sqlite3.Connection, printer: str, reason: str,
             limit: int = -1) -> list[sqlite3.Row]:
    """A printer's jobs held for `reason`, in arrival order."""
    return conn.execute(
        "SELECT * FROM jobs WHERE printer = ? AND state = ? AND reason = ?"
        " ORDER BY source_seq, batch_index LIMIT ?",
        (printer, State.HELD.value, reason, limit)).fetchall()


def deferred_due(conn: sqlite3.Connection, printer: str, now: str,
                 horizon: str) -> list[sqlite3.Row]:
    """A printer's deferred jobs whose retry time has come, in arrival order.

    A retry time later than `horizon` (now plus the longest backoff) was set before the
    clock was stepped back: such a job is due as well, rather than wait out the step.
    """
    return conn.execute(
        "SELECT * FROM jobs WHERE printer = ? AND state = ? AND (next_attempt_at IS NULL"
        " OR next_attempt_at <= ? OR next_attempt_at > ?) ORDER BY source_seq, batch_index",
        (printer, State.DEFERRED.value, now, horizon)).fetchall()


def last_source_seq(conn: sqlite3.Connection) -> int:
    """The arrival number of the newest source (file or reprint) the journal holds."""
    return conn.execute("SELECT coalesce(max(rowid), 0) FROM sources").fetchone()[0]


def held_per_reason(conn: sqlite3.Connection, reasons: tuple[str, ...]) -> dict[str, int]:
    """How many jobs are held for each of `reasons` (those with none are left out)."""
    marks = ",".join("?" * len(reasons))
    rows = conn.execute(f"SELECT reason, count(*) AS n FROM jobs WHERE state = ?"
                        f" AND reason IN ({marks}) GROUP BY reason",
                        (State.HELD.value, *reasons)).fetchall()
    return {r["reason"]: r["n"] for r in rows}


def source_states(conn: sqlite3.Connection, ids: list[str]) -> dict[str, str]:
    """The state of each source in `ids` the journal holds (unknown ids are left out)."""
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):  # SQLite limits the parameters of one statement
        chunk = ids[start:start + 500]
        rows = conn.execute(f"SELECT id, state FROM sources WHERE id IN"
                            f" ({','.join('?' * len(chunk))})", chunk).fetchall()
        found.update((r["id"], r["state"]) for r in rows)
    return found


def count_held(conn: sqlite3.Connection, reason: str) -> int:
    return conn.execute("SELECT count(*) FROM jobs WHERE state = ? AND reason = ?",
                        (State.HELD.value, reason)).fetchone()[0]


def source_claimed_at(conn: sqlite3.Connection, source_id: str) -> str:
    return conn.execute("SELECT claimed_at FROM sources WHERE id = ?",
                        (source_id,)).fetchone()[0]


def jobs_per_state_printer(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """(state, printer, n): printer is '' for jobs without one."""
    return conn.execute("SELECT state, coalesce(printer, '') AS printer, count(*) AS n"
                        " FROM jobs GROUP BY state, printer ORDER BY state, printer").fetchall()


def count_in_state(conn: sqlite3.Connection, state: State) -> int:
    return conn.execute("SELECT count(*) FROM jobs WHERE state = ?",
                        (state.value,)).fetchone()[0]


def rejected_per_code(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT coalesce(reason, '') AS code, count(*) AS n FROM jobs"
                        " WHERE state = ? GROUP BY code ORDER BY code",
                        (State.REJECTED.value,)).fetchall()


def jobs_listed(conn: sqlite3.Connection, state: str | None,
                show_all: bool) -> list[sqlite3.Row]:
    """Jobs in arrival order: in one state, all of them, or (default) those not final."""
    if state:
        return conn.execute("SELECT * FROM jobs WHERE state = ? ORDER BY created_at, id",
                            (state,)).fetchall()
    where = "" if show_all else f"WHERE state NOT IN ({_FINAL_LIST})"
    return conn.execute(f"SELECT * FROM jobs {where} ORDER BY created_at, id").fetchall()


def job_events(conn: sqlite3.Connection, job_id: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT seq, at, type, payload FROM events WHERE job_id = ?"
                        " ORDER BY seq", (job_id,)).fetchall()


def events_matching(conn: sqlite3.Connection, invoice: str | None, since: str | None,
                    until: str | None) -> Iterator[sqlite3.Row]:
    """Events in seq order, streamed: of one invoice, and from `since` up to `until` (UTC)."""
    where, params = [], []
    if invoice:
        where.append("invoice_key = ?")
        params.append(invoice)
    if since:
        where.append("at >= ?")
        params.append(since)
    if until:
        where.append("at < ?")
        params.append(until)
    sql = "SELECT * FROM events" + (f" WHERE {' AND '.join(where)}" if where else "") + \
        " ORDER BY seq"
    return conn.execute(sql, params)


def submits_since(conn: sqlite3.Connection, seq: int) -> list[sqlite3.Row]:
    """Jobs submitted after `seq`: when each was submitted and when its file was picked up."""
    return conn.execute(
        "SELECT e.seq, e.at AS submitted, i.at AS picked FROM events e"
        " JOIN jobs j ON j.id = e.job_id"
        " JOIN events i ON i.job_id = j.source_id AND i.type = 'job.incoming'"
        " WHERE e.seq > ? AND e.type = 'job.submitted' ORDER BY e.seq", (seq,)).fetchall()


def printed_totals(conn: sqlite3.Connection, after_seq: int | None = None,
                   through_seq: int | None = None) -> list[str]:
    """Totals (as text) of printed jobs: all of them, or those printed in (after, through]."""
    if after_seq is None:
        rows = conn.execute("SELECT i.total FROM jobs j JOIN invoices i"
                            " ON i.key = j.invoice_key WHERE j.state = ? AND i.total != ''",
                            (State.PRINTED.value,))
    else:
        rows = conn.execute("SELECT i.total FROM events e JOIN jobs j ON j.id = e.job_id"
                            " JOIN invoices i ON i.key = j.invoice_key"
                            " WHERE e.seq > ? AND e.seq <= ? AND e.type = 'job.printed'"
                            " AND i.total != ''", (after_seq, through_seq))
    return [r[0] for r in rows]


class Snapshot:
    """One read transaction, so several queries see the same journal."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN")
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("COMMIT")


def has_event(conn: sqlite3.Connection, type_: str) -> bool:
    """Whether the journal holds any event of this type."""
    return conn.execute("SELECT 1 FROM events WHERE type = ? LIMIT 1",
                        (type_,)).fetchone() is not None
