"""Head office's tables, for SQLite and PostgreSQL, and the migrations that build them.

One list of migrations serves both databases: each step is written once with `{BIG}`
(the integer type of seqs and counters) and `{WITHOUT_ROWID}` left to the dialect, so the
two schemas cannot drift apart. The version reached is kept in `schema_version`; a
database is only ever moved forward.

Version 1 is the schema of the first receiver (`stations` with five columns, `events`),
so a head-office file written by it is a database at version 1 without the version table:
opening it runs version 2 and derives the invoices from the events it already holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DIALECTS: dict[str, dict[str, str]] = {
    "sqlite": {"BIG": "INTEGER", "WITHOUT_ROWID": "WITHOUT ROWID"},
    "postgresql": {"BIG": "BIGINT", "WITHOUT_ROWID": ""},
}

V1 = """
CREATE TABLE IF NOT EXISTS stations (
    station TEXT PRIMARY KEY,
    acked_through {BIG} NOT NULL,
    last_hash TEXT NOT NULL,
    duplicates {BIG} NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    station TEXT NOT NULL,
    seq {BIG} NOT NULL,
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
) {WITHOUT_ROWID};
"""

# What the dashboard shows of a station: when it was last heard from, and whether its
# chain is whole; the station's own report of what it has not had acknowledged.
V2 = """
ALTER TABLE stations ADD COLUMN first_contact TEXT;
ALTER TABLE stations ADD COLUMN last_contact TEXT;
ALTER TABLE stations ADD COLUMN last_event_at TEXT;
ALTER TABLE stations ADD COLUMN chain_status TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE stations ADD COLUMN chain_seq {BIG};
ALTER TABLE stations ADD COLUMN chain_error TEXT;
ALTER TABLE stations ADD COLUMN chain_error_at TEXT;
ALTER TABLE stations ADD COLUMN report TEXT;
ALTER TABLE stations ADD COLUMN report_at TEXT;
CREATE TABLE invoices (
    station TEXT NOT NULL,
    invoice_key TEXT NOT NULL,
    code TEXT,
    number TEXT,
    kind TEXT,
    date TEXT,
    buyer_name TEXT,
    buyer_tin TEXT,
    total TEXT,
    total_fen {BIG},
    printed_at TEXT,
    day TEXT,
    print_count INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'printed',
    voided_at TEXT,
    job_id TEXT,
    seq {BIG},
    PRIMARY KEY (station, invoice_key)
) {WITHOUT_ROWID};
CREATE INDEX invoices_number ON invoices (number);
CREATE INDEX invoices_day ON invoices (day);
CREATE INDEX invoices_station_day ON invoices (station, day);
"""


@dataclass(frozen=True)
class Migration:
    version: int
    ddl: str
    # Run after the DDL, in the same transaction, with the backend's connection: the
    # rows a new table must start with (version 2: invoices derived from held events).
    backfill: str | None = None


# The invoice search pages by (day, station, invoice_key), a missing day last
# (dashboard/board_queries.py): in that order from an index, not sorted per page.
V3 = """
CREATE INDEX invoices_search ON invoices ((COALESCE(day, '')), station, invoice_key);
"""

MIGRATIONS = (Migration(1, V1), Migration(2, V2, backfill="invoices"), Migration(3, V3))
LATEST = MIGRATIONS[-1].version


def statements(ddl: str, dialect: str) -> list[str]:
    """The DDL's statements in `dialect`, one string each."""
    text = ddl.format(**DIALECTS[dialect])
    return [s.strip() for s in text.split(";") if s.strip()]


def pending(version: int) -> list[Migration]:
    """The migrations a database at `version` still needs, in order."""
    return [m for m in MIGRATIONS if m.version > version]


def current_version(has_table: Callable[[str], bool],
                    fetch_version: Callable[[], Any]) -> int:
    """The schema version: from `schema_version`, or 1 for the first receiver's file
    (which has `stations` but no version table), or 0 for an empty database."""
    if has_table("schema_version"):
        found = fetch_version()
        return int(found) if found is not None else 0
    return 1 if has_table("stations") else 0
