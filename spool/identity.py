"""What makes a journal this station's journal: its id, and the end of its hash chain.

The daemon remembers both outside the journal (daemon/continuity.py), so that a journal
that was removed, emptied, replaced or rolled back is noticed before anything prints on
top of it.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from . import db
from .journal import GENESIS, event_hash
from .states import InvoiceState


@dataclass(frozen=True)
class Tail:
    journal_id: str
    seq: int       # last event's seq; 0 when there is none (seq starts at 1)
    hash: str      # last event's hash; "" when there is none


def tail(conn: sqlite3.Connection) -> Tail:
    """The journal's id and last event (read-only: an id is given by `ensure_id`)."""
    found = conn.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
    last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return Tail(found[0] if found else "", last[0] if last else 0, last[1] if last else "")


def ensure_id(conn: sqlite3.Connection) -> str:
    """Give the journal a random id once; a copy keeps it, a new journal gets another."""
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('journal_id', ?)", (secrets.token_hex(8),))
    return conn.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()[0]


def station_of(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'station'").fetchone()
    return row[0] if row else None


def hash_at(conn: sqlite3.Connection, seq: int) -> str | None:
    row = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
    return row[0] if row else None


def verify_chain(conn: sqlite3.Connection, after: int = 0, prev: str = GENESIS,
                 progress: Callable[[int], None] | None = None) -> tuple[int, str | None]:
    """Check `seq` is gap-free and every hash links after event `after` (whose hash is
    `prev`; from the start by default); (events checked, first problem). `progress` is
    told the count every 10,000 events (`journal --verify` on a terminal)."""
    expected, count = after + 1, 0
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row  # whatever the connection's own row factory
    for row in cursor.execute("SELECT * FROM events WHERE seq > ? ORDER BY seq", (after,)):
        if row["seq"] != expected:
            return count, f"seq {expected} is missing (next is {row['seq']})"
        body = {"seq": row["seq"], "id": row["id"], "at": row["at"], "station": row["station"],
                "type": row["type"], "job_id": row["job_id"], "invoice_key": row["invoice_key"],
                "payload": json.loads(row["payload"])}
        if row["prev_hash"] != prev or row["hash"] != event_hash(prev, body):
            return count, f"event seq {row['seq']} does not match its hash"
        prev, expected, count = row["hash"], expected + 1, count + 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
    return count, None



def schema_problems(conn: sqlite3.Connection) -> list[str]:
    """Objects in the journal that its schema version does not have: a trigger, a view or
    a table someone added (a trigger could quietly undo the duplicate check), or a table
    whose definition was changed. The reference is the shipped migrations, replayed up to
    the journal's own version in memory."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    reference = sqlite3.connect(":memory:")
    try:
        for migration in db.MIGRATIONS[:version]:
            for statement in migration.split(";"):
                if statement.strip():
                    reference.execute(statement)
        wanted = set(reference.execute("SELECT type, name, sql FROM sqlite_master"))
    finally:
        reference.close()
    found = {tuple(row) for row in conn.execute("SELECT type, name, sql FROM sqlite_master")}
    return [f"{kind} {name!r} is not part of the journal's schema"
            for kind, name, _ in sorted(found - wanted, key=lambda r: (r[0], r[1]))]


# What the hash-chained events prove must be in the tables: (what is missing, a query
# giving how many and the first one).
_DERIVED = (
    ("printed invoice(s) missing from its invoices table",
     "SELECT count(*), min(e.invoice_key) FROM events e WHERE e.type = 'job.printed'"
     " AND e.invoice_key IS NOT NULL"
     " AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.key = e.invoice_key)"),
    ("job(s) of its events missing from its jobs table",
     "SELECT count(*), min(e.job_id) FROM events e WHERE e.job_id IS NOT NULL"
     " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id)"
     " AND NOT EXISTS (SELECT 1 FROM sources s WHERE s.id = e.job_id)"),
    ("invoice(s) voided with no invoice.voided event",
     "SELECT count(*), min(i.key) FROM invoices i WHERE i.state = '"
     + InvoiceState.VOIDED.value + "' AND NOT EXISTS (SELECT 1 FROM events e"
     " WHERE e.type = 'invoice.voided' AND e.invoice_key = i.key)"),
)


def derived_problems(conn: sqlite3.Connection) -> list[str]:
    """Rows the events say exist but the tables lack: the tables that stop an invoice
    printing twice (invoices, jobs) must agree with the hash-chained events, which are
    the record nobody can edit unseen."""
    found = []
    for what, query in _DERIVED:
        count, first = conn.execute(query).fetchone()
        if count:
            found.append(f"{count} {what} (first: {first})")
    return found


__all__ = ["Tail", "derived_problems", "ensure_id", "hash_at", "schema_problems", "station_of",
           "tail", "verify_chain"]
