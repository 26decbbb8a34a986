"""Head office's storage: one interface, two databases (SQLite embedded, PostgreSQL).

All of head office's SQL lives in this package (SPEC §2). The HTTP side checks a batch's
shape and hashes and hands it to `Store.accept`, which decides in one transaction, with
the station's row locked, what is stored. The decision itself is `decide`, written once
for both databases: they differ only in how they lock, read and write.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from printstation.spool.journal import GENESIS, iso, utc_now

from . import derive, fast_json

EVENT_COLUMNS = ("station", "seq", "id", "at", "type", "job_id", "invoice_key", "payload",
                 "prev_hash", "hash", "received_at")
# The invoice upsert, portable (SQLite >= 3.24 and PostgreSQL): a reprint raises the
# count and keeps the first print's time; the newest facts win where they are known.
UPSERT_INVOICE = (
    "INSERT INTO invoices (station, invoice_key, code, number, kind, date, buyer_name,"
    " buyer_tin, total, total_fen, printed_at, day, print_count, state, voided_at, job_id,"
    " seq) VALUES ({marks}) ON CONFLICT (station, invoice_key) DO UPDATE SET "
    + ", ".join(f"{name} = COALESCE(excluded.{name}, invoices.{name})"
                for name in derive.FIELDS)
    + ", total = COALESCE(excluded.total, invoices.total),"
    " total_fen = CASE WHEN excluded.total IS NULL THEN invoices.total_fen"
    " ELSE excluded.total_fen END,"
    " printed_at = COALESCE(invoices.printed_at, excluded.printed_at),"
    " day = COALESCE(invoices.day, excluded.day),"
    " print_count = invoices.print_count + excluded.print_count,"
    " state = excluded.state, voided_at = excluded.voided_at,"
    " job_id = excluded.job_id, seq = excluded.seq")
VOID_INVOICE = ("UPDATE invoices SET state = 'voided', voided_at = {m}"
                " WHERE station = {m} AND invoice_key = {m}")
# A station row, made on first contact; the update after a batch only changes it.
NEW_STATION = ("INSERT INTO stations (station, acked_through, last_hash, duplicates,"
               " first_contact, last_contact, chain_status, updated_at)"
               " VALUES ({m}, 0, {m}, 0, {m}, {m}, 'ok', {m})"
               " ON CONFLICT (station) DO NOTHING")


class Unstorable(ValueError):
    """A text field the database cannot hold as it is (a NUL character, or text that is
    not valid UTF-8): refused for every backend alike, so both store the same data."""


@dataclass(frozen=True)
class Accepted:
    acked_through: int
    stored: int
    duplicates: int
    conflict: int | None = None
    gap_at: int | None = None


@dataclass
class Decision:
    """What a batch does to a station, decided over its locked row."""

    acked_through: int
    last_hash: str
    new: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    conflict: int | None = None
    gap_at: int | None = None

    def accepted(self) -> Accepted:
        return Accepted(self.acked_through, len(self.new), self.duplicates, self.conflict,
                        self.gap_at)


def resent_seqs(acked_through: int, events: list[dict[str, Any]]) -> list[int]:
    """The seqs of `events` head office already holds: their hashes must be looked up."""
    return [e["seq"] for e in events if e["seq"] <= acked_through]


def decide(acked_through: int, last_hash: str, events: list[dict[str, Any]],
           held: dict[int, str]) -> Decision:
    """Duplicate, conflict, gap or new, for each event in order (`held`: seq -> hash of
    the resent seqs). A conflict or a gap stops the batch there: nothing after it is
    stored, so the events held stay gap-free and linked."""
    d = Decision(acked_through, last_hash)
    for event in events:
        seq = event["seq"]
        if seq <= d.acked_through:
            if held.get(seq) != event["hash"]:
                d.conflict = seq
                break
            d.duplicates += 1
            continue
        if seq > d.acked_through + 1:
            d.gap_at = d.acked_through + 1
            break
        if event["prev_hash"] != d.last_hash:
            d.conflict = seq
            break
        d.new.append(event)
        d.acked_through, d.last_hash = seq, event["hash"]
    return d


def _check_text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse a row with text neither backend can store. Checked on the row's text joined
    once: two C calls per event rather than two Python calls per field."""
    text = "".join(v for v in row if type(v) is str)
    if "\x00" in text:
        raise Unstorable("text with a NUL character cannot be stored")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unstorable("text that is not valid UTF-8 cannot be stored") from None
    return row


def event_row(station: str, event: dict[str, Any], received_at: str) -> tuple[Any, ...]:
    """An `events` row, in `EVENT_COLUMNS` order."""
    return _check_text((
        station, event["seq"], event["id"], event["at"], event["type"], event["job_id"],
        event["invoice_key"], fast_json.dumps(event["payload"]),
        event["prev_hash"], event["hash"], received_at))


