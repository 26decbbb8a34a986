"""The paper ledger: every numbered sheet loaded into a printer, and how it ended.

A sheet is `loaded` (free, or held by the job it was given to), then `used`, `spoiled`
or `voided`; the journal says why. All writes happen inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from printstation.base.errors import StationError

from .states import SHEET, SheetState

if TYPE_CHECKING:  # the journal imports this module for its own transactions
    from .journal import Journal

LOW_STOCK = 20  # `status` warns below this many free sheets


class PaperError(StationError):
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
    if not (first.isascii() and first.isdigit() and last.isascii() and last.isdigit()) \
            or len(first) != len(last):
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
            "INSERT INTO sheets (range_id, printer, stock, code, number, state, updated_at)"
            " VALUES (?,?,?,?,?,?,?)",
            ((range_id, printer, stock, code, str(n).zfill(width), SheetState.LOADED.value, now)
             for n in range(int(first), int(last) + 1)))
        journal.append_event("paper.loaded", payload={
            "printer": printer, "stock": stock, "code": code, "from": first, "to": last,
            "count": count, "operator": operator})
    return count


def next_free(conn: sqlite3.Connection, printer: str, stock: str) -> Sheet | None:
    """The next sheet the printer will feed: the first loaded one no job holds."""
    row = conn.execute(
        "SELECT code, number FROM sheets WHERE printer = ? AND stock = ? AND state = ?"
        " AND job_id IS NULL ORDER BY id LIMIT 1",
        (printer, stock, SheetState.LOADED.value)).fetchone()
    return Sheet(row["code"], row["number"]) if row else None


def reserve(conn: sqlite3.Connection, sheet: Sheet, stock: str, job_id: str, now: str) -> None:
    conn.execute("UPDATE sheets SET job_id = ?, updated_at = ? WHERE stock = ? AND code = ?"
                 " AND number = ? AND state = ? AND job_id IS NULL",
                 (job_id, now, stock, sheet.code, sheet.number, SheetState.LOADED.value))


def settle(conn: sqlite3.Connection, job_id: str, state: SheetState, invoice_key: str | None,
           reason: str | None, now: str) -> None:
    """The sheet a job holds ends `used` or `spoiled` (the job printed, or it was lost)."""
    SHEET.check(f"held by job {job_id}", SheetState.LOADED, state)
    conn.execute("UPDATE sheets SET state = ?, invoice_key = ?, reason = ?, updated_at = ?"
                 " WHERE job_id = ? AND state = ?",
                 (state.value, invoice_key, reason, now, job_id, SheetState.LOADED.value))


def release(conn: sqlite3.Connection, job_id: str, now: str) -> None:
    """A job that goes back to waiting no longer holds a sheet."""
    conn.execute("UPDATE sheets SET job_id = NULL, updated_at = ? WHERE job_id = ?"
                 " AND state = ?", (now, job_id, SheetState.LOADED.value))


def spoil(journal: Journal, printer: str, stock: str, count: int, reason: str,
          operator: str) -> list[Sheet]:
    """Spoil the next `count` free sheets (jammed, misprinted, torn)."""
    with journal.transaction() as c:
        rows = c.execute(
            "SELECT id, code, number FROM sheets WHERE printer = ? AND stock = ?"
            " AND state = ? AND job_id IS NULL ORDER BY id LIMIT ?",
            (printer, stock, SheetState.LOADED.value, count)).fetchall()
        if len(rows) < count:
            raise PaperError(f"only {len(rows)} free sheet(s) of {stock} in {printer}")
        now = journal.now()
        sheets = [Sheet(r["code"], r["number"]) for r in rows]
        # Every one of them was selected loaded: one check covers the lot.
        SHEET.check(", ".join(map(str, sheets)), SheetState.LOADED, SheetState.SPOILED)
        c.executemany("UPDATE sheets SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
                      ((SheetState.SPOILED.value, reason, now, r["id"]) for r in rows))
        journal.append_event("paper.spoiled", payload={
            "printer": printer, "stock": stock, "sheets": [str(s) for s in sheets],
            "reason": reason, "operator": operator})
    return sheets


def void_sheet(conn: sqlite3.Connection, invoice_key: str, reason: str, now: str) -> Sheet | None:
    """Void the sheet the invoice `invoice_key` was last printed on, if the ledger has one."""
    row = conn.execute("SELECT id, code, number, state FROM sheets WHERE invoice_key = ?"
                       " AND state = ? ORDER BY id DESC LIMIT 1",
                       (invoice_key, SheetState.USED.value)).fetchone()
    if row is None:
        return None
    sheet = Sheet(row["code"], row["number"])
    SHEET.check(str(sheet), row["state"], SheetState.VOIDED)
    conn.execute("UPDATE sheets SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
                 (SheetState.VOIDED.value, reason, now, row["id"]))
    return sheet


def summary(conn: sqlite3.Connection, printer: str | None = None,
            low: int = LOW_STOCK) -> list[dict]:
    """Per printer and stock: sheets by state, the next free one, and whether fewer than
    `low` are free (`[alerts] low_sheets`)."""
    where, params = ("WHERE printer = ?", (printer,)) if printer else ("", ())
    rows = conn.execute(
        f"SELECT printer, stock, state, job_id IS NOT NULL AS held, count(*) AS n FROM sheets"
        f" {where} GROUP BY printer, stock, state, held ORDER BY printer, stock", params)
    found: dict[tuple[str, str], dict] = {}
    for row in rows:
        entry = found.setdefault((row["printer"], row["stock"]), {
            "printer": row["printer"], "stock": row["stock"], "loaded": 0, "free": 0,
            "in_printer": 0, **{state.value: 0 for state in SheetState
                                if state != SheetState.LOADED}})
        # "loaded" counts every sheet ever loaded; one still in the loaded state is counted
        # again as free or in the printer, the others by the state they ended in.
        entry["loaded"] += row["n"]
        if row["state"] == SheetState.LOADED:
            entry["in_printer" if row["held"] else "free"] += row["n"]
        else:
            entry[row["state"]] += row["n"]
    for entry in found.values():
        sheet = next_free(conn, entry["printer"], entry["stock"])
        entry["next"] = str(sheet) if sheet else None
        entry["low"] = entry["free"] < low
    return list(found.values())
