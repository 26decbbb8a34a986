"""The page a job prints, and pictures of it for the web console.

`job_document` makes the PDF a job prints: the print stage calls it for every job, so a
picture of a job not yet printed is drawn by the very code that will draw its page. A job
that went to the printer is shown by the page that went: its PDF is kept in the archive
beside its file (stage_print.archive_render). The calibration preview is the stock's
sample invoice drawn with an offset over the blank form, as `printstation preview
--background` draws it.

Pictures are the first page, as PNG, through pdftoppm (drivers/preview.py).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from printstation import config as config_package
from printstation.base.errors import Unavailable
from printstation.config import PrinterSettings
from printstation.drivers import render_invoice
from printstation.drivers.preview import png_of
from printstation.invoice import Invoice, invoice_from_dict, read_file
from printstation.spool import State, console_queries

from .asis_print import asis_of, printable
from .context import Context
from .prerender import Args

# The shipped sample invoices (package data): one per built-in stock.
SAMPLES = Path(config_package.__file__).parent / "samples"
# Jobs whose page was handed to the printer: their picture is the archived page.
SENT = frozenset({State.SUBMITTED, State.PRINTED, State.UNCERTAIN, State.FAILED})
# Enough to read a form on a screen, and no page a worker spends seconds on.
MIN_DPI, MAX_DPI = 20, 300
# The plain-paper stock an e-invoice PDF or OFD prints on, as it looks.
ASIS_STOCK = "einvoice"
# As far as `calibrate --offset` may move a print (daemon/control_ops.py).
MAX_OFFSET_MM = 50.0


class NoPicture(KeyError):
    """The job has no page to show: nothing was read from its file (incoming, rejected),
    or the file its page is drawn from is gone."""


def stock_name(doc: dict[str, Any]) -> str | None:
    """The stock a job prints on: its invoice's kind, or plain paper for an e-invoice PDF
    or OFD printed as it looks."""
    return ASIS_STOCK if asis_of(doc) is not None else doc.get("kind")


def render_args(ctx: Context, printer: PrinterSettings | None, job: sqlite3.Row,
                doc: dict[str, Any]) -> Args:
    """What an invoice drawn from data is rendered with: its stock, the printer's offset
    for that stock (none for a job without a printer yet) and the PDF's title."""
    stock = ctx.stocks.get(doc["kind"])
    if stock is None:
        raise LookupError(f"stock {doc['kind']!r} is not in the configuration any more")
    offset = printer.offset_for(stock.name) if printer is not None else (0.0, 0.0)
    return doc, stock, offset, f"printstation:{job['id']}"


def job_document(ctx: Context, printer: PrinterSettings | None, job: sqlite3.Row,
                 doc: dict[str, Any], source: Callable[[], bytes],
                 take: Callable[[str, Args], bytes | None] | None = None,
                 ) -> tuple[bytes, str, tuple[float, float]]:
    """The PDF a job prints, its stock and the offset used: rendered from the invoice's
    data, or its dropped file (`source()` reads it) as it looks. `take` is the print
    stage's page rendered ahead, when it has one."""
    asis = asis_of(doc)
    again = doc.get("reprint_from")
    if asis is not None and isinstance(again, dict):
        # A reprint of a PDF or OFD: the page its last job printed, as it printed.
        folder = archive_day(ctx, again["claimed_at"])
        return (folder / f"{again['job']}.pdf").read_bytes(), ASIS_STOCK, (0.0, 0.0)
    if asis is not None:
        # An e-invoice PDF or OFD prints at 100 % as it looks, on plain paper, placed
        # by its ink: no calibration offset.
        stock = ctx.stocks[ASIS_STOCK]
        return printable(source(), asis, (stock.width_mm, stock.height_mm)), stock.name, \
            (0.0, 0.0)
    args = render_args(ctx, printer, job, doc)
    _, stock, offset, title = args
    pdf = take(job["id"], args) if take is not None else None
    if pdf is None:
        pdf = render_invoice(invoice_from_dict(doc), stock, offset, title)
    return pdf, stock.name, offset


def _dpi(dpi: int) -> int:
    return max(MIN_DPI, min(int(dpi), MAX_DPI))


def archive_folder(ctx: Context, job: sqlite3.Row) -> Path:
    """`archive/YYYY/MM/DD/` of the job's file (by its claim date), where the print stage
    keeps the job's page and the finisher the printed file. (SpoolDir.archive_dir makes
    the folder, which a reader may not.)"""
    return archive_day(ctx, job["claimed_at"])


def archive_day(ctx: Context, claimed: str) -> Path:
    """`archive/YYYY/MM/DD/` of a file claimed at `claimed` (ISO 8601, UTC)."""
    return ctx.spool.archive_root / claimed[:4] / claimed[5:7] / claimed[8:10]


