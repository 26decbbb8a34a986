"""Read-only views of the journal for `status`, `queue` and `show`."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from printstation.config import Settings
from printstation.spool import State


def age(at: str, now: dt.datetime) -> str:
    seconds = int((now - dt.datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def local_time(at: str) -> str:
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone() \
        .strftime("%Y-%m-%d %H:%M:%S")


def status(conn: sqlite3.Connection | None, settings: Settings) -> dict[str, Any]:
    counts = {s.value: 0 for s in State}
    waiting: dict[str, int] = {}
    if conn is not None:
        for row in conn.execute("SELECT state, printer, count(*) AS n FROM jobs"
                                " GROUP BY state, printer"):
            counts[row["state"]] += row["n"]
            if row["state"] in ("queued", "submitted", "held", "deferred") and row["printer"]:
                waiting[row["printer"]] = waiting.get(row["printer"], 0) + row["n"]
    return {
        "station": settings.station.id,
        "config": list(settings.origin),
        "journal": str(settings.journal_path),
        "inbox": str(settings.intake.drop_dir),
        "jobs": counts,
        "printers": [{"name": p.name, "driver": p.driver,
                      "target": p.queue if p.driver == "cups" else str(p.path),
                      "stocks": list(p.stocks), "waiting": waiting.get(p.name, 0)}
                     for p in settings.printers],
    }


def status_text(doc: dict[str, Any]) -> str:
    lines = [f"station  {doc['station']}", f"config   {', '.join(doc['config'])}",
             f"journal  {doc['journal']}", f"inbox    {doc['inbox']}", "", "jobs"]
    lines += [f"  {state:<10} {n:>7}" for state, n in doc["jobs"].items()]
    lines += ["", "printers"]
    lines += [f"  {p['name']:<12} {p['driver']:<10} {p['target']}  waiting {p['waiting']}"
              for p in doc["printers"]]
    return "\n".join(lines)


def queue(conn: sqlite3.Connection | None, state: str | None, show_all: bool,
          now: dt.datetime) -> list[dict[str, Any]]:
    if conn is None:
        return []
    where, params = "", ()
    if state:
        where, params = "WHERE state = ?", (state,)
    elif not show_all:
        where = "WHERE state NOT IN ('printed', 'rejected', 'failed', 'cancelled')"
    rows = conn.execute(f"SELECT * FROM jobs {where} ORDER BY created_at, id", params)
    return [{"id": r["id"], "state": r["state"], "reason": r["reason"],
             "invoice": r["invoice_key"], "printer": r["printer"], "file": r["source_name"],
             "created_at": r["created_at"], "age": age(r["created_at"], now)} for r in rows]


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[str(r.get(c) or "-") for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    out = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in out)


def job_detail(conn: sqlite3.Connection, job_id: str) -> dict[str, Any] | None:
    job = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if job is None:
        return None
    events = conn.execute("SELECT seq, at, type, payload FROM events WHERE job_id = ?"
                          " ORDER BY seq", (job_id,)).fetchall()
    # sqlite3.Row iterates over values; keys() gives the column names.
    doc = {k: job[k] for k in job.keys() if k != "invoice_json"}  # noqa: SIM118
    doc["events"] = [dict(e) for e in events]
    return doc
