"""Queries on claimed files (`sources`) that the intake and the finisher need besides the
journal's own: whether a new source id is free, which spool files the journal knows, and
where unfinished files are planned to go (so two files never plan one name)."""

from __future__ import annotations

from .journal import Journal
from .states import SourceState


def id_taken(journal: Journal, candidate: str) -> bool:
    """A source or job already has this id."""
    return journal.conn.execute(
        "SELECT 1 FROM sources WHERE id = ? UNION ALL SELECT 1 FROM jobs WHERE id = ? LIMIT 1",
        (candidate, candidate)).fetchone() is not None


def live_spool_names(journal: Journal) -> set[str]:
    """Spool names of files not yet finished (the only ones that should be in the spool)."""
    return {r[0] for r in journal.conn.execute(
        "SELECT spool_name FROM sources WHERE state IN (?, ?)",
        (SourceState.OPEN.value, SourceState.FINISHING.value))}


def spool_name_known(journal: Journal, spool_name: str) -> bool:
    """Any source, finished or not, was claimed under this spool name."""
    return journal.conn.execute("SELECT 1 FROM sources WHERE spool_name = ? LIMIT 1",
                                (spool_name,)).fetchone() is not None


def planned_destinations(journal: Journal, other_than: str) -> set[bytes]:
    """Where the files being finished (except `other_than`) are journaled to go."""
    return {bytes(r[0]) for r in journal.conn.execute(
        "SELECT destination FROM sources WHERE state = ? AND id != ?"
        " AND destination IS NOT NULL", (SourceState.FINISHING.value, other_than))}


def replan(journal: Journal, source_id: str, destination: bytes) -> None:
    """Change where a file being finished goes (its name was taken before it got there).

    Not a state change (the file stays `finishing`), so no event: the event that records
    where it went is `file.rejected`.
    """
    with journal.transaction() as c:
        changed = c.execute("UPDATE sources SET destination = ? WHERE id = ? AND state = ?",
                            (destination, source_id, SourceState.FINISHING.value)).rowcount
    if changed != 1:
        raise KeyError(f"source {source_id} is not being finished")
