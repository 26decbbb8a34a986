"""Operator commands that change the journal: queue actions, resolve, void, reprint, the
paper ledger, and the journal search, verify and backup."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from printstation.base.errors import EXIT_BAD, EXIT_OK, StationError, UsageError
from printstation.config import Settings
from printstation.daemon import continuity, control
from printstation.daemon import status as report
from printstation.spool import connect, paper, queries, verify_chain
from printstation.spool.archive_index import journal_summary
from printstation.spool.backup import BackupFailed, backup

from . import catalog, progress, tables


def operator() -> str:
    """This user, by real uid: LOGNAME and USER are the caller's to set."""
    return control.caller_name()


def ids_from(args: list[str]) -> list[str]:
    """Job ids as arguments, or `-` to read them from standard input (one per line)."""
    if args == ["-"]:
        return [line.split()[0] for line in sys.stdin if line.strip()]
    if "-" in args:
        raise UsageError("'-' reads the ids from standard input and stands alone")
    return args


def _print(reply: control.Reply) -> int:
    """Print what the action said; a refusal of the whole request is an error."""
    for line in reply.out:
        print(catalog.said(line))  # the daemon's English, in the clerk's language
    if reply.exit and not reply.out and len(reply.err) <= 1:
        control.raise_for(reply)
    for line in reply.err:
        print(f"printstation: {catalog.said(line)}", file=sys.stderr)
    return reply.exit


def change(settings: Settings, op: str, **args: object) -> int:
    """An operator action, through the daemon (or here when none runs: daemon/control.py)."""
    return _print(control.change(settings, op, args))


def queue_action(settings: Settings, action: str, job_ids: list[str], note: str) -> int:
    return change(settings, "queue", action=action, ids=ids_from(job_ids), note=note)


def resolve(settings: Settings, job_id: str, printed: bool, reason: str) -> int:
    return change(settings, "resolve", job=job_id, printed=printed, reason=reason)


def void(settings: Settings, key: str, reason: str) -> int:
    return change(settings, "void", invoice=key, reason=reason)


def reprint(settings: Settings, key: str, reason: str, printer: str | None) -> int:
    return change(settings, "reprint", invoice=key, reason=reason, printer=printer)


def paper_load(settings: Settings, printer: str, stock: str | None, code: str, first: str,
               last: str) -> int:
    return change(settings, "paper-load", printer=printer, stock=stock, code=code,
                  first=first, last=last)


def paper_spoil(settings: Settings, printer: str, stock: str | None, count: int,
                reason: str) -> int:
    return change(settings, "paper-spoil", printer=printer, stock=stock, count=count,
                  reason=reason)


def paper_show(conn: sqlite3.Connection | None, printer: str | None, as_json: bool,
               low: int = paper.LOW_STOCK) -> int:
    rows = paper.summary(conn, printer, low) if conn is not None else []
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(tables.table([{**r, "low": catalog.say("low.yes") if r["low"] else ""} for r in rows],
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
                   until: str | None, fmt: str, limit: int | None = None) -> int:
    """Events streamed from the journal's cursor, never all in memory: CSV and JSON row by
    row, the table a chunk at a time; `limit` stops the cursor after that many."""
    bounds = (_utc_bound(since) if since else None, _utc_bound(until) if until else None)
    rows: Iterable[sqlite3.Row] = queries.events_matching(conn, invoice, *bounds) \
        if conn is not None else []
    if limit is not None:
        rows = itertools.islice(rows, limit)
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
    events = ({"seq": r["seq"], "id": r["id"], "at": r["at"], "type": r["type"],
               "job": r["job_id"], "invoice": r["invoice_key"],
               "payload": json.loads(r["payload"])} for r in rows)
    if fmt == "json":
        # The same text as json.dumps(list, indent=2), one event at a time.
        first = True
        for event in events:
            text = json.dumps(event, ensure_ascii=False, indent=2).replace("\n", "\n  ")
            print(f"[\n  {text}" if first else f",\n  {text}", end="")
            first = False
        print("[]" if first else "\n]")
        return EXIT_OK
    # A table a chunk at a time: the widths of the first chunk, the header once.
    columns = ["seq", "at", "type", "job", "invoice", "payload"]
    shown = ({**e, "at": report.local_time(e["at"]),
              "payload": json.dumps(e["payload"], ensure_ascii=False)[:80]} for e in events)
    print(tables.table(list(itertools.islice(shown, 1000)), columns))
    while chunk := list(itertools.islice(shown, 1000)):
        print(tables.table(chunk, columns).split("\n", 1)[1])
    return EXIT_OK


def journal_verify(settings: Settings) -> int:
    if not settings.journal_path.exists():
        raise UsageError(f"no journal at {settings.journal_path}")
    conn = connect(settings.journal_path, readonly=True)
    meter = progress.Meter()
    total = journal_summary(conn)["events"] if meter.on else None
    try:
        checked, problem = verify_chain(
            conn, progress=lambda done: meter(catalog.say("prog.verify"), done, total))
    finally:
        meter.close()
    if problem:
        print(f"BROKEN: {problem} (the {checked} events before it are intact)")
        return EXIT_BAD
    print(f"OK: {checked} events, seq gap-free, hash chain intact")
    return EXIT_OK


def run_backup(settings: Settings, dest: Path) -> int:
    if not settings.journal_path.exists():
        raise UsageError(f"no journal at {settings.journal_path}")
    meter = progress.Meter()  # quiet when piped or run from cron
    try:
        done = backup(settings.journal_path, settings.station.data_dir / "archive", dest,
                      lambda stage, n, total: meter(catalog.say(f"prog.{stage}"), n, total))
    except BackupFailed as exc:
        raise StationError(str(exc)) from None
    finally:
        meter.close()
    print(f"backup in {dest}: journal.db ({done.events} events, integrity ok), "
          f"{done.files} archive files ({done.copied} copied), archive-index.json")
    for note in done.notes:
        print(f"note: {note}", file=sys.stderr)
    # The copy is complete either way; a problem (a refused link, a file that changed or
    # is missing) still fails the command, so that cron and the operator notice it.
    for problem in done.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if done.problems:
        print(f"backup: {len(done.problems)} problem(s), listed above and in "
              f"{dest / 'archive-index.json'}", file=sys.stderr)
        return EXIT_BAD
    return EXIT_OK


def journal_restore(settings: Settings, backup_path: Path,
                    as_owner: Callable[[], None]) -> int:
    """Restore as the data folder's owner, from a copy made first: a backup root wrote is
    root's to read, and the journal is written by the service user alone."""
    if not backup_path.is_file():
        raise UsageError(f"{backup_path}: no such file")
    who = operator()
    with tempfile.TemporaryDirectory(prefix="printstation-restore-") as folder:
        copy = Path(folder) / "journal.db"
        shutil.copyfile(backup_path, copy)
        owner = os.stat(settings.station.data_dir) if settings.station.data_dir.exists() \
            else None
        if owner is not None and os.geteuid() == 0:
            for path in (Path(folder), copy):
                os.chown(path, owner.st_uid, owner.st_gid)
        as_owner()
        found = continuity.restore(settings.station.data_dir, settings.station.id, copy, who,
                                   shown_as=backup_path)
    print(f"restored {backup_path} as {settings.journal_path} (last event seq {found.seq}); "
          "the journal it replaced, if any, was set aside beside it")
    return EXIT_OK
