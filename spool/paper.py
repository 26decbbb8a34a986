"""The paper ledger: every numbered sheet loaded into a printer, and how it ended.

A sheet is `loaded` (free, or held by the job it was given to), then `used`, `spoiled`
or `voided`; the journal says why. All writes happen inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the journal imports this module for its own transactions
    from .journal import Journal

LOW_STOCK = 20  # `status` warns below this many free sheets


class PaperError(Exception):
    """A ledger request that cannot be done; nothing was changed."""


@dataclass(frozen=True)
class Sheet:
    code: str
    number: str

    def __str__(self) -> str:
        return f"{self.code}-{self.number}" if self.code else self.number


def load(journal: Journal, printer: str, stock: str, code: str, first: str, last: str,
         operator: str) -> int:
    """Record the sheets first..last (numbers of equal width) as loaded; returns the count."""
    if not (first.isdigit() and last.isdigit()) or len(first) != len(last):
        raise PaperError("--from and --to are sheet numbers of the same number of digits")
    if int(last) < int(first):
        raise PaperError(f"--to {last} is before --from {first}")
    count = int(last) - int(first) + 1
    if count > 100_000:
        raise PaperError(f"{count} sheets in one range; load at most 100000 at a time")
    with journal.transaction() as c:
        taken = c.execute(
            "SELECT number FROM sheets WHERE stock = ? AND code = ? AND number BETWEEN ? AND ?"
            " ORDER BY number LIMIT 1", (stock, code, first, last)).fetchone()
        if taken:
            raise PaperError(f"sheet {Sheet(code, taken['number'])} of {stock} is already in "
                             "the ledger: a numbered sheet is loaded once")
        now = journal.now()
        range_id = c.execute(
            "INSERT INTO paper_ranges (printer, stock, code, first, last, loaded_at, loaded_by)"
            " VALUES (?,?,?,?,?,?,?)", (printer, stock, code, first, last, now, operator)
        ).lastrowid
        width = len(first)
        c.executemany(
            "INSERT INTO sheets (range_id, printer, stock, code, number, updated_at)"
            " VALUES (?,?,?,?,?,?)",
            ((range_id, printer, stock, code, str(n).zfill(width), now)
             for n in range(int(first), int(last) + 1)))
        journal.append_event("paper.loaded", payload={
            "printer": printer, "stock": stock, "code": code, "from": first, "to": last,
            "count": count, "operator": operator})
    return count


def next_free(conn: sqlite3.Connection, printer: str, stock: str) -> Sheet | None:
    """The next sheet the printer will feed: the first loaded one no job holds."""
    row = conn.execute(
        "SELECT code, number FROM sheets WHERE printer = ? AND stock = ? AND state = 'loaded'"
        " AND job_id IS NULL ORDER BY id LIMIT 1", (printer, stock)).fetchone()
    return Sheet(row["code"], row["number"]) if row else None


def reserve(conn: sqlite3.Connection, sheet: Sheet, stock: str, job_id: str, now: str) -> None:
    conn.execute("UPDATE sheets SET job_id = ?, updated_at = ? WHERE stock = ? AND code = ?"
                 " AND number = ? AND state = 'loaded' AND job_id IS NULL",
                 (job_id, now, stock, sheet.code, sheet.number))


def settle(conn: sqlite3.Connection, job_id: str, state: str, invoice_key: str | None,
           reason: str | None, now: str) -> None:
    """The sheet a job holds ends `used` or `spoiled` (the job printed, or it was lost)."""
    conn.execute("UPDATE sheets SET state = ?, invoice_key = ?, reason = ?, updated_at = ?"
                 " WHERE job_id = ? AND state = 'loaded'",
                 (state, invoice_key, reason, now, job_id))


def release(conn: sqlite3.Connection, job_id: str, now: str) -> None:
    """A job that goes back to waiting no longer holds a sheet."""
    conn.execute("UPDATE sheets SET job_id = NULL, updated_at = ? WHERE job_id = ?"
                 " AND state = 'loaded'", (now, job_id))


def spoil(journal: Journal, printer: str, stock: str, count: int, reason: str,
          operator: str) -> list[Sheet]:
    """Spoil the next `count` free sheets (jammed, misprinted, torn)."""
    with journal.transaction() as c:
        rows = c.execute(
            "SELECT id, code, number FROM sheets WHERE printer = ? AND stock = ?"
            " AND state = 'loaded' AND job_id IS NULL ORDER BY id LIMIT ?",
            (printer, stock, count)).fetchall()
        if len(rows) < count:
            raise PaperError(f"only {len(rows)} free sheet(s) of {stock} in {printer}")
        now = journal.now()
        c.executemany("UPDATE sheets SET state = 'spoiled', reason = ?, updated_at = ?"
                      " WHERE id = ?", ((reason, now, r["id"]) for r in rows))
        sheets = [Sheet(r["code"], r["number"]) for r in rows]
        journal.append_event("paper.spoiled", payload={
            "printer": printer, "stock": stock, "sheets": [str(s) for s in sheets],
            "reason": reason, "operator": operator})
    return sheets


def void_sheet(conn: sqlite3.Connection, invoice_key: str, reason: str, now: str) -> Sheet | None:
    row = conn.execute("SELECT id, code, number FROM sheets WHERE invoice_key = ?"
                       " AND state = 'used' ORDER BY id DESC LIMIT 1", (invoice_key,)).fetchone()
    if row is None:
        return None
    conn.execute("UPDATE sheets SET state = 'voided', reason = ?, updated_at = ? WHERE id = ?",
                 (reason, now, row["id"]))
    return Sheet(row["code"], row["number"])


def summary(conn: sqlite3.Connection, printer: str | None = None) -> list[dict]:
    """Per printer and stock: sheets by state, and the next free one."""
    where, params = ("WHERE printer = ?", (printer,)) if printer else ("", ())
    rows = conn.execute(
        f"SELECT printer, stock, state, job_id IS NOT NULL AS held, count(*) AS n FROM sheets"
        f" {where} GROUP BY printer, stock, state, held ORDER BY printer, stock", params)
    found: dict[tuple[str, str], dict] = {}
    for row in rows:
        entry = found.setdefault((row["printer"], row["stock"]), {
            "printer": row["printer"], "stock": row["stock"], "loaded": 0, "free": 0,
            "in_printer": 0, "used": 0, "spoiled": 0, "voided": 0})
        entry["loaded"] += row["n"]
        if row["state"] == "loaded":
            entry["in_printer" if row["held"] else "free"] += row["n"]
        else:
            entry[row["state"]] += row["n"]
    for entry in found.values():
        sheet = next_free(conn, entry["printer"], entry["stock"])
        entry["next"] = str(sheet) if sheet else None
        entry["low"] = entry["free"] < LOW_STOCK
    return list(found.values())
