"""The outbox: journal events head office has not acknowledged (SPEC §11).

An event is synced when head office's `acked_through` covers its seq. What the station
believes head office holds is kept in `meta` as `sync.acked_through`; when head office
answers with less (it restored a backup), the events above its answer become unsynced
again and are sent once more. Head office dedupes by station and seq, so sending twice
is harmless; losing one is not.

Head office's word is trusted only as far as it can be true: it cannot hold an event this
station never sent. The highest seq ever put in a request is kept in `meta` as
`sync.sent_through`, written before the request goes out, and an `acked_through` above it
is refused (`NeverSent`) without marking anything: a lying or broken head office, or a
man in the middle, cannot make the station believe unsent events are safe.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from printstation.base.json_fast import Raw

from .journal import Journal

ACKED_KEY = "sync.acked_through"
SENT_KEY = "sync.sent_through"


class NeverSent(Exception):
    """Head office acknowledged events this station never sent; nothing was marked."""

    def __init__(self, acked: int, sent: int):
        super().__init__(f"head office answered acked_through {acked}, but this station "
                         f"has sent events only up to seq {sent}")
        self.acked, self.sent = acked, sent


def wire_event(row: sqlite3.Row) -> dict[str, Any]:
    """One event as head office receives it: the hashed body plus its two hashes."""
    return {"seq": row["seq"], "id": row["id"], "at": row["at"], "station": row["station"],
            "type": row["type"], "job_id": row["job_id"], "invoice_key": row["invoice_key"],
            "payload": json.loads(row["payload"]), "prev_hash": row["prev_hash"],
            "hash": row["hash"]}


def acked_through(conn: sqlite3.Connection) -> int:
    return _meta_int(conn, ACKED_KEY)


def sent_through(conn: sqlite3.Connection) -> int:
    """The highest seq this station has put in a request to head office.

    Never below what head office acknowledged: a journal from before this mark was kept
    has sent at least that much.
    """
    return max(_meta_int(conn, SENT_KEY), acked_through(conn))


def record_sent(journal: Journal, last: int) -> None:
    """Before a request with events up to `last` goes out: raise the sent mark to it."""
    if last <= sent_through(journal.conn):
        return
    with journal.transaction() as c:
        _set_meta(c, SENT_KEY, max(last, sent_through(c)))


def _meta_int(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def _set_meta(conn: sqlite3.Connection, key: str, value: int) -> None:
    conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                 " value = excluded.value", (key, str(value)))


# The columns of an event on the wire, in `wire_event`'s order.
WIRE_COLUMNS = ("seq", "id", "at", "station", "type", "job_id", "invoice_key", "payload",
                "prev_hash", "hash")
_PENDING_SQL = (f"SELECT {', '.join(WIRE_COLUMNS)} FROM events WHERE seq > ?"
                " ORDER BY seq LIMIT ?")


def pending(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """The next events to send, in seq order, starting after what head office holds.

    Each payload is the stored JSON text wrapped in `Raw`, so that it goes into the
    request as it is: decoding 100,000 payloads only to encode them again was a sixth of
    the station's time on a backlog. The stored text is canonical JSON, the very text the
    event's hash covers. Plain tuples (not `sqlite3.Row`) for the same reason.
    """
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(_PENDING_SQL, (acked_through(conn), limit)).fetchall()
    return [{"seq": seq, "id": id_, "at": at, "station": station, "type": type_,
             "job_id": job_id, "invoice_key": invoice_key, "payload": Raw(payload),
             "prev_hash": prev_hash, "hash": hash_}
            for seq, id_, at, station, type_, job_id, invoice_key, payload, prev_hash, hash_
            in rows]


def next_last(conn: sqlite3.Connection, after: int, limit: int) -> int | None:
    """The last seq of the batch of `limit` events that follows `after` (None: none)."""
    (last,) = conn.execute("SELECT max(seq) FROM (SELECT seq FROM events WHERE seq > ?"
                           " ORDER BY seq LIMIT ?)", (after, limit)).fetchone()
    return last


def acknowledge(journal: Journal, acked: int,
                sending_through: int | None = None) -> tuple[int, int]:
    """Record head office's `acked_through`; returns (newly synced, made unsynced again).

    `sending_through` is the last seq of the request that follows at once: its sent mark
    is raised in the same commit, which saves one fsync per request while a backlog
    drains (the request still goes out only after this commit, as `record_sent` has it).

    Events up to `acked` are marked synced. Any above it that were marked synced are
    cleared: head office no longer holds them, so they go out again. An `acked` above
    what this station ever sent raises `NeverSent` and changes nothing: it is either a
    lie or a sign that this journal is not the one head office knows (replaced, or
    restored from an older copy), and either way an operator must look.
    """
    now = journal.now()
    with journal.transaction() as c:
        sent = sent_through(c)
        if acked > sent:
            raise NeverSent(acked, sent)
        believed = acked_through(c)
        synced = c.execute("UPDATE events SET synced_at = ? WHERE synced_at IS NULL"
                           " AND seq <= ?", (now, acked)).rowcount
        resent = 0
        if acked < believed:
            # Only this function marks events synced, always up to the mark it writes
            # beside them, so no synced event lies above the believed mark: the events to
            # send again are those between the two. Looking for them above `acked` with
            # no upper bound read every unsent row on each post (2 of the 5 s of a
            # 100,000-event backlog).
            resent = c.execute("UPDATE events SET synced_at = NULL WHERE synced_at IS NOT"
                               " NULL AND seq > ? AND seq <= ?", (acked, believed)).rowcount
        _set_meta(c, ACKED_KEY, acked)
        if sending_through is not None and sending_through > sent:
            _set_meta(c, SENT_KEY, sending_through)
    return synced, resent


@dataclass(frozen=True)
class Backlog:
    events: int
    oldest_at: str | None


def backlog(conn: sqlite3.Connection) -> Backlog:
    # The oldest unsent event is the first by seq (events are sent in seq order): found
    # by the primary key at once, where min(at) read every unsent row (26 ms of a status
    # at 100,000 events with sync off, the web console's overview on every poll).
    (count,) = conn.execute("SELECT count(*) FROM events WHERE synced_at IS NULL").fetchone()
    first = conn.execute("SELECT at FROM events WHERE synced_at IS NULL ORDER BY seq"
                         " LIMIT 1").fetchone()
    return Backlog(count, first[0] if first else None)


@dataclass(frozen=True)
class Unacknowledged:
    """Printed invoices head office does not hold yet: the offline budget's use."""

    printed: int
    oldest_at: str | None
    total: Decimal


