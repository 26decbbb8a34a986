"""The job state machine (SPEC §9): the states and every transition allowed between them."""

from __future__ import annotations

from enum import StrEnum


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


class IllegalTransition(Exception):
    """A transition the state machine does not allow; nothing was changed."""


def check_transition(job_id: str, old: str, new: State) -> None:
    if new not in TRANSITIONS.get(State(old), frozenset()):
        raise IllegalTransition(f"job {job_id}: {old} -> {new} is not allowed")
