"""Named read queries on the journal, for the stages, the commands and the metrics.

Every query on the journal is written in `spool/` (SPEC §2); callers ask by name. State
lists come from the state machine (`states.py`), never typed as SQL strings.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from .db import connect
from .states import FINAL, InvoiceState, State, sql_in

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


def _between(column: str, since: str | None, until: str | None) -> tuple[list[str], list]:
    """WHERE clauses and parameters for `since <= column < until` (either may be open)."""
    where: list[str] = []
    params: list = []
    if since:
        where.append(f"{column} >= ?")
        params.append(since)
    if until:
        where.append(f"{column} < ?")
        params.append(until)
    return where, params


def events_matching(conn: sqlite3.Connection, invoice: str | None, since: str | None,
                    until: str | None) -> Iterator[sqlite3.Row]:
    """Events in seq order, streamed: of one invoice, and from `since` up to `until` (UTC)."""
    where, params = _between("at", since, until)
    if invoice:
        where.append("invoice_key = ?")
        params.append(invoice)
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


# -- invoices as a clerk looks for them (cli/invoices.py) -----------------------------------

# A job that ended any other way than printed did not take its file's bytes.
_NOT_TAKEN_SQL = sql_in(FINAL - {State.PRINTED})


def earlier_copy(conn: sqlite3.Connection, sha256: str,
                 before_seq: int | None = None) -> sqlite3.Row | None:
    """A job of a file with the same bytes that was taken, not refused (`file.duplicate`):
    of any file, or only of those that arrived before arrival number `before_seq`."""
    earlier = " AND s.rowid < ?" if before_seq is not None else ""
    return conn.execute(
        "SELECT j.id, j.created_at FROM jobs j JOIN sources s ON s.id = j.source_id"
        f" WHERE s.sha256 = ?{earlier} AND j.state NOT IN {_NOT_TAKEN_SQL}"
        " ORDER BY s.rowid LIMIT 1",
        (sha256,) if before_seq is None else (sha256, before_seq)).fetchone()


def invoice_taken(conn: sqlite3.Connection, key: str,
                  job_id: str | None = None) -> sqlite3.Row | None:
    """The job that printed `key` (not voided), or a live job for it other than `job_id`
    (`invoice.duplicate`)."""
    row = conn.execute("SELECT job_id AS id, printed_at AS at FROM invoices WHERE key = ?"
                       " AND state = ?", (key, InvoiceState.PRINTED.value)).fetchone()
    return row or conn.execute(
        f"SELECT id, created_at AS at FROM jobs WHERE invoice_key = ? AND id IS NOT ?"
        f" AND state NOT IN ({_FINAL_LIST}) ORDER BY created_at LIMIT 1",
        (key, job_id)).fetchone()


def _number_filter(column: str, typed: str, suffix: str, code: str) -> tuple[str, list]:
    """`column` is the key typed, or a key whose number ends with the digits `suffix`
    (under invoice code `code` when one is given). `substr` rather than LIKE: the typed
    text is compared, never read as a pattern."""
    sql = f"({column} = ?"
    params: list = [typed]
    if suffix:
        sql += f" OR (substr({column}, -?) = ?"
        params += [len(suffix), suffix]
        if code:
            sql += f" AND substr({column}, 1, ?) = ?"
            params += [len(code) + 1, f"{code}-"]
        sql += ")"
    return sql + ")", params


def invoice_candidates(conn: sqlite3.Connection, typed: str, suffix: str = "", code: str = "",
                       with_jobs: bool = False) -> list[sqlite3.Row]:
    """Keys (with their invoice state) a clerk's typed number may mean, from the invoices
    printed here; with `with_jobs`, also keys only jobs name (read, but never printed:
    their state is NULL)."""
    where, params = _number_filter("key", typed, suffix, code)
    sql = f"SELECT key, state FROM invoices WHERE {where}"
    if with_jobs:
        jobs_where, jobs_params = _number_filter("j.invoice_key", typed, suffix, code)
        sql += (" UNION SELECT DISTINCT j.invoice_key, NULL FROM jobs j WHERE"
                f" {jobs_where} AND NOT EXISTS (SELECT 1 FROM invoices i"
                " WHERE i.key = j.invoice_key)")
        params += jobs_params
    return conn.execute(sql + " ORDER BY key", params).fetchall()


def invoices_found(conn: sqlite3.Connection, typed: str | None = None, suffix: str = "",
                   code: str = "", buyer: str | None = None, since: str | None = None,
                   until: str | None = None, state: str | None = None) -> list[sqlite3.Row]:
    """Invoices printed here (SPEC §3 `invoices`), by print time: matching a typed number,
    a buyer's name or taxpayer id (a part of either), printed from `since` up to `until`
    (UTC), in one state."""
    where, params = _between("printed_at", since, until)
    if typed is not None:
        sql, more = _number_filter("key", typed, suffix, code)
        where.append(sql)
        params += more
    if buyer:
        where.append("(instr(lower(coalesce(buyer_name, '')), lower(?)) > 0"
                     " OR instr(upper(coalesce(buyer_tin, '')), upper(?)) > 0)")
        params += [buyer, buyer]
    if state:
        where.append("state = ?")
        params.append(state)
    return conn.execute("SELECT * FROM invoices" + (f" WHERE {' AND '.join(where)}"
                                                    if where else "")
                        + " ORDER BY printed_at, key", params).fetchall()


def invoice(conn: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM invoices WHERE key = ?", (key,)).fetchone()


def jobs_of_invoices(conn: sqlite3.Connection, keys: list[str]) -> list[sqlite3.Row]:
    """The jobs of these invoices, in the order they were made."""
    found: list[sqlite3.Row] = []
    for start in range(0, len(keys), 500):  # SQLite limits the parameters of one statement
        chunk = keys[start:start + 500]
        found += conn.execute(
            "SELECT id, invoice_key, state, reason, printer, reprint_of, source_name,"
            " created_at, updated_at FROM jobs WHERE invoice_key IN"
            f" ({','.join('?' * len(chunk))})", chunk).fetchall()
    return sorted(found, key=lambda r: (r["created_at"], r["id"]))


def invoice_history(conn: sqlite3.Connection, key: str) -> list[sqlite3.Row]:
    """Every event of an invoice and of its jobs (from the file's arrival on), in order."""
    return conn.execute(
        "SELECT seq, at, type, job_id, payload FROM events WHERE invoice_key = ?"
        " OR job_id IN (SELECT id FROM jobs WHERE invoice_key = ?) ORDER BY seq",
        (key, key)).fetchall()


def jobs_of_other_printers(conn: sqlite3.Connection, printers: list[str],
                           states: list[State]) -> list[sqlite3.Row]:
    """Jobs in `states` routed to a printer the config no longer has."""
    marks = ", ".join("?" * len(printers)) or "NULL"
    return conn.execute(
        f"SELECT * FROM jobs WHERE printer IS NOT NULL AND printer NOT IN ({marks})"
        f" AND state IN ({', '.join('?' * len(states))}) ORDER BY source_seq, batch_index",
        (*printers, *(s.value for s in states))).fetchall()


def timed_waits(conn: sqlite3.Connection, printer: str) -> int:
    """A printer's jobs that wait on the clock rather than on a wake: deferred ones (their
    retry time) and those held for the offline budget (it frees as time passes)."""
    return conn.execute(
        "SELECT count(*) FROM jobs WHERE printer = ? AND (state = ? OR (state = ?"
        " AND reason = 'offline.limit'))",
        (printer, State.DEFERRED.value, State.HELD.value)).fetchone()[0]
