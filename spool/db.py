"""Opening the journal database, and its versioned forward migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from printstation.base.errors import ConfigInvalid

# Each entry migrates from version N-1 to N (N is its position + 1). Append only.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE sources (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        raw_name BLOB,
        spool_name TEXT NOT NULL,
        sha256 TEXT,
        size INTEGER,
        state TEXT NOT NULL,
        destination TEXT,
        claimed_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE INDEX sources_state ON sources(state);
    CREATE INDEX sources_sha256 ON sources(sha256);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        source_id TEXT NOT NULL REFERENCES sources(id),
        source_name TEXT NOT NULL,
        source_sha256 TEXT,
        source_seq INTEGER NOT NULL,
        batch_index INTEGER NOT NULL DEFAULT 0,
        kind TEXT,
        invoice_key TEXT,
        invoice_json TEXT,
        state TEXT NOT NULL,
        reason TEXT,
        errors TEXT,
        printer TEXT,
        cups_job_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX jobs_source ON jobs(source_id);
    CREATE INDEX jobs_arrival ON jobs(state, source_seq, batch_index);
    CREATE INDEX jobs_printer_arrival ON jobs(printer, state, source_seq, batch_index);
    CREATE INDEX jobs_invoice ON jobs(invoice_key);
    CREATE TABLE invoices (
        key TEXT PRIMARY KEY,
        code TEXT,
        number TEXT NOT NULL,
        kind TEXT NOT NULL,
        date TEXT NOT NULL,
        buyer_name TEXT,
        buyer_tin TEXT,
        total_amount TEXT NOT NULL,
        total_tax TEXT NOT NULL,
        total TEXT NOT NULL,
        state TEXT NOT NULL,
        printed_at TEXT,
        print_count INTEGER NOT NULL DEFAULT 0,
        paper_code TEXT,
        paper_number TEXT,
        job_id TEXT
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        at TEXT NOT NULL,
        station TEXT NOT NULL,
        type TEXT NOT NULL,
        job_id TEXT,
        invoice_key TEXT,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        synced_at TEXT
    );
    CREATE INDEX events_job ON events(job_id);
    CREATE INDEX events_invoice ON events(invoice_key);
    """,
    # 2: the paper ledger (SPEC §9), reprints, and the sheet each job holds.
    """
    ALTER TABLE jobs ADD COLUMN reprint_of TEXT;
    ALTER TABLE jobs ADD COLUMN paper_code TEXT;
    ALTER TABLE jobs ADD COLUMN paper_number TEXT;
    CREATE TABLE paper_ranges (
        id INTEGER PRIMARY KEY,
        printer TEXT NOT NULL,
        stock TEXT NOT NULL,
        code TEXT NOT NULL DEFAULT '',
        first TEXT NOT NULL,
        last TEXT NOT NULL,
        loaded_at TEXT NOT NULL,
        loaded_by TEXT
    );
    CREATE TABLE sheets (
        id INTEGER PRIMARY KEY,
        range_id INTEGER NOT NULL REFERENCES paper_ranges(id),
        printer TEXT NOT NULL,
        stock TEXT NOT NULL,
        code TEXT NOT NULL DEFAULT '',
        number TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'loaded',
        job_id TEXT,
        invoice_key TEXT,
        reason TEXT,
        updated_at TEXT,
        UNIQUE (stock, code, number)
    );
    CREATE INDEX sheets_next ON sheets(printer, stock, state, id);
    CREATE INDEX sheets_invoice ON sheets(invoice_key);
    """,
    # 3: the sync outbox (SPEC §11). Unsynced events are few next to the whole journal;
    # a partial index keeps finding them cheap however long the journal grows.
    """
    CREATE INDEX events_unsynced ON events(seq) WHERE synced_at IS NULL;
    CREATE INDEX events_unsynced_type ON events(type, seq) WHERE synced_at IS NULL;
    """,
    # 4: the web console's views (spool/console_queries.py), each a short walk down an
    # index however long the journal grows. An index on (state) is kept in rowid order
    # within a state, which is what "newest first" needs; the text searches read small
    # covering indexes instead of the jobs' rows, which carry the invoice's JSON.
    """
    CREATE INDEX jobs_state_new ON jobs(state);
    CREATE INDEX jobs_printer_new ON jobs(printer);
    CREATE INDEX jobs_printer_state_new ON jobs(printer, state);
    CREATE INDEX jobs_state_updated ON jobs(state, updated_at);
    CREATE INDEX jobs_text ON jobs(invoice_key, source_name);
    CREATE INDEX invoices_search ON invoices(printed_at, key, buyer_name, buyer_tin);
    CREATE INDEX sheets_range ON sheets(range_id, state, job_id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(ConfigInvalid):
    """The database was written by a newer printstation."""


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit: BEGIN IMMEDIATE).

    WAL with synchronous=FULL: a commit is on disk before the next step acts on it (NORMAL
    may lose the last commits on power loss). `synchronous` is per connection, so it is set
    on every one.
    """
    if readonly:
        conn = _read_only(path)
    else:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # 512 KiB of page cache per connection instead of 2 MiB: the daemon holds one per
    # stage, and the OS caches the file anyway; a larger cache only grew the daemon's
    # memory with the journal.
    conn.execute("PRAGMA cache_size=-512")
    conn.row_factory = sqlite3.Row
    return conn


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection, also for a clerk, who may read the journal but not write
    beside it. While the daemon runs, its WAL files exist and a read-only reader uses
    them; with no daemon, SQLite would have to create them, which the clerk may not. A
    journal with no WAL file holds every commit in the main file and has no writer in
    WAL mode, so it is then read as immutable.
    """
    uri = f"file:{path}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if Path(f"{path}-wal").exists():
            raise
    return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, timeout=10)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to `SCHEMA_VERSION`; returns the version found before."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(f"journal schema version {found} is newer than this "
                               f"printstation ({SCHEMA_VERSION})")
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
        return found
    except BaseException:
        conn.execute("ROLLBACK")
        raise
