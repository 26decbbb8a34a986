"""Head office on PostgreSQL: hundreds of branches posting at once.

A batch is one transaction of a handful of round trips, never one per event: the
station's row is made if new and locked (`SELECT … FOR UPDATE`, so two posts of one
station queue behind each other while other stations go on), the hashes of the resent
seqs come in one query, the new events go in by COPY, the invoices they derive in one
pipelined upsert, and the station's row is updated. Posts of different stations lock
different rows and run side by side.

Readers have a pool of their own, so that the dashboard is never queued behind posts
waiting for a connection; under MVCC their queries never wait for a writer either.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from printstation.base import logs
from printstation.base.errors import Unavailable
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

COPY_EVENTS = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
UPSERT = UPSERT_INVOICE.format(marks=", ".join(["%s"] * len(derive.COLUMNS)))
VOID = VOID_INVOICE.format(m="%s")
# A batch's invoices on their way in; made once per write connection, emptied at commit.
# (`WHERE true`: without it PostgreSQL could read ON CONFLICT as a join's ON.)
INVOICE_BATCH_TABLE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS invoice_batch (station TEXT, invoice_key TEXT,"
    " code TEXT, number TEXT, kind TEXT, date TEXT, buyer_name TEXT, buyer_tin TEXT,"
    " total TEXT, total_fen BIGINT, printed_at TEXT, day TEXT, print_count INTEGER,"
    " state TEXT, voided_at TEXT, job_id TEXT, seq BIGINT) ON COMMIT DELETE ROWS")
COPY_INVOICE_BATCH = "COPY invoice_batch FROM STDIN"
UPSERT_FROM_BATCH = UPSERT_INVOICE.format(marks="").replace(
    "VALUES ()", "SELECT * FROM invoice_batch WHERE true")
NEW = NEW_STATION.format(m="%s")
# The station's row made if new and locked, with what it holds, in one round trip: an
# upsert that changes nothing still locks the row it meets, as SELECT … FOR UPDATE would.
LOCK_STATION = (NEW.replace("DO NOTHING", "DO UPDATE SET station = excluded.station")
                + " RETURNING acked_through, last_hash")
# Two receivers starting on one empty database must not both create the tables.
MIGRATION_LOCK = 0x70726E74  # "prnt"
RETRIES = 5
# Transient failures of a transaction that is safe to run again from the start.
RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)
T = TypeVar("T")


def portable(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


def named(sql: str) -> str:
    """`:name` placeholders as psycopg's `%(name)s`."""
    return re.sub(r":([a-z_]+)", r"%(\1)s", sql)


def _writer(conn: psycopg.Connection) -> None:
    conn.execute(INVOICE_BATCH_TABLE)
    conn.commit()


def _read_only(conn: psycopg.Connection) -> None:
    # For the session, not per transaction: a read runs in autocommit, where psycopg's
    # own `read_only` (sent with BEGIN) would never apply.
    conn.autocommit = True
    conn.execute("SET default_transaction_read_only = on")


