"""CSV for finance: the invoice search and the daily totals, with the page's filters.

UTF-8 with a byte-order mark, so that Excel opens Chinese text as Chinese; headings in the
page's language; amounts as exact decimals (integer fen written as yuan, never a float);
a text cell that a spreadsheet would take for a formula (= + - @) starts with an
apostrophe. The rows are streamed from the database as they are written (PostgreSQL: a
server-side cursor), so a million invoices never sit in memory at once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Blueprint, Response

from . import board_format as fmt
from . import board_queries as q
from . import board_words
from .board_app import board, lang, t
from .board_pages import daily_range, search_args

bp = Blueprint("board_export", __name__)
BOM = "\ufeff"


def csv_lines(head: list[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    """The file, line by line: the BOM and the headings, then one line per row. Every
    cell is guarded (`fmt.csv_cell`) but the amounts and counts this module wrote itself,
    which are passed as `Exact`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: list[Any]) -> bytes:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([c.text if isinstance(c, Exact) else fmt.csv_cell(c) for c in cells])
        return buffer.getvalue().encode("utf-8")

    yield BOM.encode("utf-8") + line(head)
    for row in rows:
        yield line(row)


class Exact:
    """A number this module formatted (a count, an amount): written as it is, since a
    negative amount (a red-letter invoice) is a number, not a formula."""

    __slots__ = ("text",)

    def __init__(self, value: Any):
        self.text = "" if value is None else str(value)


def attachment(name: str, lines: Iterator[bytes]) -> Response:
    return Response(lines, mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/invoices.csv")
def invoices_csv() -> Response:
    search = search_args()
    language = lang()
    head = [board_words.t(i, language) for i in board_words.INVOICE_CSV]
    states = {s: t(f"state.{s}") for s in ("printed", "voided")}
    # Read now, in the request: the rows are written after the view has returned.
    found = q.search_rows(board().store, search)

    def rows() -> Iterator[list[Any]]:
        for r in found:
            yield [r["station"], r["code"], r["number"], r["kind"], r["date"],
                   r["buyer_name"], r["buyer_tin"],
                   # Not an amount (total_fen NULL): the text as the station sent it,
                   # guarded like any other text.
                   Exact(fmt.yuan(r["total_fen"])) if r["total_fen"] is not None
                   else r["total"],
                   states.get(r["state"], r["state"]), Exact(r["print_count"]),
                   fmt.china_time(r["printed_at"]), fmt.china_time(r["voided_at"]),
                   r["job_id"], r["invoice_key"]]

    return attachment("invoices.csv", csv_lines(head, rows()))


@bp.get("/daily.csv")
def daily_csv() -> Response:
    since, until, station_id = daily_range()
    language = lang()
    head = [board_words.t(i, language) for i in board_words.DAILY_CSV]
    found = q.daily_rows(board().store, since, until, station_id)
    overflow = t("total.overflow")

    def rows() -> Iterator[list[Any]]:
        for r in found:
            # No sum (it overflowed): a word saying so, not an empty cell read as 0.
            total = Exact(fmt.yuan(r["fen"])) if r["fen"] is not None else overflow
            yield [Exact(r["day"]), r["station"], Exact(r["printed"]), Exact(r["voided"]),
                   total, Exact(r["unpriced"])]

    return attachment(f"daily-{since}-{until}.csv", csv_lines(head, rows()))
