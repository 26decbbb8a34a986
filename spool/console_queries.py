"""The web console's reads: counts, pages of jobs, rejected files, invoices, the paper ledger.

Every function takes a read-only connection (`row_factory=sqlite3.Row`) and answers from
an index (migration 4 in db.py), so that a page costs a few milliseconds with a hundred
thousand jobs in the journal and the console never slows the daemon. Lists are newest
first; a page of jobs ends at `before_seq`, the `seq` of the last row of the page before
(keyset paging: a page further back costs what the first one costs).

A job's `seq` is its rowid, the order jobs were made in (a batch's invoices right after
their file's first). Rowids of a table without an INTEGER PRIMARY KEY would change under
VACUUM; the journal is never vacuumed (backups copy pages), as `sources` rowids, which
order the files, rely on too.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .states import SheetState, State

# A job's columns as the console shows them: not the invoice's JSON (large; a job's own
# page reads it with queries.job).
JOB_COLUMNS = ("rowid AS seq, id, source_id, source_name, batch_index, kind, invoice_key,"
               " state, reason, errors, printer, cups_job_id, attempts, next_attempt_at,"
               " created_at, updated_at, reprint_of, paper_code, paper_number")
# States a clerk should look at: something went wrong, or waits for a person.
TROUBLE = (State.FAILED, State.HELD, State.UNCERTAIN, State.REJECTED)
MAX_LIMIT = 500


def _limit(limit: int) -> int:
    """A page of 1 to MAX_LIMIT rows, whatever the caller passed on from a URL."""
    return max(1, min(int(limit), MAX_LIMIT))


def state_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many jobs are in each state, every state named (0 for none)."""
    counts = {state.value: 0 for state in State}
    for row in conn.execute("SELECT state, count(*) AS n FROM jobs GROUP BY state"):
        counts[row["state"]] = row["n"]
    return counts


