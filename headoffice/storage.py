"""The receiver's storage: per station, the events it holds, gap-free from seq 1.

All of head office's SQL lives here (SPEC §2): the HTTP side asks for a station's state
and hands over a checked batch; this module decides, in one transaction, what is stored.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from printstation.spool.journal import GENESIS, iso, utc_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS stations (
    station TEXT PRIMARY KEY,
    acked_through INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    duplicates INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    station TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    at TEXT NOT NULL,
    type TEXT NOT NULL,
    job_id TEXT,
    invoice_key TEXT,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (station, seq)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Accepted:
    acked_through: int
    stored: int
    duplicates: int
    conflict: int | None = None
    gap_at: int | None = None


class Store:
    """The receiver's SQLite database; one connection, one writer at a time."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)
        self.lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    def station(self, station: str) -> tuple[int, str]:
        row = self.conn.execute("SELECT acked_through, last_hash FROM stations"
                                " WHERE station = ?", (station,)).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def accept(self, station: str, events: list[dict[str, Any]]) -> Accepted:
        with self.lock:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            try:
                result = self._accept(station, events)
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
        return result

    def _accept(self, station: str, events: list[dict[str, Any]]) -> Accepted:
        c = self.conn
        acked, last_hash = self.station(station)
        stored = duplicates = 0
        conflict = gap_at = None
        now = iso(utc_now())
        rows = []
        for event in events:
            seq = event["seq"]
            if seq <= acked:
                held = c.execute("SELECT hash FROM events WHERE station = ? AND seq = ?",
                                 (station, seq)).fetchone()
                if held is None or held[0] != event["hash"]:
                    conflict = seq
                    break
                duplicates += 1
                continue
            if seq > acked + 1:
                gap_at = acked + 1
                break
            if event["prev_hash"] != last_hash:
                conflict = seq
                break
            rows.append((station, seq, event["id"], event["at"], event["type"],
                         event["job_id"], event["invoice_key"],
                         json.dumps(event["payload"], ensure_ascii=False), event["prev_hash"],
                         event["hash"], now))
            acked, last_hash, stored = seq, event["hash"], stored + 1
        c.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        c.execute("INSERT INTO stations VALUES (?,?,?,?,?) ON CONFLICT(station) DO UPDATE SET"
                  " acked_through = excluded.acked_through, last_hash = excluded.last_hash,"
                  " duplicates = duplicates + ?, updated_at = excluded.updated_at",
                  (station, acked, last_hash, duplicates, now, duplicates))
        return Accepted(acked, stored, duplicates, conflict, gap_at)