def _source(ctx: Context, job: sqlite3.Row) -> bytes:
    """The dropped file's bytes: in the spool while its jobs wait, then where it was
    moved (the archive, or the rejected folder, which the journal names)."""
    places = [ctx.spool.path(job["spool_name"]),
              archive_folder(ctx, job) / job["spool_name"]] if job["spool_name"] else []
    if job["destination"] is not None:
        places.append(Path(os.fsdecode(job["destination"])))
    for place in places:
        try:
            return place.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            continue
    raise NoPicture(f"{job['id']}: its file is no longer kept")


def _page(ctx: Context, conn: sqlite3.Connection, job: sqlite3.Row) -> bytes:
    """The PDF of a job's page: the one sent to the printer, or the one it will send."""
    if job["state"] in SENT:
        try:
            return (archive_folder(ctx, job) / f"{job['id']}.pdf").read_bytes()
        except FileNotFoundError:
            pass  # removed by retention: drawn again below, as it was drawn then
    if job["invoice_json"] is None:
        raise NoPicture(f"{job['id']}: nothing was read from its file ({job['state']})")
    doc = json.loads(job["invoice_json"])
    try:
        return _draw(ctx, conn, job, doc)
    except (Unavailable, NoPicture):
        raise  # the station's font or pdftoppm missing; the file gone
    except Exception as exc:
        # What the print stage holds as `render.failed` (its stock gone, text that no
        # longer fits, a page that cannot be drawn): no picture, and the reason why.
        raise NoPicture(f"{job['id']}: cannot be drawn ({type(exc).__name__}: {exc})") \
            from None


def _draw(ctx: Context, conn: sqlite3.Connection, job: sqlite3.Row,
          doc: dict[str, Any]) -> bytes:
    """A job's page drawn now: as it went (its archived page gone), or as it will go."""
    if job["state"] in SENT and asis_of(doc) is None:
        sent = console_queries.last_submit(conn, job["id"])
        payload = json.loads(sent["payload"]) if sent is not None else {}
        stock = ctx.stocks.get(payload.get("stock", ""))
        offset = payload.get("offset_mm")
        if stock is not None and isinstance(offset, list) and len(offset) == 2:
            # With the stock and offset the page was drawn with when it went, not today's.
            return render_invoice(invoice_from_dict(doc), stock, (offset[0], offset[1]),
                                  f"printstation:{job['id']}")
    if asis_of(doc) is not None and not job["spool_name"]:
        raise NoPicture(f"{job['id']}: a reprint has no file of its own to draw")
    printer = ctx.settings.printer(job["printer"]) if job["printer"] else None
    return job_document(ctx, printer, job, doc, lambda: _source(ctx, job))[0]


def job_page_png(ctx: Context, conn: sqlite3.Connection, job_id: str, dpi: int = 100) -> bytes:
    """The first page a job printed (from the archive) or will print, as PNG.

    KeyError for an unknown job; NoPicture (a KeyError) for one with no page to show.
    """
    job = console_queries.job_source(conn, job_id)
    if job is None:
        raise KeyError(f"no job {job_id}")
    return png_of(_page(ctx, conn, job), _dpi(dpi))


@functools.lru_cache(maxsize=16)
def sample_invoice(stock: str) -> Invoice:
    """The shipped sample (config/samples/) of this stock; KeyError when none ships."""
    for path in sorted(SAMPLES.glob("*.json")):
        read = read_file(path.name, path.read_bytes())
        if len(read.items) == 1 and read.items[0].invoice is not None \
                and read.items[0].invoice.kind == stock:
            return read.items[0].invoice
    raise KeyError(f"no sample invoice of stock {stock!r} in {SAMPLES}")


def calibration_png(ctx: Context, printer: str, stock: str,
                    offset: tuple[float, float] | None = None, dpi: int = 100) -> bytes:
    """The stock's sample invoice drawn with `offset` (mm, x right and y down; by default
    the printer's current one) over the blank form, as PNG: where a job's data would land
    on the pre-printed form.

    KeyError for an unknown printer, a stock it does not hold, or a stock with no sample;
    ValueError for an offset that is not two numbers of at most MAX_OFFSET_MM.
    """
    found = ctx.settings.printer(printer)
    if found is None:
        raise KeyError(f"no printer {printer!r}")
    if stock not in found.stocks or stock not in ctx.stocks:
        raise KeyError(f"printer {printer} has no stock {stock!r}")
    if offset is None:
        offset = found.offset_for(stock)
    elif len(offset) != 2 or not all(isinstance(n, int | float) and not isinstance(n, bool)
                                     and math.isfinite(n) and abs(n) <= MAX_OFFSET_MM
                                     for n in offset):
        raise ValueError(f"an offset is two numbers of at most {MAX_OFFSET_MM:g} mm")
    pdf = render_invoice(sample_invoice(stock), ctx.stocks[stock],
                         (float(offset[0]), float(offset[1])), background=True)
    return png_of(pdf, _dpi(dpi))
