"""Read attempts of incoming files, so a file that takes the reader down is read last and
then quarantined (SPEC §7 `file.too_complex`).

A file whose reading the daemon did not survive (a SIGKILL, the systemd watchdog, the OOM
killer) would be read first again at every start, for ever. So each attempt to read a file
in the jail is counted in `jobs.attempts` and committed before reading starts: a crash
mid-read still counts. Files with an attempt behind them come after fresh ones, and one
that already stopped the reader `POISON_AFTER` times is refused without being read.

An incoming job's `attempts` counts reads. The print stage counts submissions in the same
column, so a job that goes on to print (queued or held) starts again at zero
(`read_done`); a rejected job keeps the count of reads it took.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from .states import State

if TYPE_CHECKING:
    from .journal import Journal

# A file that stopped the reader this many times is not read again.
POISON_AFTER = 2

_NEXT = ("SELECT j.*, s.spool_name, s.size FROM jobs j JOIN sources s ON s.id = j.source_id"
         " WHERE j.state = ?{} ORDER BY j.source_seq, j.batch_index LIMIT {}")


def next_incoming(conn: sqlite3.Connection) -> sqlite3.Row | None:
    """The next file to read: the oldest fresh one, else the oldest interrupted one.

    Two queries rather than one `ORDER BY attempts > 0, ...`: each walks the arrival index
    and stops at its first row, where a computed sort key would sort every incoming job on
    every call (a backlog of 10,000 files made that quadratic).
    """
    return conn.execute(_NEXT.format(" AND j.attempts = 0", 1),
                        (State.INCOMING.value,)).fetchone() or \
        conn.execute(_NEXT.format("", 1), (State.INCOMING.value,)).fetchone()


def next_incoming_batch(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """Up to `limit` fresh files in arrival order; with none, the oldest interrupted one
    (such a file is read on its own: see daemon/stage_read.py)."""
    fresh = conn.execute(_NEXT.format(" AND j.attempts = 0", int(limit)),
                         (State.INCOMING.value,)).fetchall()
    if fresh:
        return fresh
    row = conn.execute(_NEXT.format("", 1), (State.INCOMING.value,)).fetchone()
    return [row] if row else []


def read_begins(journal: Journal, job_id: str) -> int:
    """Count one more attempt to read an incoming job's file, committed; returns the count."""
    with journal.transaction() as c:
        c.execute("UPDATE jobs SET attempts = attempts + 1 WHERE id = ? AND state = ?",
                  (job_id, State.INCOMING.value))
        row = c.execute("SELECT attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row["attempts"] if row else 0


def read_done(journal: Journal, job_id: str) -> None:
    """The file was read and its job goes on to print: the count starts again at zero."""
    with journal.transaction() as c:
        c.execute("UPDATE jobs SET attempts = 0 WHERE id = ? AND state = ?",
                  (job_id, State.INCOMING.value))


def read_interrupted(journal: Journal, job_id: str) -> None:
    """The daemon stopped the read itself (a clean stop): that attempt does not count."""
    with journal.transaction() as c:
        c.execute("UPDATE jobs SET attempts = max(attempts - 1, 0) WHERE id = ? AND state = ?",
                  (job_id, State.INCOMING.value))