def unacknowledged_printed(conn: sqlite3.Connection) -> Unacknowledged:
    rows = conn.execute("SELECT at, payload FROM events WHERE synced_at IS NULL"
                        " AND type = 'job.printed' ORDER BY seq").fetchall()
    total = sum((_total(json.loads(r["payload"])) for r in rows), Decimal("0"))
    return Unacknowledged(len(rows), rows[0]["at"] if rows else None, total)


def in_flight_total(conn: sqlite3.Connection) -> Decimal:
    """The totals of the jobs handed to a printer and not yet known printed (`submitted`):
    whatever the printer does with them, they may come out before head office hears of
    the next, so the offline amount budget counts them too."""
    rows = conn.execute("SELECT invoice_json FROM jobs WHERE state = 'submitted'"
                        " AND invoice_json IS NOT NULL").fetchall()
    return sum((_total(json.loads(r[0])) for r in rows), Decimal("0"))


def printed_after(conn: sqlite3.Connection, seq: int) -> list[dict[str, Any]]:
    """Printed invoices whose `job.printed` event is above `seq` (for reconcile)."""
    rows = conn.execute("SELECT seq, at, job_id, invoice_key, payload FROM events"
                        " WHERE type = 'job.printed' AND seq > ? ORDER BY seq", (seq,))
    return [{"seq": r["seq"], "printed_at": r["at"], "job": r["job_id"],
             "invoice": r["invoice_key"], "total": str(_total(json.loads(r["payload"])))}
            for r in rows]


# How many unacknowledged printed invoices a report names one by one (SPEC §11): enough
# for head office to list what a branch printed and it lacks, bounded so that a long
# outage does not make every request large.
REPORT_INVOICES = 200


def report(conn: sqlite3.Connection, limit: int = REPORT_INVOICES) -> dict[str, Any]:
    """What this station has not had acknowledged, for head office's dashboard.

    `last_seq` lets head office count the backlog against its own live acked_through, so
    a report sent before a batch was acknowledged does not overstate it afterwards.
    """
    first = conn.execute("SELECT at FROM events WHERE synced_at IS NULL ORDER BY seq"
                         " LIMIT 1").fetchone()
    (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
    found = unacknowledged_printed(conn)
    rows = conn.execute("SELECT at, invoice_key, payload FROM events WHERE synced_at IS NULL"
                        " AND type = 'job.printed' AND invoice_key IS NOT NULL ORDER BY seq"
                        " LIMIT ?", (limit,)).fetchall()
    invoices = []
    for row in rows:
        payload = json.loads(row["payload"])
        facts = payload.get("invoice") if isinstance(payload.get("invoice"), dict) else {}
        code, _, number = row["invoice_key"].rpartition("-")
        invoices.append({"invoice_key": row["invoice_key"],
                         "number": facts.get("number") or number,
                         "code": facts.get("code") or code or None,
                         "total": str(_total(payload)), "printed_at": row["at"]})
    return {"last_seq": last, "pending": max(0, last - acked_through(conn)),
            "oldest_at": first[0] if first else None, "printed": found.printed,
            "printed_total": str(found.total), "invoices": invoices}


def age_s(at: str | None, now: dt.datetime) -> float:
    """Seconds from a stored `...Z` time to `now` (0 when there is none)."""
    if at is None:
        return 0.0
    then = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    return max(0.0, (now - then).total_seconds())


def _total(payload: dict[str, Any]) -> Decimal:
    try:
        return Decimal(str(payload.get("total") or "0"))
    except InvalidOperation:
        return Decimal("0")
