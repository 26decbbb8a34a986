"""Operator actions on the queue and on invoices, each journaled with who and why.

Every one checks what it may do and says why not in plain words (`Refused`); the state
change itself goes through `Journal.transition`, like every other.
"""

from __future__ import annotations

import json
from typing import Any

from printstation.base.errors import StationError

from . import paper
from .files import new_source_id
from .journal import Journal
from .states import FINAL, INVOICE, InvoiceState, SheetState, SourceState, State, sql_in


class Refused(StationError):
    """The action does not apply to this job or invoice; nothing was changed."""


def _job(journal: Journal, job_id: str) -> Any:
    row = journal.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise Refused(f"{job_id}: no such job")
    return row


def _move(journal: Journal, job_id: str, allowed: set[State], new: State, reason: str | None,
          operator: str, note: str, verb: str) -> str:
    with journal.transaction() as c:
        job = _job(journal, job_id)
        if job["state"] not in allowed:
            raise Refused(f"{job_id}: is {job['state']}; only {', '.join(sorted(allowed))} "
                          f"jobs can be {verb}")
        payload = {"operator": operator}
        if note:
            payload["note"] = note
        journal.transition(job_id, new, reason, payload=payload)
        paper.release(c, job_id, journal.now())
    return f"{job_id}: {job['state']} -> {new.value}"


def hold(journal: Journal, job_id: str, operator: str, note: str = "") -> str:
    return _move(journal, job_id, {State.INCOMING, State.QUEUED, State.DEFERRED}, State.HELD,
                 "operator", operator, note, "held")


def release(journal: Journal, job_id: str, operator: str, note: str = "") -> str:
    return _move(journal, job_id, {State.HELD}, State.QUEUED, None, operator, note, "released")


def requeue(journal: Journal, job_id: str, operator: str, note: str = "") -> str:
    """Try again now: a deferred job skips its wait; a held one is released."""
    return _move(journal, job_id, {State.DEFERRED, State.HELD}, State.QUEUED, None, operator,
                 note, "requeued")


def cancel(journal: Journal, job_id: str, operator: str, note: str = "") -> str:
    return _move(journal, job_id, {State.INCOMING, State.QUEUED, State.HELD, State.DEFERRED},
                 State.CANCELLED, "operator", operator, note, "cancelled (a submitted job is "
                 "the printer's now; an uncertain one is settled with resolve)")


def resolve(journal: Journal, job_id: str, printed: bool, operator: str, reason: str) -> str:
    """Settle an `uncertain` job: it printed (the sheet is used) or it did not (spoiled)."""
    job = _job(journal, job_id)
    if job["state"] != State.UNCERTAIN:
        raise Refused(f"{job_id}: is {job['state']}; only uncertain jobs are resolved")
    payload = {"operator": operator, "reason": reason}
    if printed:
        journal.mark_printed(job_id, payload={**payload, "resolved": "printed"})
        return f"{job_id}: uncertain -> printed"
    with journal.transaction() as c:
        journal.transition(job_id, State.FAILED, "operator.spoiled",
                           payload={**payload, "resolved": "spoiled"})
        paper.settle(c, job_id, SheetState.SPOILED, job["invoice_key"],
                     reason or "resolved as spoiled", journal.now())
    return f"{job_id}: uncertain -> failed (sheet spoiled)"


def void(journal: Journal, key: str, reason: str, operator: str) -> str:
    """Mark a printed invoice voided (作废), and its sheet with it."""
    with journal.transaction() as c:
        row = c.execute("SELECT state FROM invoices WHERE key = ?", (key,)).fetchone()
        # The invoice table decides: only a printed invoice can be voided, so the one way
        # to be refused with a row is to be voided already.
        if row is None or not INVOICE.allows(row["state"], InvoiceState.VOIDED):
            raise Refused(f"{key}: {'not printed' if row is None else 'already voided'}; "
                          "only a printed invoice can be voided")
        # A copy still on its way (a reprint queued or in the printer) would come out of
        # the printer after the void and make the invoice printed again: it is cancelled
        # (or resolved) first.
        _refuse_live(c, key)
        now = journal.now()
        c.execute("UPDATE invoices SET state = ? WHERE key = ?", (InvoiceState.VOIDED.value, key))
        sheet = paper.void_sheet(c, key, reason, now)
        journal.append_event("invoice.voided", None, key, {
            "reason": reason, "operator": operator, "sheet": str(sheet) if sheet else None})
    return f"{key}: voided" + (f", sheet {sheet} voided" if sheet else "")


