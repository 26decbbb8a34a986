"""What the station is doing, read from the journal and the daemon's runtime file: the
documents behind `status`, `queue` and `show` (and the web console). Text is `cli/tables.py`."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

from printstation.config import Settings
from printstation.drivers import health_words
from printstation.spool import State, outbox, paper, queries

from . import health, offline


def age(at: str, now: dt.datetime) -> str:
    seconds = int((now - dt.datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def local_time(at: str) -> str:
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone() \
        .strftime("%Y-%m-%d %H:%M:%S")


def read_journal(settings: Settings) -> sqlite3.Connection | None:
    """The journal opened read-only for a view, or None before the first run."""
    return queries.open_readonly(settings.journal_path)


# Jobs that still wait for their printer.
WAITING = frozenset({State.QUEUED, State.SUBMITTED, State.HELD, State.DEFERRED})
# Held for a cause a person must fix (print_failures.py) before releasing the job.
HELD_FOR_FIX = ("render.failed", "printer.refused", "printer.missing")
STALE_S = 30  # a runtime file older than this means the daemon is not running
SYNC_STUCK_S = 3600
DISK_FREE_MIN = 0.05


def runtime(settings: Settings, now: dt.datetime) -> dict[str, Any] | None:
    """The running daemon's own report, when it is alive and fresh."""
    try:
        doc = json.loads(settings.runtime_file.read_text(encoding="utf-8"))
        os.kill(doc["pid"], 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError):
        return None
    except PermissionError:
        pass  # another user's process: alive
    updated = dt.datetime.fromisoformat(doc["updated_at"].replace("Z", "+00:00"))
    return doc if (now - updated).total_seconds() < STALE_S else None


def problems(doc: dict[str, Any], settings: Settings, now: dt.datetime) -> list[str]:
    """Why the station is unhealthy (`status --check`), or nothing."""
    found = []
    daemon = doc.get("daemon")
    if daemon is None:
        found.append("the daemon is not running")
    else:
        found += [f"printer {p['name']} is down" + (f": {why}" if (why := _why_down(p)) else "")
                  for p in daemon["printers"] if not p["up"]]
        found += [f"{r['name']}: {r['error']}" for r in daemon["runners"]
                  if r["error"] and not r["name"].startswith("printer:")]
        # A stage whose thread ended, or whose loop stopped coming round (health.py). The
        # runtime file written before the stages start (no started_at yet) has none alive.
        found += [f"{r['name']} is not running (its thread ended)" for r in daemon["runners"]
                  if daemon.get("started_at") and not r.get("alive", True)]
        found += [f"{r['name']} is stuck: its loop has not come round for "
                  f"{r.get('beat_age_s', 0):.0f} s" for r in daemon["runners"]
                  if r.get("alive", True) and r.get("stuck")]
        reload = daemon.get("last_reload") or {}
        if reload and not reload.get("ok"):
            found.append(f"the last reload failed: {reload.get('error')}")
    if doc["jobs"].get("uncertain"):
        found.append(f"{doc['jobs']['uncertain']} job(s) uncertain: settle with "
                     "`printstation resolve`")
    sync = doc["sync"]
    if sync["state"] in ("paused", "halted"):
        found.append(f"sync is {sync['state']}: {sync['last_error']}")
    found += [f"{n} job(s) held ({reason}): fix the cause, then `printstation release` them"
              for reason, n in sorted(doc.get("held_for_fix", {}).items())]
    found += [o["problem"] for o in doc.get("spool_orphans", [])]
    held = doc.get("offline_held", 0)
    if held:
        found.append(f"{held} job(s) held by the offline limit until head office catches up")
    if settings.sync.url and sync["backlog_age_s"] > SYNC_STUCK_S:
        found.append(f"sync is stuck: the oldest unsent event is {sync['backlog_age_s']:.0f} s old")
    usage = shutil.disk_usage(settings.station.data_dir if settings.station.data_dir.exists()
                              else Path("/"))
    if usage.free < usage.total * DISK_FREE_MIN:
        found.append(f"the disk of {settings.station.data_dir} is nearly full "
                     f"({usage.free / 2**20:.0f} MiB free)")
    return found