class PostgresStore(Store):
    backend = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 8):
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        self.url = url
        # One plain connection first: the pool would retry a database that is not there
        # (or a refused login) in the background for ever, and the receiver never start.
        try:
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise Unavailable(f"--db: cannot connect to PostgreSQL: "
                              f"{str(exc).strip().splitlines()[0]}") from None
        # Every connection opened at start: a burst of posts then finds them ready
        # rather than waiting for the pool to grow.
        self.pool = ConnectionPool(url, min_size=max(1, pool_size), max_size=max(1, pool_size),
                                   open=True, configure=_writer, name="headoffice-write")
        self.readers = ConnectionPool(url, min_size=1, max_size=max(2, pool_size // 2),
                                      open=True, configure=_read_only,
                                      name="headoffice-read")
        self.pool.wait(timeout=30)
        self._migrate()

    # -- schema ------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

            def has_table(name: str) -> bool:
                return conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                    (name,)).fetchone()[0]

            version = schema.current_version(has_table, lambda: conn.execute(
                "SELECT max(version) FROM schema_version").fetchone()[0])
            todo = schema.pending(version)
            if not todo:
                return
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version"
                         " (version INTEGER NOT NULL)")
            for migration in todo:
                for statement in schema.statements(migration.ddl, "postgresql"):
                    conn.execute(statement)
                if migration.backfill == "invoices":
                    self._backfill_invoices(conn)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)",
                             (migration.version,))
            logs.info("headoffice.migrated", backend=self.backend, to=schema.LATEST)

    def _backfill_invoices(self, conn: psycopg.Connection) -> None:
        stations = [r[0] for r in conn.execute("SELECT station FROM stations")]
        for station in stations:
            events = [{"seq": r[0], "at": r[1], "type": r[2], "job_id": r[3],
                       "invoice_key": r[4], "payload": json.loads(r[5])}
                      for r in conn.execute(
                          "SELECT seq, at, type, job_id, invoice_key, payload FROM events"
                          " WHERE station = %s AND invoice_key IS NOT NULL AND type IN"
                          " ('job.printed', 'invoice.voided') ORDER BY seq", (station,))]
            self._write_invoices(conn.cursor(), station, events)

    # -- writing -----------------------------------------------------------------------

    def _retrying(self, work: Callable[[psycopg.Connection], T]) -> T:
        for attempt in range(RETRIES):
            try:
                with self.pool.connection() as conn, conn.transaction():
                    return work(conn)
            except RETRYABLE as exc:
                if attempt == RETRIES - 1:
                    raise
                logs.warning("headoffice.retry", error=type(exc).__name__,
                             attempt=attempt + 1)
                time.sleep(0.01 * 2 ** attempt)
        raise AssertionError("unreachable")

    @staticmethod
    def _write_invoices(cur: psycopg.Cursor, station: str,
                        events: list[dict[str, Any]]) -> None:
        upserts, voids = invoice_rows(station, events)
        if upserts:
            # COPY into a temporary table, then one upsert from it: measured against
            # executemany (25,000 events/s when every event is a printed invoice) and
            # one INSERT of many VALUES rows (7,000).
            with cur.copy(COPY_INVOICE_BATCH) as copy:
                for row in upserts:
                    copy.write_row(row)
            cur.execute(UPSERT_FROM_BATCH)
        if voids:
            cur.executemany(VOID, voids)

    def accept(self, station: str, events: list[dict[str, Any]],
               report: dict[str, Any] | None = None) -> Accepted:
        report_json = report_text(report)

        def work(conn: psycopg.Connection) -> Accepted:
            now = now_iso()
            cur = conn.cursor()
            acked, last_hash = cur.execute(
                LOCK_STATION, (station, GENESIS, now, now, now)).fetchone()
            seqs = resent_seqs(acked, events)
            held: dict[int, str] = {}
            if seqs:
                held = dict(cur.execute("SELECT seq, hash FROM events WHERE station = %s"
                                        " AND seq = ANY(%s)", (station, seqs)).fetchall())
            d = decide(acked, last_hash, events, held)
            if d.new:
                rows = [event_row(station, e, now) for e in d.new]
                with cur.copy(COPY_EVENTS) as copy:
                    for row in rows:
                        copy.write_row(row)
                self._write_invoices(cur, station, d.new)
            sets, values = station_update(d, now)
            if report_json is not None:
                sets += ", report = :report, report_at = :now"
                values["report"] = report_json
            values["station"] = station
            cur.execute(named(f"UPDATE stations SET {sets} WHERE station = :station"),
                        values)
            return d.accepted()

        return self._retrying(work)

    def _station_write(self, station: str, now: str, sql: str, params: Sequence[Any]
                       ) -> None:
        def work(conn: psycopg.Connection) -> None:
            conn.execute(NEW, (station, GENESIS, now, now, now))
            conn.execute(portable(sql), params)

        self._retrying(work)

    # -- reading -----------------------------------------------------------------------

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.readers.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            return cur.execute(portable(sql), tuple(params)).fetchall()

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 1000
               ) -> Iterator[dict[str, Any]]:
        # A named (server-side) cursor lives in a transaction: the export reads one
        # snapshot, `size` rows at a time, however many invoices there are.
        with self.readers.connection() as conn:
            conn.autocommit = False
            try:
                with conn.transaction(), conn.cursor(name="headoffice_export",
                                                     row_factory=dict_row) as cur:
                    cur.itersize = size
                    cur.execute(portable(sql), tuple(params))
                    yield from cur
            finally:
                conn.autocommit = True

    def close(self) -> None:
        self.readers.close()
        self.pool.close()