def reprint(journal: Journal, key: str, reason: str, operator: str,
            printer: str | None) -> str:
    """A new job printing the invoice again, journaled as a reprint; returns its id."""
    with journal.transaction() as c:
        invoice = c.execute("SELECT * FROM invoices WHERE key = ?", (key,)).fetchone()
        # The invoice as printed last; or, never printed, as stored with a job that failed
        # (a sheet spoiled) or was cancelled.
        last = c.execute("SELECT * FROM jobs WHERE id = ?", (invoice["job_id"],)).fetchone() \
            if invoice is not None else c.execute(
                "SELECT * FROM jobs WHERE invoice_key = ? AND invoice_json IS NOT NULL"
                " AND state IN (?, ?) ORDER BY created_at DESC LIMIT 1",
                (key, State.FAILED.value, State.CANCELLED.value)).fetchone()
        if last is None:
            raise Refused(f"{key}: never printed or read here; drop its file instead")
        # A voided invoice is void for the tax bureau: a copy printed now would put a void
        # invoice on paper, and printing it would quietly make it `printed` again. The
        # invoicing software issues a new invoice (a new number) instead.
        if invoice is not None and invoice["state"] == InvoiceState.VOIDED:
            raise Refused(f"{key}: voided; a voided invoice cannot be printed again: issue "
                          "a new invoice in the invoicing software")
        _refuse_live(c, key)
        now = journal.now()
        job_id = "R" + new_source_id(journal.clock())
        # A reprint has no file of its own: its source row only orders it in the queue.
        seq = c.execute("INSERT INTO sources (id, name, spool_name, state, claimed_at)"
                        " VALUES (?,?,'',?,?)",
                        (job_id, f"reprint {key}", SourceState.NONE.value, now)).lastrowid
        c.execute("INSERT INTO jobs (id, source_id, source_name, source_seq, kind, state,"
                  " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                  (job_id, job_id, f"reprint {key}", seq, last["kind"], State.INCOMING.value,
                   now, now))
        journal.transition(job_id, State.QUEUED, None,
                           payload={"reprint_of": key, "reason": reason, "operator": operator,
                                    "previous_job": last["id"]},
                           invoice_key=key, invoice_json=_again(c, last),
                           printer=printer or last["printer"], reprint_of=key)
    return job_id


def _again(conn: Any, last: Any) -> str:
    """The stored invoice of a reprint. An invoice printed as it looks (a PDF or OFD) has
    its file in the archive, not in a reprint's (empty) source: the reprint prints the page
    the last job printed, kept beside that file (`archive/DAY/JOB.pdf`)."""
    doc = json.loads(last["invoice_json"])
    if doc.get("format") in ("pdf", "ofd") or isinstance(doc.get("print"), dict):
        claimed = conn.execute("SELECT claimed_at FROM sources WHERE id = ?",
                               (last["source_id"],)).fetchone()["claimed_at"]
        doc["reprint_from"] = {"job": last["id"], "claimed_at": claimed}
        return json.dumps(doc, ensure_ascii=False)
    return last["invoice_json"]


def _refuse_live(conn: Any, key: str) -> None:
    """Refuse while a job for `key` is not final (queued, held, in the printer…)."""
    live = conn.execute("SELECT id FROM jobs WHERE invoice_key = ? AND state NOT IN"
                        f" {sql_in(FINAL)} ORDER BY created_at LIMIT 1", (key,)).fetchone()
    if live is not None:
        raise Refused(f"{key}: job {live['id']} for it is still in the queue")


__all__ = ["Refused", "cancel", "hold", "release", "reprint", "requeue", "resolve", "void"]