def _contains(text: str) -> str:
    """A LIKE pattern for "holds `text`", its own % _ and \\ escaped: what the clerk typed
    is compared, never read as a pattern. LIKE ignores the case of ASCII letters (as
    SQLite's lower() does; Chinese has none), and costs half of instr(lower(…))."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def jobs_page(conn: sqlite3.Connection, *, state: str | None = None,
              printer: str | None = None, text: str | None = None,
              before_seq: int | None = None, limit: int = 50) -> list[sqlite3.Row]:
    """Jobs newest first, in one state, for one printer, whose invoice key or file name
    holds `text`, older than `before_seq`: the columns of JOB_COLUMNS.

    Each filter has its index: (state), (printer), (printer, state) keep a state's or a
    printer's jobs in rowid order, so the page is a walk backwards from `before_seq`. The
    text is looked for in the small covering index of keys and file names, and only the
    jobs that hold it are read.
    """
    where: list[str] = []
    params: list[Any] = []
    if text:
        where.append("rowid IN (SELECT rowid FROM jobs WHERE invoice_key LIKE ? ESCAPE '\\'"
                     " OR source_name LIKE ? ESCAPE '\\')")
        params += [_contains(text)] * 2
    if state:
        where.append("state = ?")
        params.append(state)
    if printer:
        where.append("printer = ?")
        params.append(printer)
    if before_seq is not None:
        where.append("rowid < ?")
        params.append(int(before_seq))
    sql = f"SELECT {JOB_COLUMNS} FROM jobs" + (f" WHERE {' AND '.join(where)}" if where
                                                else "")
    return conn.execute(sql + " ORDER BY rowid DESC LIMIT ?",
                        (*params, _limit(limit))).fetchall()


def rejected_page(conn: sqlite3.Connection, *, before: int | None = None,
                  limit: int = 50) -> list[sqlite3.Row]:
    """Rejected jobs newest first, older than `before` (a `seq`): `seq`, `job` (its id),
    `file` (the dropped file's name), `at` (when it was rejected), `reason` (the first
    problem's code), `errors` (every problem as JSON, each with `zh` and `en`), and where
    the file is: `file_state` (`rejected`, or `archived` when other invoices of its batch
    printed, or not yet finished) and `destination` (the path's bytes once it is moved)."""
    return conn.execute(
        "SELECT j.rowid AS seq, j.id AS job, j.source_id, j.source_name AS file,"
        " j.batch_index, j.updated_at AS at, j.reason, j.errors, s.state AS file_state,"
        " s.destination FROM jobs j JOIN sources s ON s.id = j.source_id"
        " WHERE j.state = ? AND j.rowid < ? ORDER BY j.rowid DESC LIMIT ?",
        (State.REJECTED.value, before if before is not None else 2**63 - 1,
         _limit(limit))).fetchall()


def invoice_search(conn: sqlite3.Connection, *, text: str | None = None,
                   since: str | None = None, until: str | None = None,
                   limit: int = 50) -> list[sqlite3.Row]:
    """Invoices printed here, newest print first: whose key (code and number) holds `text`
    or whose buyer's name or taxpayer id does (any case), printed from `since` up to
    `until` (UTC, as the journal stores times: the caller turns a clerk's dates into
    those, as `printstation invoices` does). Every column of `invoices`."""
    where: list[str] = []
    params: list[Any] = []
    if since:
        where.append("printed_at >= ?")
        params.append(since)
    if until:
        where.append("printed_at < ?")
        params.append(until)
    if text:
        where.append("(key LIKE ? ESCAPE '\\' OR buyer_name LIKE ? ESCAPE '\\'"
                     " OR buyer_tin LIKE ? ESCAPE '\\')")
        params += [_contains(text)] * 3
    # `printed_at IS NOT NULL` lets the planner walk the search index in print order.
    where.append("printed_at IS NOT NULL")
    return conn.execute(f"SELECT * FROM invoices WHERE {' AND '.join(where)}"
                        " ORDER BY printed_at DESC, key DESC LIMIT ?",
                        (*params, _limit(limit))).fetchall()


def paper_ledger(conn: sqlite3.Connection, printer: str | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
    """The ranges of numbered sheets loaded (of one printer), newest first, each with who
    loaded it when and how its sheets stand: `sheets` in all, `free`, `in_printer` (held
    by a job), `used`, `spoiled`, `voided`. The totals per printer and stock are
    `paper.summary`.

    The sheets are counted straight off the (range, state, job) index, one group per
    range and state in the index's own order, and laid out here: summing an expression
    per sheet took ten times as long.
    """
    where, params = ("WHERE printer = ?", [printer]) if printer else ("", [])
    ranges = [dict(row) for row in conn.execute(
        "SELECT id, printer, stock, code, first, last, loaded_at, loaded_by FROM paper_ranges"
        f" {where} ORDER BY id DESC LIMIT ?", (*params, _limit(limit)))]
    counts = ("sheets", "free", "in_printer", *(s.value for s in SheetState
                                                 if s != SheetState.LOADED))
    found = {r["id"]: {**r, **dict.fromkeys(counts, 0)} for r in ranges}
    ids = list(found)
    if not ids:
        return []
    # Grouped in the index's own order, so no sort: count(job_id) counts the held ones.
    for row in conn.execute(
            "SELECT range_id, state, count(*) AS n, count(job_id) AS held FROM sheets"
            f" WHERE range_id IN ({','.join('?' * len(ids))}) GROUP BY range_id, state", ids):
        entry = found[row["range_id"]]
        entry["sheets"] += row["n"]
        if row["state"] == SheetState.LOADED:
            entry["in_printer"] += row["held"]
            entry["free"] += row["n"] - row["held"]
        else:
            entry[row["state"]] += row["n"]
    return [found[i] for i in ids]


def last_errors(conn: sqlite3.Connection, limit: int = 10) -> list[sqlite3.Row]:
    """The jobs that went wrong or wait for a person (failed, held, uncertain, rejected),
    latest change first, with their reason and problems: the columns of JOB_COLUMNS.

    One short walk down (state, updated_at) per state, merged: never a sort of all the
    rejected jobs there ever were.
    """
    n = _limit(limit)
    parts = " UNION ALL ".join(
        f"SELECT * FROM (SELECT {JOB_COLUMNS} FROM jobs WHERE state = ?"
        " ORDER BY updated_at DESC LIMIT ?)" for _ in TROUBLE)
    params: list[Any] = []
    for state in TROUBLE:
        params += [state.value, n]
    return conn.execute(f"SELECT * FROM ({parts}) ORDER BY updated_at DESC, seq DESC LIMIT ?",
                        (*params, n)).fetchall()


def changed_since(conn: sqlite3.Connection, seq: int) -> int:
    """The newest event's seq: other than `seq` (the one a page was drawn at) when the
    journal changed since. One look at the end of the events' rowid tree."""
    return conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]


def job_source(conn: sqlite3.Connection, job_id: str) -> sqlite3.Row | None:
    """A job (every column) with its file as the spool knows it: `spool_name` (empty for
    a reprint, which has no file), `claimed_at` (its archive folder's date), `file_state`
    and `destination` (where it was moved once finished)."""
    return conn.execute(
        "SELECT j.*, s.spool_name, s.claimed_at, s.state AS file_state, s.destination"
        " FROM jobs j JOIN sources s ON s.id = j.source_id WHERE j.id = ?",
        (job_id,)).fetchone()


def last_submit(conn: sqlite3.Connection, job_id: str) -> sqlite3.Row | None:
    """The job's latest `job.submitted` event (its payload has the stock and the offset
    the page was drawn with)."""
    return conn.execute("SELECT seq, at, payload FROM events WHERE job_id = ?"
                        " AND type = 'job.submitted' ORDER BY seq DESC LIMIT 1",
                        (job_id,)).fetchone()
