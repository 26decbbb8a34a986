"""Invoices as a clerk knows them (SPEC §3): `invoices` finds them (发票查询), `show`,
`void` and `reprint` take an invoice number as typed, `void` asks first, and `validate`
checks a file against what this station has already printed.

A typed number is resolved here, read-only, to the invoice's full key; the daemon is sent
that key exactly as before, so the control protocol does not change.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import re
import sqlite3
import sys
from dataclasses import dataclass
from typing import Any

from printstation.base.errors import (
    EXIT_BAD,
    EXIT_OK,
    NotFound,
    UsageError,
    is_permission_problem,
)
from printstation.config import Settings
from printstation.daemon import status as report
from printstation.daemon.checks import Checked, Entry, check_file
from printstation.daemon.context import Context
from printstation.invoice import Problem, problem
from printstation.spool import State, queries
from printstation.spool.journal import invoice_record
from printstation.spool.states import InvoiceState

from . import actions, catalog, tables

# Shown in the table; --json and --csv carry every field.
COLUMNS = ["invoice", "kind", "date", "buyer", "total", "state", "prints", "printed_at",
           "sheet", "job"]
CSV_FIELDS = ["key", "code", "number", "kind", "date", "buyer", "buyer_tin", "total_amount",
              "total_tax", "total", "state", "print_count", "printed_at", "sheet", "jobs"]
# Ambiguous numbers name at most this many candidates on their one line.
SHOWN_CANDIDATES = 8

_DIGITS = re.compile(r"[0-9]+")
_CODE_NUMBER = re.compile(r"([0-9]{10,12})-([0-9]+)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Typed:
    """An invoice number as a clerk typed it: the whole text (a key is compared with it),
    the digits its number ends with, and the invoice code when CODE-NUMBER was typed."""

    text: str
    suffix: str = ""
    code: str = ""

    @classmethod
    def of(cls, typed: str) -> Typed:
        text = "".join(typed.split())
        if found := _CODE_NUMBER.fullmatch(text):
            return cls(text, found[2], found[1])
        # Leading zeros are part of an invoice number, but a clerk may leave them out: the
        # digits typed match the end of the number (00012006 is found by 12006).
        return cls(text, text if _DIGITS.fullmatch(text) else "")


def _best(rows: list[sqlite3.Row], typed: Typed) -> list[sqlite3.Row]:
    """The whole key typed wins, then a whole number, then every number ending so."""
    exact = [r for r in rows if r["key"] == typed.text]
    whole = [r for r in rows if r["key"].rpartition("-")[2] == typed.suffix]
    return exact or whole or rows


def candidates(conn: sqlite3.Connection, typed: str, with_jobs: bool) -> list[sqlite3.Row]:
    """The invoices a typed number may mean, best first (see `_best`)."""
    t = Typed.of(typed)
    return _best(queries.invoice_candidates(conn, t.text, t.suffix, t.code, with_jobs), t)


def _one(rows: list[sqlite3.Row], typed: str) -> sqlite3.Row | None:
    if len(rows) <= 1:
        return rows[0] if rows else None
    named = ", ".join(f"{r['key']} ({_state(r['state'])})" for r in rows[:SHOWN_CANDIDATES])
    more = catalog.say("inv.more", n=len(rows) - SHOWN_CANDIDATES) \
        if len(rows) > SHOWN_CANDIDATES else ""
    raise UsageError(catalog.say("inv.ambiguous", typed=typed, n=len(rows), named=named,
                                 more=more))


def _state(value: str | None) -> str:
    return catalog.state(value) if value else catalog.say("inv.unprinted")


def _readable(settings: Settings) -> sqlite3.Connection | None:
    """The journal read-only, or None when it is not there or this user may not read it:
    then the daemon, which checks who asks first, is sent the number as typed."""
    try:
        return queries.open_readonly(settings.journal_path)
    except Exception as exc:
        if is_permission_problem(exc, settings.journal_path):
            return None
        raise


def resolve(settings: Settings, typed: str, with_jobs: bool) -> tuple[str, sqlite3.Row | None]:
    """The full key a typed number means, with its `invoices` row (None if never printed).

    Many invoices match: exit 2, naming them. None matches (or the journal cannot be
    read): the text goes to the daemon as typed, which first decides whether this user
    may ask at all (77, 69) and then refuses it in its own words ("12006: not printed",
    exit 1). Deciding "no invoice" here instead would tell an outsider about invoices
    before telling them they may not act.
    """
    conn = _readable(settings)
    if conn is None:
        return typed, None
    found = _one(candidates(conn, typed, with_jobs), typed)
    if found is None:
        return typed, None
    return found["key"], queries.invoice(conn, found["key"])


def void(settings: Settings, typed: str, reason: str, yes: bool) -> int:
    """Void (作废) after the clerk confirmed on a terminal, or with `--yes`."""
    key, row = resolve(settings, typed, with_jobs=False)
    # Only a printed invoice can be voided: anything else is refused by the daemon
    # without a question first.
    if row is not None and row["state"] == InvoiceState.PRINTED and not yes:
        if not sys.stdin.isatty():
            raise UsageError(catalog.say("inv.no_tty", key=key))
        if not _confirmed(row, reason):
            print(catalog.say("inv.not_voided", key=key), file=sys.stderr)
            return EXIT_BAD
    return actions.void(settings, key, reason)


def _confirmed(row: sqlite3.Row, reason: str) -> bool:
    printed = report.local_time(row["printed_at"]) if row["printed_at"] else "-"
    fields = [("buyer", row["buyer_name"]), ("total", row["total"]),
              ("printed_at", printed + catalog.say("inv.copies", n=row["print_count"])),
              ("sheet", _sheet(row)), ("reason", reason)]
    print(catalog.say("inv.confirm", key=row["key"]), file=sys.stderr)
    for name, value in fields:
        print(f"  {tables.pad(catalog.say(f'field.{name}'), 12)} {value or '-'}",
              file=sys.stderr)
    print(catalog.say("inv.prompt"), end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes", "是")


def reprint(settings: Settings, typed: str, reason: str, printer: str | None) -> int:
    # A spoiled or cancelled copy that never printed is reprinted too: jobs count.
    key, _ = resolve(settings, typed, with_jobs=True)
    return actions.reprint(settings, key, reason, printer)


# -- invoices: the search ------------------------------------------------------------------

def _sheet(row: sqlite3.Row) -> str | None:
    if not row["paper_number"]:
        return None
    return f"{row['paper_code']}-{row['paper_number']}" if row["paper_code"] \
        else row["paper_number"]


def _record(row: sqlite3.Row, jobs: list[sqlite3.Row]) -> dict[str, Any]:
    return {"key": row["key"], "code": row["code"], "number": row["number"],
            "kind": row["kind"], "date": row["date"], "buyer": row["buyer_name"],
            "buyer_tin": row["buyer_tin"], "total_amount": row["total_amount"],
            "total_tax": row["total_tax"], "total": row["total"], "state": row["state"],
            "print_count": row["print_count"], "printed_at": row["printed_at"],
            "sheet": _sheet(row),
            "jobs": [{"id": j["id"], "state": j["state"], "reprint_of": j["reprint_of"]}
                     for j in jobs]}


def _until(text: str) -> str:
    """`--until` a date means up to and including that day, as a clerk reads it."""
    if _DATE.fullmatch(text):
        # Not a real day (2026-02-30) is left as typed, and refused as such below.
        with contextlib.suppress(ValueError):
            text = (dt.date.fromisoformat(text) + dt.timedelta(days=1)).isoformat()
    return actions._utc_bound(text)


def search(conn: sqlite3.Connection | None, number: str | None, buyer: str | None,
           since: str | None, until: str | None, state: str | None, fmt: str) -> int:
    """`invoices`: the invoices printed here that match, in the order they printed
    (`state` is one of InvoiceState's, as the parser's choices hold it to)."""
    bounds = (actions._utc_bound(since) if since else None, _until(until) if until else None)
    typed = Typed.of(number) if number is not None else None
    rows = queries.invoices_found(conn, typed.text if typed else None,
                                  typed.suffix if typed else "", typed.code if typed else "",
                                  buyer, *bounds, state) if conn is not None else []
    jobs: dict[str, list[sqlite3.Row]] = {}
    for job in queries.jobs_of_invoices(conn, [r["key"] for r in rows]) if rows else []:
        # A copy refused as a duplicate is an attempt, not one of the invoice's jobs.
        if job["state"] != State.REJECTED:
            jobs.setdefault(job["invoice_key"], []).append(job)
    found = [_record(r, jobs.get(r["key"], [])) for r in rows]
    if fmt == "json":
        print(json.dumps(found, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        out = csv.writer(sys.stdout)
        out.writerow(CSV_FIELDS)
        for rec in found:
            # Spreadsheets are read by people: the time is local, with its UTC offset.
            printed = dt.datetime.fromisoformat(rec["printed_at"].replace("Z", "+00:00")) \
                .astimezone().isoformat(timespec="seconds") if rec["printed_at"] else ""
            out.writerow([*(rec[f] for f in CSV_FIELDS[:-3]), printed, rec["sheet"] or "",
                          " ".join(j["id"] for j in rec["jobs"])])
    else:
        print(tables.table([{
            "invoice": r["key"], "kind": r["kind"], "date": r["date"], "buyer": r["buyer"],
            "total": r["total"], "state": catalog.state(r["state"]),
            "prints": r["print_count"],
            "printed_at": report.local_time(r["printed_at"]) if r["printed_at"] else None,
            "sheet": r["sheet"], "job": ", ".join(j["id"] for j in r["jobs"])}
            for r in found], COLUMNS))
    return EXIT_OK


# -- show INVOICE --------------------------------------------------------------------------

def detail(conn: sqlite3.Connection, key: str) -> dict[str, Any]:
    """An invoice, all its jobs (refused copies too) and their whole history."""
    row = queries.invoice(conn, key)
    jobs = queries.jobs_of_invoices(conn, [key])
    doc = _record(row, jobs) if row is not None else {"key": key, "state": None}
    doc["jobs"] = [dict(j) for j in jobs]
    doc["events"] = [dict(e) for e in queries.invoice_history(conn, key)]
    return doc


def show(conn: sqlite3.Connection | None, typed: str, as_json: bool) -> int:
    """`show INVOICE`, for a text that names no job."""
    found = _one(candidates(conn, typed, with_jobs=True), typed) if conn is not None else None
    if found is None:
        raise NotFound(catalog.say("inv.no_match", typed=typed))
    doc = detail(conn, found["key"])
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(invoice_text(doc))
    return EXIT_OK


def invoice_text(doc: dict[str, Any]) -> str:
    """`show INVOICE`: its fields, its jobs, and every event of it, times local."""
    lines = []
    for key, value in doc.items():
        if key in ("jobs", "events"):
            continue
        if key == "state":
            value = catalog.state(value) if value else catalog.say("inv.never_printed")
        elif key == "printed_at" and value:
            value = report.local_time(value)
        lines.append(f"{tables.pad(catalog.say(f'field.{key}'), 16)} "
                     f"{value if value not in (None, '') else '-'}")
    lines += ["", catalog.say("show.jobs"), tables.table(
        [{**j, "state": catalog.state(j["state"]), "reason": catalog.reason(j["reason"]),
          "created": report.local_time(j["created_at"])} for j in doc["jobs"]],
        ["id", "state", "reason", "printer", "created"])]
    lines += ["", catalog.say("show.events")]
    lines += [f"  {e['seq']:>6}  {report.local_time(e['at'])}  {e['type']:<16} "
              f"{e['job_id'] or '-':<22} {e['payload']}" for e in doc["events"]]
    return "\n".join(lines)


# -- validate against the journal ----------------------------------------------------------

def journal_for_checks(settings: Settings) -> sqlite3.Connection | None:
    """The journal read-only for `validate`, or None: without one (none yet, or this user
    may not read it, or it cannot be opened), files are validated as before, and nothing
    is said about duplicates."""
    try:
        return queries.open_readonly(settings.journal_path)
    except (sqlite3.Error, OSError):
        return None


def check(name: str, data: bytes, ctx: Context, conn: sqlite3.Connection | None) -> Checked:
    """What the daemon would decide of this file now (daemon/stage_read.py): the same
    bytes already taken are `file.duplicate` (and nothing else is read), an invoice
    already printed and not voided, or waiting to print, is `invoice.duplicate`."""
    if conn is None:
        return check_file(name, data, ctx)
    earlier = queries.earlier_copy(conn, hashlib.sha256(data).hexdigest())
    if earlier is not None:
        return Checked([problem("file.duplicate", at=earlier["created_at"], job=earlier["id"])])

    def taken(key: str) -> Problem | None:
        row = queries.invoice_taken(conn, key)
        return problem("invoice.duplicate", "number", key=key, at=row["at"],
                       job=row["id"]) if row else None

    return check_file(name, data, ctx, taken)


def journaled(entry: Entry) -> dict:
    """An invoice of `validate --json`: what the journal would keep of it (so a clerk can
    check a PDF was read right), and its problems."""
    record = invoice_record(entry.to_dict()) if entry.key else None
    fields = ("code", "number", "date", "total_amount", "total_tax", "total")
    found = {name: (record or {}).get(name) or None for name in fields}
    return {"invoice": entry.key or None, "kind": entry.kind, **found,
            "errors": [p.to_dict() for p in entry.problems]}
