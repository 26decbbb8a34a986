"""What the printer stage does with a job that cannot go on (SPEC §9).

Three kinds of failure, told apart by the driver's exception (drivers/base.py):

- the printer as a whole is down (`PrinterUnavailable`: CUPS unreachable or not answering,
  the queue missing or not accepting): nothing is wrong with the job. It stays `queued`,
  its attempts untouched, and the printer's runner backs off; `status` shows the error.
- this job failed for now (`JobFailed`, or anything a driver raised that it did not
  sort): `deferred` until `next_attempt_at`, `attempts` counted, and `failed` with its
  last error after the printer's `max_attempts`.
- this job cannot go on as it is: its page cannot be rendered (`render.failed`, e.g. a
  reload narrowed a field or dropped a stock), or the printer refused the document
  (`printer.refused`). Both are `held` with the reason and the error. Held rather than
  failed: the invoice is valid, and what stops it is configuration (a layout, a CUPS
  queue) that IT can fix; then a clerk `release`s it and it prints in its place, with no
  file to drop again and nothing in the rejected folder to explain.

A deferred or held job leaves the queue, so the jobs behind it go on; a deferred one comes
back to `queued` when due and takes its place again by arrival order.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

from printstation.base import logs
from printstation.config import PrinterSettings
from printstation.drivers import JobStatus, PrinterDriver
from printstation.invoice import problem
from printstation.spool import IllegalTransition, Journal, State, iso, paper, queries

# Backoff after a job's own failure: 10 s, doubling, at most 15 min. Ten seconds lets a
# passing CUPS hiccup (a filter restart, a full spool) clear before the next try; the cap
# keeps a job that fails for an hour from waiting an hour more after the cause is gone.
# With the default max_attempts (10) a job is given up after about 51 minutes of
# failures: waits of 10+20+…+640 s, then two of 15 min, between its ten tries.
BACKOFF_FIRST_S = 10.0
BACKOFF_MAX_S = 15 * 60.0


def backoff_s(attempts: int) -> float:
    """The wait after the `attempts`-th failure of a job (1, 2, …)."""
    return min(BACKOFF_FIRST_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S)


def _errors(code: str, field: str = "", **params: str) -> str:
    return json.dumps([problem(code, field, **params).to_dict()], ensure_ascii=False)


def describe(exc: BaseException) -> str:
    """An exception as one line for a clerk's report."""
    text = str(exc).replace("\n", " ").strip()
    return text if text else type(exc).__name__


def hold(journal: Journal, job: sqlite3.Row, printer: str, reason: str, detail: str,
         field: str = "") -> None:
    """Move a queued job aside for good, until an operator releases it."""
    errors = _errors(reason, field, printer=printer, detail=detail, detail_zh=detail)
    with journal.transaction() as c:
        journal.transition(job["id"], State.HELD, reason, errors=errors,
                           payload={"error": detail})
        paper.release(c, job["id"], journal.now())
    logs.warning("job.held", job=job["id"], invoice=job["invoice_key"], printer=printer,
                 reason=reason, detail=detail)


def defer(journal: Journal, job: sqlite3.Row, printer: PrinterSettings, detail: str,
          attempts: int, payload: dict | None = None, **columns: object) -> State:
    """A job's own failure that may pass: deferred with a growing wait, or failed once it
    has been tried `max_attempts` times. `attempts` counts the tries so far, this one
    included. Returns the state it went to."""
    now = journal.clock()
    if attempts >= printer.max_attempts:
        new, retry_at = State.FAILED, None
        next_zh, next_en = "已放弃，不再重试。", "Given up: it is not tried again."
    else:
        new = State.DEFERRED
        retry_at = iso(now + dt.timedelta(seconds=backoff_s(attempts)))
        local = dt.datetime.fromisoformat(retry_at.replace("Z", "+00:00")).astimezone()
        next_zh = f"将于 {local:%H:%M:%S} 自动重试。"
        next_en = f"It is tried again at {local:%H:%M:%S}."
    errors = _errors("printer.error", printer=printer.name, attempts=str(attempts),
                     max_attempts=str(printer.max_attempts), detail=detail, detail_zh=detail,
                     next_zh=next_zh, next_en=next_en)
    with journal.transaction() as c:
        journal.transition(job["id"], new, "printer.error", errors=errors, attempts=attempts,
                           next_attempt_at=retry_at, **columns,
                           payload={"error": detail, "attempts": attempts,
                                    "next_attempt_at": retry_at, **(payload or {})})
        # A job that had reached the printer gives its numbered sheet back.
        paper.release(c, job["id"], journal.now())
    log = logs.error if new is State.FAILED else logs.warning
    log(f"job.{new.value}", job=job["id"], invoice=job["invoice_key"], printer=printer.name,
        reason="printer.error", attempts=attempts, next_attempt_at=retry_at, error=detail)
    return new


def withdraw(journal: Journal, driver: PrinterDriver, job: sqlite3.Row,
             printer: PrinterSettings, exc: Exception) -> bool:
    """The printer answered an error to releasing a submitted job: if the job is still
    held there, take it back (deferred, its try already counted) and cancel the held job.
    True when it was deferred; False when it went on regardless (tracking settles it).

    The deferral is journaled before the cancel: a crash between the two, or a cancel that
    fails, leaves a held job that the next try finds by name and adopts, never a second.
    """
    detail, external_id = describe(exc), job["cups_job_id"]
    if driver.status(external_id, job["id"]) is not JobStatus.HELD:
        return False
    defer(journal, job, printer, detail, job["attempts"], cups_job_id=None,
          payload={"withdrawn_external_id": external_id})
    try:
        driver.cancel(external_id)
    except Exception as cancel_exc:  # the printer down too: the lookup still finds it
        logs.warning("job.cancel_failed", job=job["id"], invoice=job["invoice_key"],
                     printer=printer.name, external_id=external_id,
                     error=describe(cancel_exc))
    return True


def requeue_due(journal: Journal, printer: str) -> int:
    """Deferred jobs whose time has come go back to the queue; returns how many."""
    now = journal.clock()
    due = queries.deferred_due(journal.conn, printer, iso(now),
                               iso(now + dt.timedelta(seconds=BACKOFF_MAX_S)))
    for job in due:
        try:
            with journal.transaction():
                journal.transition(job["id"], State.QUEUED, None,
                                   payload={"auto": True, "attempts": job["attempts"]})
        except IllegalTransition:
            continue  # an operator held or cancelled it meanwhile: theirs to decide
        logs.info("job.queued", job=job["id"], invoice=job["invoice_key"], printer=printer,
                  after="deferred", attempts=job["attempts"])
    return len(due)
