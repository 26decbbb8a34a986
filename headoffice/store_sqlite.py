"""Head office on SQLite: one file, for one office or a few branches.

One writer at a time: a lock inside this process, and `BEGIN IMMEDIATE` with a busy
timeout between processes, so two receivers on one file take turns instead of failing.
Readers (the dashboard) each get their own read-only connection per thread; in WAL mode
they read the last committed state and never wait for the writer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from printstation.spool.journal import GENESIS

from . import derive
from . import store_schema as schema
from .store import (
    EVENT_COLUMNS,
    NEW_STATION,
    UPSERT_INVOICE,
    VOID_INVOICE,
    Accepted,
    Store,
    decide,
    event_row,
    invoice_rows,
    now_iso,
    report_text,
    resent_seqs,
    station_update,
)

BUSY_TIMEOUT_MS = 30_000
INSERT_EVENT = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(EVENT_COLUMNS))})")
UPSERT = UPSERT_INVOICE.format(marks=", ".join("?" * len(derive.COLUMNS)))
VOID = VOID_INVOICE.format(m="?")
NEW = NEW_STATION.format(m="?")


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


class SqliteStore(Store):
    backend = "sqlite"

    def __init__(self, path: Path):
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                    timeout=BUSY_TIMEOUT_MS / 1000)
        self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        # The writer's lock: one transaction at a time on the one write connection.
        self.lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._migrate()

    # -- schema ------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._write() as c:
            def has_table(name: str) -> bool:
                return c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                                 " AND name = ?", (name,)).fetchone() is not None

            version = schema.current_version(has_table, lambda: c.execute(
                "SELECT max(version) FROM schema_version").fetchone()[0])
            todo = schema.pending(version)
            if not todo:
                return
            c.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            for migration in todo:
                for statement in schema.statements(migration.ddl, "sqlite"):
                    c.execute(statement)
                if migration.backfill == "invoices":
                    self._backfill_invoices(c)
                c.execute("INSERT INTO schema_version (version) VALUES (?)",
                          (migration.version,))

    def _backfill_invoices(self, c: sqlite3.Connection) -> None:
        """Invoices of the events a first-receiver file holds, station by station."""
        stations = [r[0] for r in c.execute("SELECT station FROM stations")]
        for station in stations:
            events = [{"seq": r[0], "at": r[1], "type": r[2], "job_id": r[3],
                       "invoice_key": r[4], "payload": json.loads(r[5])}
                      for r in c.execute(
                          "SELECT seq, at, type, job_id, invoice_key, payload FROM events"
                          " WHERE station = ? AND invoice_key IS NOT NULL AND type IN"
                          " ('job.printed', 'invoice.voided') ORDER BY seq", (station,))]
            self._write_invoices(c, station, events)
        c.execute("UPDATE stations SET first_contact = updated_at,"
                  " last_contact = updated_at WHERE last_contact IS NULL")
        c.execute("UPDATE stations SET last_event_at = (SELECT max(at) FROM events e"
                  " WHERE e.station = stations.station)")

    # -- writing -----------------------------------------------------------------------

    class _Tx:
        def __init__(self, store: SqliteStore):
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store.lock.acquire()
            try:
                self.store.conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.store.lock.release()
                raise
            return self.store.conn

        def __exit__(self, kind: Any, *_: Any) -> None:
            try:
                self.store.conn.execute("COMMIT" if kind is None else "ROLLBACK")
            finally:
                self.store.lock.release()

    def _write(self) -> SqliteStore._Tx:
        return self._Tx(self)

    def _write_invoices(self, c: sqlite3.Connection, station: str,
                        events: list[dict[str, Any]]) -> None:
        upserts, voids = invoice_rows(station, events)
        if upserts:
            c.executemany(UPSERT, upserts)
        if voids:
            c.executemany(VOID, voids)

    def accept(self, station: str, events: list[dict[str, Any]],
               report: dict[str, Any] | None = None) -> Accepted:
        now = now_iso()
        report_json = report_text(report)
        with self._write() as c:
            c.execute(NEW, (station, GENESIS, now, now, now))
            acked, last_hash = c.execute("SELECT acked_through, last_hash FROM stations"
                                         " WHERE station = ?", (station,)).fetchone()
            seqs = resent_seqs(acked, events)
            held: dict[int, str] = {}
            if seqs:
                held = dict(c.execute(
                    "SELECT seq, hash FROM events WHERE station = ? AND seq BETWEEN ? AND ?",
                    (station, seqs[0], seqs[-1])).fetchall())
            d = decide(acked, last_hash, events, held)
            if d.new:
                c.executemany(INSERT_EVENT, [event_row(station, e, now) for e in d.new])
                self._write_invoices(c, station, d.new)
            sets, values = station_update(d, now)
            if report_json is not None:
                sets += ", report = :report, report_at = :now"
                values["report"] = report_json
            values["station"] = station
            c.execute(f"UPDATE stations SET {sets} WHERE station = :station", values)
        return d.accepted()

    def _station_write(self, station: str, now: str, sql: str, params: Sequence[Any]
                       ) -> None:
        with self._write() as c:
            c.execute(NEW, (station, GENESIS, now, now, now))
            c.execute(sql, params)

    # -- reading -----------------------------------------------------------------------

    def _open_reader(self) -> sqlite3.Connection:
        # Read-only by the file's own open mode (quoted: a path may hold `?` or `#`).
        uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                               check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = _dict_row
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open_reader()
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._reader().execute(sql, tuple(params)).fetchall()

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 1000
               ) -> Iterator[dict[str, Any]]:
        # Its own connection: a half-read export must not hold the thread's reader.
        conn = self._open_reader()
        try:
            cursor = conn.execute(sql, tuple(params))
            while rows := cursor.fetchmany(size):
                yield from rows
        finally:
            conn.close()

    def close(self) -> None:
        with self.lock:
            self.conn.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
