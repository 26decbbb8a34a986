"""The state machines (SPEC §9): jobs, invoices, sheets, source files and sync.

Each lifecycle is one table of the moves allowed between its states, and every change of
such a state is checked against its table first, so the table is the whole truth about
what can happen to a job, an invoice, a sheet, a file or the sync worker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

S = TypeVar("S", bound=StrEnum)


class IllegalTransition(Exception):
    """A transition the state machine does not allow; nothing was changed."""


@dataclass(frozen=True)
class Lifecycle(Generic[S]):
    """One guarded state machine: its states, the moves between them, where a thing starts
    and the states nothing leaves."""

    name: str
    states: type[S]
    transitions: Mapping[S, frozenset[S]]
    final: frozenset[S]
    initial: frozenset[S]

    def __post_init__(self) -> None:
        # A final state with a way out would make the table lie about what is final.
        leaking = self.final.intersection(self.transitions)
        if leaking:
            raise ValueError(f"{self.name}: final states {sorted(leaking)} have transitions")

    def allows(self, old: str, new: str) -> bool:
        """Whether the table has `old -> new`; an `old` that is no state raises ValueError."""
        return new in self.transitions.get(self.states(old), frozenset())

    def check(self, ident: str, old: str, new: str) -> None:
        """Raise `IllegalTransition` unless `ident` may move from `old` to `new`."""
        if not self.allows(old, new):
            raise IllegalTransition(f"{self.name} {ident}: {old} -> {new} is not allowed")


def sql_in(states: Iterable[StrEnum]) -> str:
    """An SQL IN-list such as `('failed','printed')`. The values are this module's own
    constants, never input, so writing them into a statement is safe."""
    return "(" + ",".join(f"'{state.value}'" for state in sorted(states)) + ")"


# -- jobs ----------------------------------------------------------------------------------

class State(StrEnum):
    INCOMING = "incoming"     # file claimed into the spool, not yet read
    QUEUED = "queued"         # a valid invoice waiting for its printer
    SUBMITTED = "submitted"   # handed to the printer (CUPS job id journaled)
    PRINTED = "printed"
    REJECTED = "rejected"
    HELD = "held"             # waits for an operator or a condition (reason says which)
    DEFERRED = "deferred"     # temporary failure, retried at next_attempt_at
    UNCERTAIN = "uncertain"   # outcome unknowable; waits for `printstation resolve`
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = frozenset({State.PRINTED, State.REJECTED, State.FAILED, State.CANCELLED})

TRANSITIONS: dict[State, frozenset[State]] = {
    # A claimed file is read: a valid invoice is queued (or held, e.g. no printer for its
    # kind); an unreadable or invalid one is rejected.
    State.INCOMING: frozenset({State.QUEUED, State.HELD, State.REJECTED, State.CANCELLED}),
    # A queued job is handed to its printer, or stopped before that.
    State.QUEUED: frozenset({State.SUBMITTED, State.HELD, State.DEFERRED, State.REJECTED,
                             State.FAILED, State.CANCELLED}),
    State.HELD: frozenset({State.QUEUED, State.CANCELLED}),
    State.DEFERRED: frozenset({State.QUEUED, State.HELD, State.CANCELLED}),
    # Once submitted, only the printer's outcome (or not knowing it) moves the job on.
    State.SUBMITTED: frozenset({State.PRINTED, State.DEFERRED, State.UNCERTAIN, State.FAILED,
                                State.CANCELLED}),
    State.UNCERTAIN: frozenset({State.PRINTED, State.FAILED}),
}

JOB = Lifecycle("job", State, TRANSITIONS, FINAL, frozenset({State.INCOMING}))


def check_transition(job_id: str, old: str, new: State) -> None:
    JOB.check(job_id, old, new)


# -- invoices (the `invoices` table: one row per invoice number ever printed) --------------

class InvoiceState(StrEnum):
    PRINTED = "printed"   # on paper; print_count says how many copies
    VOIDED = "voided"     # declared void (作废) by an operator, its sheet with it


INVOICE = Lifecycle("invoice", InvoiceState, {
    # printed -> printed: a reprint puts another copy on paper (print_count grows).
    # printed -> voided: an operator voids it.
    InvoiceState.PRINTED: frozenset({InvoiceState.PRINTED, InvoiceState.VOIDED}),
    # voided -> printed: its file dropped again and printed (SPEC §7: only an invoice
    # printed and not voided is a duplicate). `reprint` refuses a voided invoice, and
    # `void` refuses while a copy is still on its way (spool/operations.py).
    InvoiceState.VOIDED: frozenset({InvoiceState.PRINTED}),
}, final=frozenset(), initial=frozenset({InvoiceState.PRINTED}))


# -- sheets (the paper ledger: one row per numbered sheet loaded into a printer) -----------

class SheetState(StrEnum):
    LOADED = "loaded"     # in the printer: free, or held by the job its job_id names
    USED = "used"         # an invoice was printed on it
    SPOILED = "spoiled"   # lost: jammed, misprinted, or its job resolved as not printed
    VOIDED = "voided"     # the invoice printed on it was voided


SHEET = Lifecycle("sheet", SheetState, {
    # Giving a loaded sheet to a job, or taking it back, sets only its job_id: no move.
    # loaded -> used: the job holding it printed.
    # loaded -> spoiled: an operator spoiled a free sheet, or the job holding it was
    # resolved as not printed.
    SheetState.LOADED: frozenset({SheetState.USED, SheetState.SPOILED}),
    # used -> voided: the invoice printed on it was voided.
    SheetState.USED: frozenset({SheetState.VOIDED}),
}, final=frozenset({SheetState.SPOILED, SheetState.VOIDED}),
    initial=frozenset({SheetState.LOADED}))


# -- source files (the `sources` table: one row per file claimed into the spool) -----------

class SourceState(StrEnum):
    OPEN = "open"             # claimed; waits until every job of the file is final
    FINISHING = "finishing"   # its destination in the rejected folder is journaled
    ARCHIVED = "archived"     # moved to the archive (at least one invoice printed)
    REJECTED = "rejected"     # moved to the rejected folder, next to its error report
    NONE = "none"             # a reprint's row: no file, it only orders the job in the queue


SOURCE = Lifecycle("source", SourceState, {
    # open -> archived: every job of the file is final and one printed; the archive name
    # is fixed by the claim, so there is nothing to plan.
    # open -> finishing: every job of the file is final and none printed; the free name in
    # the rejected folder is journaled before the move, so a crash resumes with it.
    SourceState.OPEN: frozenset({SourceState.ARCHIVED, SourceState.FINISHING}),
    # finishing -> rejected: the file is at its journaled name.
    SourceState.FINISHING: frozenset({SourceState.REJECTED}),
}, final=frozenset({SourceState.ARCHIVED, SourceState.REJECTED, SourceState.NONE}),
    initial=frozenset({SourceState.OPEN, SourceState.NONE}))


# -- sync (in memory: the worker that sends the journal to head office) --------------------

class SyncState(StrEnum):
    OFF = "off"               # no sync.url: nothing is sent
    IDLE = "idle"             # head office holds every event
    SENDING = "sending"       # batches are going out
    RETRYING = "retrying"     # a try failed for a temporary reason; waits to try again
    PAUSED = "paused"         # refused for good (4xx, token, certificate) until resumed
    HALTED = "halted"         # head office holds other events under a seq (409), loudly


_SENDING = frozenset({SyncState.IDLE, SyncState.SENDING, SyncState.RETRYING})
_RESUMED = frozenset({SyncState.IDLE, SyncState.OFF})

SYNC = Lifecycle("sync", SyncState, {
    # off -> idle: a reload set a URL; off -> off: a reload that still sets none.
    SyncState.OFF: frozenset({SyncState.OFF, SyncState.IDLE}),
    # While it has a URL the worker moves freely between idle, sending and retrying, and
    # stays in each across tries; from any of them a permanent refusal (or an unreadable
    # token) pauses it, a 409 halts it, and a reload goes to idle, or off without a URL.
    **{state: _SENDING | {SyncState.PAUSED, SyncState.HALTED, SyncState.OFF}
       for state in _SENDING},
    # paused/halted -> idle: `sync --now` or a reload resumes; -> off: a reload removed the
    # URL. Neither is final: only an operator resumes them, but one always can.
    SyncState.PAUSED: _RESUMED,
    SyncState.HALTED: _RESUMED,
}, final=frozenset(), initial=frozenset({SyncState.IDLE, SyncState.OFF}))
