"""`printstation sync [--now]` and `printstation reconcile [--json]`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from printstation.base.errors import (
    EXIT_OK,
    ConfigInvalid,
    Unavailable,
    UsageError,
)
from printstation.config import Settings
from printstation.daemon import control
from printstation.daemon import status as report
from printstation.daemon.context import Context
from printstation.daemon.stage_sync import SyncRunner
from printstation.daemon.sync_client import HeadOffice, SyncError, TokenProblem, read_token
from printstation.spool import outbox

from . import catalog, progress, tables


def _client(settings: Settings) -> HeadOffice:
    s = settings.sync
    if not s.url:
        raise UsageError("sync is off: set sync.url in the config")
    try:
        token = read_token(s.token_file)
    except TokenProblem as exc:
        raise ConfigInvalid(f"sync.token_file: {exc}") from None
    return HeadOffice(s.url, token, s.timeout_s, s.ca_file)


def show(settings: Settings, as_json: bool, now: dt.datetime) -> int:
    conn = report.read_journal(settings)
    doc = report.sync_state(conn, settings, report.runtime(settings, now), now)
    print(json.dumps(doc, ensure_ascii=False, indent=2) if as_json
          else "\n".join(tables.sync_text(doc)))
    return EXIT_OK


def now_(ctx: Context, as_json: bool, now: dt.datetime) -> int:
    """Ask the running daemon to sync at once; without one, send the backlog from here."""
    settings = ctx.settings
    if not settings.sync.url:
        raise UsageError("sync is off: set sync.url in the config")
    answer = control.ask_daemon(settings, "sync-now")
    if answer is not None:
        print(answer)
        return EXIT_OK
    runner = SyncRunner(ctx)
    runner.setup()
    meter = progress.Meter()  # on a terminal only: quiet in scripts
    try:
        runner.client = _client(settings)
        sent = 0
        total = outbox.backlog(runner.journal.conn).events if meter.on else 0
        while runner.deliver():
            sent += 1
            if meter.on:
                meter(catalog.say("prog.sync"),
                      total - outbox.backlog(runner.journal.conn).events, total)
    except SyncError as exc:
        raise Unavailable(f"head office: {exc}") from None
    finally:
        meter.close()
        runner.teardown()
        # Head office's acknowledgements were journaled here: a daemon started meanwhile
        # looks again (its sync worker sleeps until told).
        control.poke(settings)
    print(f"the daemon is not running; sent {sent} batch(es) from here")
    return show(settings, as_json, now)


def reconcile(settings: Settings, as_json: bool, now: dt.datetime) -> int:
    """Printed invoices head office does not hold, asked of head office itself."""
    conn = report.read_journal(settings)
    client = _client(settings)
    try:
        acked = client.acked_through(settings.station.id)
    except SyncError as exc:
        raise Unavailable(f"head office: {exc}") from None
    finally:
        client.close()
    believed = outbox.acked_through(conn) if conn is not None else 0
    missing = outbox.printed_after(conn, acked) if conn is not None else []
    for item in missing:
        item["age_s"] = round(outbox.age_s(item["printed_at"], now))
    doc: dict[str, Any] = {"station": settings.station.id, "head_office_acked_through": acked,
                           "station_believes_acked_through": believed,
                           "unacknowledged": missing}
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"head office holds this station's events through seq {acked}")
    if acked < believed:
        print(f"  it acknowledged up to {believed} before (restored from a backup?): the "
              "station sends the rest again")
    if not missing:
        print("every printed invoice is acknowledged")
        return EXIT_OK
    print(f"{len(missing)} printed invoice(s) not acknowledged:")
    rows = [{**m, "printed_at": report.local_time(m["printed_at"]),
             "age": report.age(m["printed_at"], now)} for m in missing]
    print(tables.table(rows, ["invoice", "total", "printed_at", "age", "job", "seq"]))
    return EXIT_OK
