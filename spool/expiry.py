"""What the journal says about files that retention may remove (daemon/retention.py).

A file may go once its source (the dropped file, or a reprint's row) is final, every
job of it is final, and all of that happened before the cutoff; with sync on, also only
once head office holds every event of its jobs, so that nothing is removed of which
head office has no record. A removal from the archive or the rejected folder is
journaled as `file.expired` (payload: `folder`, `paths`, `days`) before the file goes,
so a backup (spool/archive_index.py) knows the file is gone on purpose, and a crash
between the two leaves a file that the next pass removes without journaling it again.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from .journal import Journal
from .states import FINAL, SOURCE, SourceState, sql_in

EXPIRED = "file.expired"
_FINAL_SQL = sql_in(FINAL)
_DONE_SQL = sql_in(SOURCE.final)
# A source id as spool/files.py makes it: the claim date and ten Crockford base32
# characters; a batch's further jobs add `-N`. What a report names its jobs by.
SOURCE_ID = re.compile(r"(?<![0-9A-Z])(\d{6}[0-9A-HJKMNP-TV-Z]{10})(?:-\d+)?(?![0-9A-Z])")


def source_of_job(conn: sqlite3.Connection, job_id: str) -> str | None:
    row = conn.execute("SELECT source_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row[0] if row else None


def known_sources(conn: sqlite3.Connection, ids: set[str]) -> set[str]:
    """Those of `ids` the journal has as sources."""
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    return {r[0] for r in conn.execute(f"SELECT id FROM sources WHERE id IN ({marks})",
                                       sorted(ids))}


def finished_at(conn: sqlite3.Connection, source_id: str) -> str | None:
    """When the source and all its jobs were last final (UTC text); None while any of
    them is not final, or the journal does not know it."""
    row = conn.execute(
        "SELECT s.state, s.finished_at, s.claimed_at,"
        f" (SELECT count(*) FROM jobs j WHERE j.source_id = s.id AND j.state NOT IN"
        f" {_FINAL_SQL}) AS open_jobs,"
        " (SELECT max(j.updated_at) FROM jobs j WHERE j.source_id = s.id) AS last_job"
        f" FROM sources s WHERE s.id = ? AND s.state IN {_DONE_SQL}", (source_id,)).fetchone()
    if row is None or row["open_jobs"]:
        return None
    return max(t for t in (row["finished_at"], row["last_job"], row["claimed_at"]) if t)


def unsynced(conn: sqlite3.Connection, source_id: str) -> bool:
    """Whether head office lacks an event of this source's jobs (its own removal aside)."""
    return conn.execute(
        "SELECT 1 FROM events WHERE synced_at IS NULL AND type != ? AND (job_id = ?"
        " OR job_id IN (SELECT id FROM jobs WHERE source_id = ?)) LIMIT 1",
        (EXPIRED, source_id, source_id)).fetchone() is not None


def rejected_destinations(conn: sqlite3.Connection, before: str) -> dict[bytes, str]:
    """Where rejected files went (the filesystem's bytes) -> their source, for those
    finished before `before`."""
    return {bytes(r[0]): r[1] for r in conn.execute(
        "SELECT destination, id FROM sources WHERE state = ? AND destination IS NOT NULL"
        " AND finished_at < ?", (SourceState.REJECTED.value, before))}


def journaled(conn: sqlite3.Connection, source_id: str, folder: str) -> set[str]:
    """The paths of this source already journaled as expired from `folder`."""
    found: set[str] = set()
    for (payload,) in conn.execute("SELECT payload FROM events WHERE type = ? AND job_id = ?",
                                   (EXPIRED, source_id)):
        doc = json.loads(payload)
        if doc.get("folder") == folder:
            found.update(doc.get("paths", []))
    return found


def record(journal: Journal, source_id: str, folder: str, paths: list[str],
           days: int) -> None:
    """Journal that `paths` (of `folder`: "archive", relative to it; "rejected", names in
    the rejected folder) are being removed after `days` days."""
    payload: dict[str, Any] = {"folder": folder, "paths": paths, "days": days}
    with journal.transaction():
        journal.append_event(EXPIRED, source_id, None, payload)


def expired_archive(conn: sqlite3.Connection) -> dict[str, str]:
    """Archive paths (relative to `archive/`) journaled as removed -> when."""
    return {r[1]: r[0] for r in conn.execute(
        "SELECT e.at, p.value FROM events e, json_each(e.payload, '$.paths') p"
        " WHERE e.type = ? AND json_extract(e.payload, '$.folder') = 'archive'"
        " ORDER BY e.seq", (EXPIRED,))}
