"""Text for a person at a terminal: the status page, tables, the sync summary."""

from __future__ import annotations

from typing import Any

from printstation.daemon.status import local_time


def sync_text(sync: dict[str, Any]) -> list[str]:
    if not sync["url"]:
        return ["sync     off (no sync.url): the journal is kept, nothing is sent"]
    lines = [f"sync     {sync['state']} -> {sync['url']}",
             f"  backlog        {sync['backlog']} events"
             + (f", oldest {local_time(sync['oldest_at'])} ({sync['backlog_age_s']:.0f} s)"
                if sync["oldest_at"] else ""),
             f"  acknowledged   through seq {sync['acked_through']}"]
    if sync["last_ok_at"]:
        lines.append(f"  last success   {local_time(sync['last_ok_at'])}")
    if sync["last_error"]:
        lines.append(f"  last error     {sync['last_error']}"
                     + (f" ({local_time(sync['last_error_at'])})" if sync["last_error_at"]
                        else ""))
    if sync["next_attempt_at"]:
        lines.append(f"  next attempt   {local_time(sync['next_attempt_at'])}")
    return lines


def status_text(doc: dict[str, Any]) -> str:
    daemon = doc["daemon"]
    state = f"running (pid {daemon['pid']}, since {local_time(daemon['started_at'])})" \
        if daemon else "not running"
    lines = [f"station  {doc['station']}", f"daemon   {state}",
             f"config   {', '.join(doc['config'])}",
             f"journal  {doc['journal']}", f"inbox    {doc['inbox']}"]
    if daemon and daemon.get("last_reload") and not daemon["last_reload"]["ok"]:
        lines.append(f"reload   FAILED at {local_time(daemon['last_reload']['at'])}: "
                     f"{daemon['last_reload']['error']} (the old config is in use)")
    lines += sync_text(doc["sync"])
    budget = doc["offline"]
    if budget:
        lines.append(f"offline  {budget['printed']} printed invoice(s) unacknowledged, total "
                     f"{budget['total']}, oldest {budget['age_h']:.1f} h (limits: "
                     f"{budget['max_hours'] or '-'} h, {budget['max_total']})")
        if budget["warning"]:
            lines.append(f"  WARNING: {budget['warning']}")
    lines += ["", "jobs"]
    lines += [f"  {state:<10} {n:>7}" for state, n in doc["jobs"].items()]
    if doc["paper"]:
        lines += ["", "paper"]
        lines += [f"  {p['printer']:<12} {p['stock']:<13} {p['free']:>6} free  next "
                  f"{p['next'] or '-'}" + ("  LOW: load more sheets" if p["low"] else "")
                  for p in doc["paper"]]
    lines += ["", "printers"]
    lines += [f"  {p['name']:<12} {p['driver']:<10} "
              f"{'up' if p['up'] else 'DOWN' if p['up'] is False else '-':<5} "
              f"{p['target']}  waiting {p['waiting']}" for p in doc["printers"]]
    return "\n".join(lines)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [["-" if r.get(c) in (None, "") else str(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    out = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in out)
