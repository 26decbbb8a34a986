"""Text for a person at a terminal: the status page, tables, one job, the sync summary.

Every word comes from the message catalogue in the clerk's language (cli/catalog.py), every
time is local, and columns are measured as a terminal draws them: a Chinese character
takes two columns.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from typing import Any

from printstation.base.texts import TEXTS
from printstation.daemon.status import local_time

from .catalog import clean, lang, reason, said, say, state


def width(text: str) -> int:
    """Columns `text` takes on a terminal: East Asian wide and fullwidth characters take
    two, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    """`text` filled with spaces to `columns` terminal columns."""
    return text + " " * max(columns - width(text), 0)


def _label(msg_id: str) -> str:
    return pad(say(msg_id), 8) + " "


def _sub(msg_id: str) -> str:
    return "  " + pad(say(msg_id), 14) + " "


def sync_text(sync: dict[str, Any]) -> list[str]:
    if not sync["url"]:
        return [_label("status.sync") + say("status.sync_off")]
    shown = say(f"sync.{sync['state']}") if f"sync.{sync['state']}" in TEXTS \
        else sync["state"]
    lines = [_label("status.sync") + say("status.sync_state", state=shown, url=sync["url"]),
             _sub("status.backlog") + say("status.backlog_n", n=sync["backlog"])
             + (say("status.backlog_oldest", at=local_time(sync["oldest_at"]),
                    age=f"{sync['backlog_age_s']:.0f}") if sync["oldest_at"] else ""),
             _sub("status.acked") + say("status.acked_n", seq=sync["acked_through"])]
    if sync["last_ok_at"]:
        lines.append(_sub("status.last_ok") + local_time(sync["last_ok_at"]))
    if sync["last_error"]:
        lines.append(_sub("status.last_error") + clean(sync["last_error"])
                     + (f" ({local_time(sync['last_error_at'])})" if sync["last_error_at"]
                        else ""))
    if sync["next_attempt_at"]:
        lines.append(_sub("status.next_try") + local_time(sync["next_attempt_at"]))
    return lines


def status_text(doc: dict[str, Any]) -> str:
    daemon = doc["daemon"]
    running = say("status.running", pid=daemon["pid"], since=local_time(daemon["started_at"])) \
        if daemon else say("status.not_running")
    lines = [_label("status.station") + doc["station"], _label("status.daemon") + running,
             _label("status.config") + ", ".join(doc["config"]),
             _label("status.journal") + doc["journal"], _label("status.inbox") + doc["inbox"]]
    if daemon and daemon.get("last_reload") and not daemon["last_reload"]["ok"]:
        lines.append(_label("status.reload") + say(
            "status.reload_failed", at=local_time(daemon["last_reload"]["at"]),
            error=clean(str(daemon["last_reload"]["error"]))))
    lines += sync_text(doc["sync"])
    budget = doc["offline"]
    if budget:
        lines.append(_label("status.offline") + say(
            "status.budget", printed=budget["printed"], total=budget["total"],
            age=f"{budget['age_h']:.1f}", hours=budget["max_hours"] or "-",
            max_total=budget["max_total"]))
        if budget["warning"]:
            lines.append("  " + say("status.warning", text=said(budget["warning"])))
    lines += ["", say("status.jobs")]
    lines += [f"  {pad(state(name), 10)} {n:>7}" for name, n in doc["jobs"].items()]
    if doc["paper"]:
        lines += ["", say("status.paper")]
        lines += [f"  {pad(p['printer'], 12)} {pad(p['stock'], 13)} "
                  + say("status.paper_row", free=f"{p['free']:>6}", next=p["next"] or "-")
                  + ("  " + say("status.paper_low") if p["low"] else "")
                  for p in doc["paper"]]
    lines += ["", say("status.printers")]
    lines += [f"  {pad(p['name'], 12)} {pad(p['driver'], 10)} "
              f"{pad(_up(p['up']), 5)} {p['target']}  " + say("status.waiting", n=p["waiting"])
              + _health(p) for p in doc["printers"]]
    return "\n".join(lines)


def _health(p: dict[str, Any]) -> str:
    """The printer's health in words, CUPS's own reasons beside them (as `lpstat -p`)."""
    found = p.get("health") or {}
    if not found or found.get("en") == "unknown":
        return ""
    words = found["zh"] if lang() == "zh" else found["en"]
    return f"  {words}" + (f" ({', '.join(found['reasons'])})" if found["reasons"] else "")


def _up(up: bool | None) -> str:
    return "-" if up is None else say("status.up") if up else say("status.down")


def age(at: str, now: dt.datetime) -> str:
    """How long ago `at` was, in the clerk's words: `5m`, `5 分钟`."""
    seconds = int((now - dt.datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return say(f"age.{unit}", n=seconds // size)
    return say("age.s", n=max(seconds, 0))


def queue_text(rows: list[dict[str, Any]], now: dt.datetime) -> str:
    """`queue`: each job's state and reason in words, its age from now."""
    return table([{**r, "state": state(r["state"]), "reason": reason(r["reason"]),
                   "age": age(r["created_at"], now)} for r in rows],
                 ["id", "state", "reason", "invoice", "printer", "age"])


# Columns of a job that hold a time (UTC in the journal, local on the screen).
_TIMES = frozenset({"created_at", "updated_at", "next_attempt_at"})


def job_text(doc: dict[str, Any]) -> str:
    """`show`: one job's columns, its problems in the clerk's language, its events."""
    language = lang()
    lines = []
    for key, value in doc.items():
        if key in ("events", "errors"):
            continue
        if value is None or value == "":
            shown = "-"
        elif key == "state":
            shown = state(value)
        elif key == "reason":
            shown = reason(value) if value in reason(value) else \
                f"{reason(value)}（{value}）" if language == "zh" else f"{reason(value)} ({value})"
        elif key in _TIMES:
            shown = local_time(value)
        else:
            shown = str(value)
        label = say(f"field.{key}") if f"field.{key}" in TEXTS else key
        lines.append(f"{pad(label, 16)} {shown}")
    problems = json.loads(doc["errors"]) if doc.get("errors") else []
    if problems:
        lines.append(say("field.errors"))
        for err in problems:
            where = f" {err['field']}" if err.get("field") else ""
            lines.append(f"  [{err['code']}]{where}: "
                         + clean(err["zh"] if language == "zh" else err["en"]))
    lines += ["", say("show.events")]
    lines += [f"  {e['seq']:>6}  {local_time(e['at'])}  {e['type']:<16} {e['payload']}"
              for e in doc["events"]]
    return "\n".join(lines)


def heading(column: str) -> str:
    """A column's heading: the catalogue's word for it, else its name in capitals."""
    return say(f"col.{column}") if f"col.{column}" in TEXTS else column.upper()


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [["-" if r.get(c) in (None, "") else str(r.get(c)) for c in columns] for r in rows]
    heads = [heading(c) for c in columns]
    widths = [max([width(h)] + [width(row[i]) for row in cells]) for i, h in enumerate(heads)]
    out = ["  ".join(pad(h, w) for h, w in zip(heads, widths, strict=True))]
    out += ["  ".join(pad(v, w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in out)
