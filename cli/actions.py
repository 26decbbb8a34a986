"""Operator commands that change the journal: queue actions, resolve, void, reprint, the
paper ledger, and the journal search, verify and backup."""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from printstation.base.errors import (
    EXIT_BAD,
    EXIT_OK,
    PermissionDenied,
    StationError,
    UsageError,
)
from printstation.config import Settings
from printstation.daemon import status as report
from printstation.spool import Journal, connect, operations, paper, queries, verify_chain
from printstation.spool.backup import BackupFailed, backup

from . import tables


def operator() -> str:
    return getpass.getuser()


def writable_journal(settings: Settings) -> Journal:
    """The journal, for a change; a plain one-line error when this user may not."""
    path = settings.journal_path
    folder_ok = os.access(path.parent, os.W_OK) if path.parent.exists() else \
        os.access(path.parent.parent, os.W_OK)
    if not folder_ok or (path.exists() and not os.access(path, os.W_OK)):
        raise PermissionDenied(user=operator(), action="change the queue", path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Journal(path, settings.station.id)


def ids_from(args: list[str]) -> list[str]:
    """Job ids as arguments, or `-` to read them from standard input (one per line)."""
    if args == ["-"]:
        return [line.split()[0] for line in sys.stdin if line.strip()]
    if "-" in args:
        raise UsageError("'-' reads the ids from standard input and stands alone")
    return args


def queue_action(settings: Settings, action: str, job_ids: list[str], note: str) -> int:
    act = {"hold": operations.hold, "release": operations.release,
           "requeue": operations.requeue, "cancel": operations.cancel}[action]
    journal = writable_journal(settings)
    failed = False
    try:
        for job_id in ids_from(job_ids):
            try:
                print(act(journal, job_id, operator(), note))
            except operations.Refused as exc:
                print(f"printstation: {exc}", file=sys.stderr)
                failed = True
    finally:
        journal.close()
    return EXIT_BAD if failed else EXIT_OK


@contextmanager
def _changing(settings: Settings, error: type[StationError] = StationError) -> Iterator[Journal]:
    """The journal for one change; a refused action becomes a one-line `error`."""
    journal = writable_journal(settings)
    try:
        yield journal
    except (operations.Refused, paper.PaperError) as exc:
        raise error(str(exc)) from None
    finally:
        journal.close()


def _one(settings: Settings, fn, *args) -> int:
    with _changing(settings) as journal:
        print(fn(journal, *args))
    return EXIT_OK


def resolve(settings: Settings, job_id: str, printed: bool, reason: str) -> int:
    return _one(settings, operations.resolve, job_id, printed, operator(), reason)


def void(settings: Settings, key: str, reason: str) -> int:
    return _one(settings, operations.void, key, reason, operator())


def reprint(settings: Settings, key: str, reason: str, printer: str | None) -> int:
    if printer is not None and settings.printer(printer) is None:
        raise UsageError(f"no printer {printer!r}")
    with _changing(settings) as journal:
        job_id = operations.reprint(journal, key, reason, operator(), printer)
    print(f"{key}: reprint queued as job {job_id}")
    return EXIT_OK


def _printer_stock(settings: Settings, printer: str, stock: str | None) -> str:
    found = settings.printer(printer)
    if found is None:
        raise UsageError(f"no printer {printer!r} (configured: "
                         f"{', '.join(p.name for p in settings.printers)})")
    if stock is None:
        if len(found.stocks) != 1:
            raise UsageError(f"printer {printer} holds {', '.join(found.stocks)}: name --stock")
        return found.stocks[0]
    if stock not in found.stocks:
        raise UsageError(f"printer {printer} has no stock {stock!r} ({', '.join(found.stocks)})")
    return stock


def paper_load(settings: Settings, printer: str, stock: str, code: str, first: str,
               last: str) -> int:
    stock = _printer_stock(settings, printer, stock)
    with _changing(settings, UsageError) as journal:
        count = paper.load(journal, printer, stock, code, first, last, operator())
    mode = settings.printer(printer).paper_check
    print(f"{printer}: loaded {count} sheets of {stock} {first}-{last}"
          + (" (note: paper_check is off for this printer)" if mode == "off" else ""))
    return EXIT_OK


def paper_spoil(settings: Settings, printer: str, stock: str | None, count: int,
                reason: str) -> int:
    with _changing(settings) as journal:
        if stock is None:
            # SPEC's `paper spoil PRINTER`: the stock is the one with sheets in that printer.
            loaded = [r["stock"] for r in paper.summary(journal.conn, printer) if r["free"]]
            if len(loaded) == 1:
                stock = loaded[0]
        stock = _printer_stock(settings, printer, stock)
        sheets = paper.spoil(journal, printer, stock, count, reason, operator())
    print(f"{printer}: spoiled {', '.join(str(s) for s in sheets)}")
    return EXIT_OK


def paper_show(conn: sqlite3.Connection | None, printer: str | None, as_json: bool) -> int:
    rows = paper.summary(conn, printer) if conn is not None else []
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(tables.table([{**r, "low": "LOW" if r["low"] else ""} for r in rows],
                          ["printer", "stock", "loaded", "free", "in_printer", "used", "spoiled",
                           "voided", "next", "low"]))
    return EXIT_OK


def _utc_bound(text: str) -> str:
    """A date (local midnight) or an ISO time, as the journal's UTC text."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not a date or time: {text!r} (use YYYY-MM-DD or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as a clerk means it
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def journal_search(conn: sqlite3.Connection | None, invoice: str | None, since: str | None,
                   until: str | None, fmt: str) -> int:
    bounds = (_utc_bound(since) if since else None, _utc_bound(until) if until else None)
    rows: Iterable[sqlite3.Row] = queries.events_matching(conn, invoice, *bounds) \
        if conn is not None else []
    if fmt == "csv":
        out = csv.writer(sys.stdout)
        out.writerow(["seq", "id", "at", "station", "type", "job_id", "invoice_key", "payload",
                      "prev_hash", "hash"])
        tty = sys.stderr.isatty()
        for n, row in enumerate(rows, 1):
            out.writerow([row[k] for k in ("seq", "id", "at", "station", "type", "job_id",
                                           "invoice_key", "payload", "prev_hash", "hash")])
            if tty and n % 10_000 == 0:
                print(f"\r{n} events written", end="", file=sys.stderr, flush=True)
        if tty:
            print(file=sys.stderr)
        return EXIT_OK
    events = [{"seq": r["seq"], "id": r["id"], "at": r["at"], "type": r["type"],
               "job": r["job_id"], "invoice": r["invoice_key"],
               "payload": json.loads(r["payload"])} for r in rows]
    if fmt == "json":
        print(json.dumps(events, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(tables.table([{**e, "at": report.local_time(e["at"]),
                        "payload": json.dumps(e["payload"], ensure_ascii=False)[:80]}
                       for e in events], ["seq", "at", "type", "job", "invoice", "payload"]))
    return EXIT_OK


def journal_verify(settings: Settings) -> int:
    if not settings.journal_path.exists():
        raise UsageError(f"no journal at {settings.journal_path}")
    conn = connect(settings.journal_path, readonly=True)
    checked, problem = verify_chain(conn)
    if problem:
        print(f"BROKEN: {problem} (the {checked} events before it are intact)")
        return EXIT_BAD
    print(f"OK: {checked} events, seq gap-free, hash chain intact")
    return EXIT_OK


def run_backup(settings: Settings, dest: Path) -> int:
    if not settings.journal_path.exists():
        raise UsageError(f"no journal at {settings.journal_path}")
    tty = sys.stderr.isatty()

    def progress(text: str) -> None:
        if tty:  # quiet when piped or run from cron
            print(f"\r{text}\033[K", end="", file=sys.stderr, flush=True)

    try:
        stats = backup(settings.journal_path, settings.station.data_dir / "archive", dest,
                       progress)
    except BackupFailed as exc:
        raise StationError(str(exc)) from None
    if tty:
        print(file=sys.stderr)
    print(f"backup in {dest}: journal.db ({stats['events']} events, integrity ok), "
          f"{stats['archive_files']} archive files ({stats['copied']} copied), "
          "archive-index.json")
    return EXIT_OK
