"""What a clerk and the finance software read: `X.error.txt` and `X.result.json`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from printstation.base import texts
from printstation.base.texts import EN, ZH
from printstation.invoice import Problem


def problems_text(problems: Sequence[Problem]) -> list[str]:
    return [p.line() for p in problems]


def job_errors(job: sqlite3.Row) -> list[dict[str, str]]:
    return json.loads(job["errors"]) if job["errors"] else []


def error_text(file_name: str, jobs: Sequence[sqlite3.Row], archived: bool,
               stored_as: str | None = None) -> str:
    """The report written beside a rejected file: every error of every invoice, each line
    in Chinese and in English (the words from base/texts.py).

    `file_name` is the name the file was dropped as; `stored_as`, the name it has in the
    rejected folder when that differs (the name was taken, or too long).
    """
    lines = [f"{texts.both('report.file')}: {file_name}"]
    if stored_as is not None and stored_as != file_name:
        lines.append(f"{texts.both('report.saved_as')}: {stored_as}"
                     f"（{texts.both('report.name_taken')}）")
    lines.append(texts.both("report.partial" if archived else "report.rejected"))
    for job in jobs:
        if job["state"] == "printed":
            continue
        label = f"{texts.both('report.invoice')} {job['invoice_key']}" if job["invoice_key"] \
            else texts.both("report.file")
        lines.append("")
        lines.append(f"{label} — {texts.both('report.job')} {job['id']} — "
                     f"{texts.state(job['state'], ZH)} / {texts.state(job['state'], EN)}")
        if job["reason"]:
            lines.append(f"  {texts.both('report.reason')}: {texts.reason(job['reason'], ZH)}"
                         f" / {texts.reason(job['reason'], EN)}")
        for err in job_errors(job):
            where = f" {err['field']}" if err["field"] else ""
            # A reader's or printer's detail may carry Python's name for an error.
            lines.append(f"  [{err['code']}]{where}: {texts.clean(err['zh'])} / "
                         f"{texts.clean(err['en'])}")
    return "\n".join(lines) + "\n"


def result_doc(file_name: str, jobs: Sequence[sqlite3.Row], at: str) -> dict[str, Any]:
    """`{"file","job","state","invoice","printer","paper","errors","at"}` (SPEC §5).

    A batch file has several jobs: the top level describes the first, `state` is
    "partial" when they ended differently, and `jobs` lists each one.
    """
    entries = [{"job": j["id"], "state": j["state"], "invoice": j["invoice_key"],
                "printer": j["printer"], "paper": None, "errors": job_errors(j)} for j in jobs]
    states = {e["state"] for e in entries}
    first = entries[0]
    return {
        "file": file_name, "job": first["job"],
        "state": states.pop() if len(states) == 1 else "partial",
        "invoice": first["invoice"], "printer": first["printer"], "paper": None,
        "errors": [err for e in entries for err in e["errors"]],
        "at": at, "jobs": entries,
    }