def invoice_rows(station: str, events: list[dict[str, Any]]
                 ) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, str]]]:
    """The upserts (rows for `UPSERT_INVOICE`) and the voids of invoices held from an
    earlier batch (`voided_at, station, invoice_key`) that stored `events` derive."""
    upserts, voids = [], []
    for change in derive.fold(station, events):
        if change.prints:
            upserts.append(_check_text(tuple(change.row())))
        else:
            voids.append((change.voided_at, station, change.invoice_key))
    return upserts, voids


def report_text(report: dict[str, Any] | None) -> str | None:
    return None if report is None else _check_text((json.dumps(report, ensure_ascii=False),))[0]


def station_update(d: Decision, now: str) -> tuple[str, dict[str, Any]]:
    """The `stations` UPDATE after a batch (named `:params`, the backend's placeholders
    put in by the caller) and its values."""
    sets = ["acked_through = :acked", "last_hash = :last_hash",
            "duplicates = duplicates + :dups", "last_contact = :now", "updated_at = :now"]
    values: dict[str, Any] = {"acked": d.acked_through, "last_hash": d.last_hash,
                              "dups": d.duplicates, "now": now}
    if d.new:
        sets.append("last_event_at = :last_at")
        values["last_at"] = d.new[-1]["at"]
    if d.conflict is not None:
        sets += ["chain_status = 'conflict'", "chain_seq = :seq", "chain_error = :error",
                 "chain_error_at = :now"]
        values.update(seq=d.conflict, error=f"seq {d.conflict} differs from the event held"
                      " or does not link to the one before it")
    elif d.new:
        # The chain goes on from where head office holds it: whatever was wrong before
        # (a conflict, a bad hash) is behind it. chain_error_at keeps when it was.
        sets += ["chain_status = 'ok'", "chain_seq = NULL", "chain_error = NULL"]
    return ", ".join(sets), values


def now_iso() -> str:
    return iso(utc_now())


class Store(ABC):
    """Head office's database. Thread-safe: called from many threads at once."""

    backend: str

    def station(self, station: str) -> tuple[int, str]:
        """(acked_through, last_hash); (0, GENESIS) for a station never heard from."""
        rows = self.read("SELECT acked_through, last_hash FROM stations WHERE station = ?",
                         (station,))
        return (rows[0]["acked_through"], rows[0]["last_hash"]) if rows else (0, GENESIS)

    @abstractmethod
    def accept(self, station: str, events: list[dict[str, Any]],
               report: dict[str, Any] | None = None) -> Accepted:
        """Store a checked batch (consecutive seqs, own hashes verified) in one
        transaction with the station's row locked; `report` (the outbox report) is
        stored even when the batch conflicts."""

    def touch(self, station: str, report: dict[str, Any] | None = None) -> None:
        """The station was heard from (a GET, or a post refused before `accept`)."""
        now = now_iso()
        report_json = report_text(report)
        if report_json is None:
            change = ("UPDATE stations SET last_contact = ? WHERE station = ?", (now, station))
        else:
            change = ("UPDATE stations SET last_contact = ?, report = ?, report_at = ?"
                      " WHERE station = ?", (now, report_json, now, station))
        self._station_write(station, now, *change)

    def record_refusal(self, station: str, kind: str, seq: int | None, message: str) -> None:
        """A post refused for its chain: `kind` 'bad_hash' (422) or 'conflict'."""
        check_refusal(kind)
        now = now_iso()
        self._station_write(
            station, now, "UPDATE stations SET chain_status = ?, chain_seq = ?,"
            " chain_error = ?, chain_error_at = ?, last_contact = ? WHERE station = ?",
            (kind, seq, message, now, now, station))

    @abstractmethod
    def _station_write(self, station: str, now: str, sql: str, params: Sequence[Any]
                       ) -> None:
        """In one write transaction: the station's row made if new, then `sql` (with `?`
        placeholders) run on it."""

    @abstractmethod
    def read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query with `?` placeholders; never waits for writers."""

    @abstractmethod
    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 1000
               ) -> Iterator[dict[str, Any]]:
        """Rows of a read-only query, fetched `size` at a time (CSV export)."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection."""


REFUSALS = ("bad_hash", "conflict")


def check_refusal(kind: str) -> None:
    if kind not in REFUSALS:
        raise ValueError(f"refusal kind must be one of {REFUSALS}, not {kind!r}")


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def open_store(db: str | Path, *, pool_size: int = 8) -> Store:
    """A path opens (or creates) a SQLite file; `postgresql://…` (or `postgres://…`) a
    PostgreSQL database. Either is migrated to the current schema first."""
    text = str(db)
    if is_postgres(text):
        from .store_postgres import PostgresStore

        return PostgresStore(text, pool_size=pool_size)
    from .store_sqlite import SqliteStore

    return SqliteStore(Path(text))


__all__ = ["GENESIS", "Accepted", "Store", "Unstorable", "open_store"]
