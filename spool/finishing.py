"""Group commit for the finisher: several files planned, or finished, in one journal
transaction (DURABILITY.md, "Finisher", says which commits remain and why).

A backlog of single-invoice files made one `file.archived` commit per file after its move.
The commit precedes no outside effect of its own (the file is already in its place and
its result file written, both synced), so several files share one: their events are
appended in the order given, inside one transaction, so the hash chain is the one a commit
per file would have made. A crash before the commit leaves each file of the batch
unfinished in the journal, with its move done; the next start finishes it again, finding
the file, its report and its result already in place and recognising them as its own.

The rule that a rejected file's destination is journaled before it moves stays: the
finisher plans a batch's rejected files in one transaction (`plan_many`), and only then
moves any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .states import SourceState

if TYPE_CHECKING:
    from .journal import Journal


@dataclass(frozen=True)
class Finished:
    """A file that reached its one place: archived (any invoice printed) or rejected, and
    the `file.archived` / `file.rejected` event's payload."""

    source_id: str
    archived: bool
    payload: dict[str, Any]


def plan_many(journal: Journal, plans: Sequence[tuple[str, bytes]]) -> None:
    """Record where each file will go (source id, destination path as the filesystem's
    bytes) before any of them moves, in one transaction, as `Journal.plan_finish` does
    for one."""
    with journal.transaction() as c:
        for source_id, destination in plans:
            journal.check_source(source_id, SourceState.FINISHING)
            c.execute("UPDATE sources SET state = ?, destination = ? WHERE id = ?",
                      (SourceState.FINISHING.value, destination, source_id))


def finish_many(journal: Journal, done: Sequence[Finished]) -> None:
    """Finish several files in one transaction, as `Journal.finish` does for one: each
    source's state, its finishing time and its event. A move its lifecycle lacks
    (a file finished already) refuses the whole batch: nothing of it is committed."""
    with journal.transaction() as c:
        for item in done:
            state = SourceState.ARCHIVED if item.archived else SourceState.REJECTED
            journal.check_source(item.source_id, state)
            c.execute("UPDATE sources SET state = ?, finished_at = ? WHERE id = ?",
                      (state.value, journal.now(), item.source_id))
            journal.append_event(f"file.{state.value}", item.source_id, None, item.payload)