def status(conn: sqlite3.Connection | None, settings: Settings,
           now: dt.datetime | None = None) -> dict[str, Any]:
    counts = {s.value: 0 for s in State}
    waiting: dict[str, int] = {}
    if conn is not None:
        for row in queries.jobs_per_state_printer(conn):
            counts[row["state"]] += row["n"]
            if row["state"] in WAITING and row["printer"]:
                waiting[row["printer"]] = waiting.get(row["printer"], 0) + row["n"]
    now = now or dt.datetime.now(dt.UTC)
    daemon = runtime(settings, now)
    budget = offline.budget(conn, settings, now) if conn is not None else None
    up = {p["name"]: p["up"] for p in daemon["printers"]} if daemon else {}
    seen = {p["name"]: p for p in daemon["printers"]} if daemon else {}
    return {
        "station": settings.station.id,
        "config": list(settings.origin),
        "journal": str(settings.journal_path),
        "inbox": str(settings.intake.drop_dir),
        "daemon": daemon,
        "sync": sync_state(conn, settings, daemon, now),
        "offline": budget.as_dict() if budget else None,
        "jobs": counts,
        "offline_held": queries.count_held(conn, "offline.limit") if conn is not None else 0,
        "held_for_fix": queries.held_per_reason(conn, HELD_FOR_FIX) if conn is not None
        else {},
        "spool_orphans": [{"name": o.name, "source_state": o.source_state,
                           "age_s": round(o.age_s), "problem": o.describe()}
                          for o in health.spool_orphans(settings, now.timestamp())],
        "paper": _paper(conn, settings),
        "printers": [{"name": p.name, "driver": p.driver,
                      "target": p.queue if p.driver == "cups" else str(p.path),
                      "stocks": list(p.stocks), "waiting": waiting.get(p.name, 0),
                      # The offset in force per stock (mm): the config's, or a clerk's.
                      "offsets": {s: list(p.offset_for(s)) for s in p.stocks},
                      "up": up.get(p.name),
                      "health": _health(seen.get(p.name), p.driver)}
                     for p in settings.printers],
    }


def _why_down(printer: dict[str, Any]) -> str:
    """The daemon's error, else what the printer itself says (已暂停 / paused (paused))."""
    if printer.get("error"):
        return printer["error"]
    device = printer.get("device") or {}
    return health_words.line(health_words.health(device)) if device.get("reasons") else ""


def _health(seen: dict[str, Any] | None, driver: str) -> dict[str, Any]:
    """The printer's health in words (缺纸, 脱机…) with CUPS's own reasons beside them
    (drivers/health_words.py), from what the running daemon last read."""
    if seen is None:
        return health_words.health(None)
    found = health_words.health(seen.get("device"), seen.get("error"), seen.get("up"))
    if driver == "cups" and seen.get("device") is None and not seen.get("error"):
        # Up, but its state not read yet (just started): say so rather than "ready".
        found.update(zh="未知", en="unknown")
    return found


def _paper(conn: sqlite3.Connection | None, settings: Settings) -> list[dict[str, Any]]:
    """The ledger per printer and stock; `low` below `[alerts] low_sheets`."""
    entries = paper.summary(conn) if conn is not None else []
    for entry in entries:
        entry["low"] = entry["free"] < settings.alerts.low_sheets
    return entries


def sync_state(conn: sqlite3.Connection | None, settings: Settings,
               daemon: dict[str, Any] | None, now: dt.datetime) -> dict[str, Any]:
    """The outbox as the journal has it, with the worker's own report when it runs."""
    found = outbox.backlog(conn) if conn is not None else outbox.Backlog(0, None)
    worker = (daemon or {}).get("sync") or {}
    state = worker.get("state", "stopped (daemon not running)") if settings.sync.url \
        else "off"
    return {"url": _shown_url(settings.sync.url), "state": state,
            "acked_through": outbox.acked_through(conn) if conn is not None else 0,
            "backlog": found.events, "oldest_at": found.oldest_at,
            "backlog_age_s": outbox.age_s(found.oldest_at, now),
            "last_ok_at": worker.get("last_ok_at"), "last_error": worker.get("last_error"),
            "last_error_at": worker.get("last_error_at"),
            "next_attempt_at": worker.get("next_attempt_at")}


def queue(conn: sqlite3.Connection | None, state: str | None, show_all: bool,
          now: dt.datetime) -> list[dict[str, Any]]:
    if conn is None:
        return []
    rows = queries.jobs_listed(conn, state, show_all)
    return [{"id": r["id"], "state": r["state"], "reason": r["reason"],
             "invoice": r["invoice_key"], "printer": r["printer"], "file": r["source_name"],
             "created_at": r["created_at"], "age": age(r["created_at"], now)} for r in rows]


def job_detail(conn: sqlite3.Connection, job_id: str) -> dict[str, Any] | None:
    job = queries.job(conn, job_id)
    if job is None:
        return None
    events = queries.job_events(conn, job_id)
    # sqlite3.Row iterates over values; keys() gives the column names.
    doc = {k: job[k] for k in job.keys() if k != "invoice_json"}  # noqa: SIM118
    doc["events"] = [dict(e) for e in events]
    return doc


def _shown_url(url: str) -> str:
    """The sync URL without a user:password part: anyone may ask for `status`."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
