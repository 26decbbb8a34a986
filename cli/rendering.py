"""Commands that render for a person or change calibration: `preview` and `calibrate`."""

from __future__ import annotations

import datetime as dt
import io
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from printstation.base.durable import atomic_write
from printstation.base.errors import EXIT_BAD, EXIT_OK, Unavailable, UsageError
from printstation.config import PrinterSettings, Settings, Stock
from printstation.daemon import control, pictures
from printstation.daemon.asis_print import printable
from printstation.daemon.checks import check_file, read_limited, route
from printstation.daemon.context import Context
from printstation.drivers import (
    DriverUnavailable,
    PreviewUnavailable,
    PrintRequest,
    TextDoesNotFit,
    make_driver,
    pdf_to_png,
    render_calibration,
    render_invoice,
)
from printstation.drivers.calibration import moves
from printstation.drivers.cups_driver import CupsUnavailable
from printstation.invoice import Invoice, Problem

from . import catalog, choices

# The shipped sample invoices (package data): one per built-in stock.


def preview(ctx: Context, file: Path, output: Path, printer_name: str | None,
            background: bool) -> int:
    """Render exactly the page(s) that would print; problems go to stderr (exit 1)."""
    if output.suffix.lower() not in (".pdf", ".png"):
        raise UsageError("the output must end in .pdf or .png")
    try:
        data = read_limited(file, ctx.settings.intake.max_file_mb)
    except OSError as exc:  # a missing file is a mistyped name: one line, as `validate` says
        raise UsageError(f"{file}: {exc.strerror}") from None
    if isinstance(data, Problem):
        return _report([data])
    checked = check_file(file.name, data, ctx)
    if checked.file_problems:
        return _report(checked.file_problems)
    pages: list[bytes] = []
    problems: list[Problem] = []
    for entry in checked.entries:
        problems += entry.problems
        if entry.asis is not None:
            # Placed on the paper exactly as the daemon prints it.
            plain = ctx.stocks["einvoice"]
            try:
                pages.append(printable(data, entry.asis.to_dict(),
                                       (plain.width_mm, plain.height_mm)))
            except Exception as exc:
                # The reader found its pages fit; drawing them failed (a broken font).
                print(f"{file}: {exc}", file=sys.stderr)
            continue
        invoice = entry.invoice
        if invoice is None:
            continue
        stock = ctx.stocks.get(invoice.kind)
        if stock is None:
            continue
        printer = _printer(ctx.settings, printer_name, invoice.kind, invoice.printer)
        offset = printer.offset_for(stock.name) if printer else (0.0, 0.0)
        try:
            pages.append(render_invoice(invoice, stock, offset, background=background))
        except TextDoesNotFit:
            continue  # reported among the problems (text.too_long)
    if not pages:
        _report(problems)
        raise UsageError(f"{file}: nothing to preview")
    document = _merge(pages)
    if output.suffix.lower() == ".png":
        try:
            pdf_to_png(document, output)
        except PreviewUnavailable as exc:
            raise Unavailable(str(exc)) from None
    else:
        atomic_write(output, document)
    from pypdf import PdfReader

    # Pages, not documents: one e-invoice may continue on several.
    count = len(PdfReader(io.BytesIO(document)).pages)
    first = catalog.say("preview.first") if output.suffix.lower() == ".png" and \
        count > 1 else ""
    print(catalog.say("preview.done", path=output, pages=count, first=first))
    return _report(problems) if problems else EXIT_OK


def _printer(settings: Settings, wanted: str | None, kind: str,
             named: str | None) -> PrinterSettings | None:
    if wanted is None:
        found = route(kind, named, settings)
        return settings.printer(found) if found else None
    choices.printer(settings, wanted)
    choices.stock(settings, wanted, kind)
    return settings.printer(wanted)


def _merge(pages: list[bytes]) -> bytes:
    if len(pages) == 1:
        return pages[0]
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in pages:
        writer.append(PdfReader(io.BytesIO(page)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _report(problems: list[Problem]) -> int:
    for p in problems:
        print(p.line(), file=sys.stderr)
    return EXIT_BAD


def _calibration_target(settings: Settings, stocks: dict[str, Stock], printer_name: str,
                        stock_name: str) -> tuple[PrinterSettings, Stock]:
    choices.printer(settings, printer_name)
    choices.stock(settings, printer_name, stock_name)
    printer = settings.printer(printer_name)
    assert printer is not None  # checked just above
    return printer, stocks[stock_name]


def calibrate(ctx: Context, printer_name: str, stock_name: str, offset: str | None,
              adjust: str | None, sample: bool) -> int:
    """`calibrate PRINTER --stock S [--offset X,Y | --adjust DX,DY | --sample]`."""
    if sample:
        return print_sample(ctx, printer_name, stock_name)
    if offset is not None:
        return set_offset(ctx, printer_name, stock_name, offset)
    if adjust is not None:
        return set_offset(ctx, printer_name, stock_name, adjust, relative=True)
    return print_calibration(ctx, printer_name, stock_name)


def print_calibration(ctx: Context, printer_name: str, stock_name: str) -> int:
    printer, stock = _calibration_target(ctx.settings, ctx.stocks, printer_name, stock_name)
    offset = printer.offset_for(stock.name)
    pdf = render_calibration(stock, offset, printer.name)
    external_id = _print(ctx, printer, stock, pdf, "calibration")
    _journal(ctx.settings, "calibration.printed", {"printer": printer.name, "stock": stock.name,
                                          "offset_mm": list(offset), "job": str(external_id)})
    print(catalog.say("cal.sheet", stock=stock.name, printer=printer.name, job=external_id,
                      offset=_offset_words(*offset)))
    return EXIT_OK


def print_sample(ctx: Context, printer_name: str, stock_name: str) -> int:
    """The stock's shipped sample invoice, rendered with the current offset exactly as a
    job would print, on plain paper: laid over a blank form against the light, it shows
    where every field lands (套打 test print). Journaled like the calibration sheet."""
    printer, stock = _calibration_target(ctx.settings, ctx.stocks, printer_name, stock_name)
    invoice = sample_invoice(stock.name)
    offset = printer.offset_for(stock.name)
    try:
        pdf = render_invoice(invoice, stock, offset)
    except TextDoesNotFit as exc:  # a stock of IT's own whose boxes the sample overflows
        raise UsageError(f"the sample {invoice.key} does not fit {stock.name}: {exc}") from None
    external_id = _print(ctx, printer, stock, pdf, "sample")
    _journal(ctx.settings, "calibration.sample", {"printer": printer.name, "stock": stock.name,
                                                  "offset_mm": list(offset),
                                                  "job": str(external_id),
                                                  "invoice": invoice.key})
    print(catalog.say("cal.sample", key=invoice.key, stock=stock.name, printer=printer.name,
                      job=external_id, offset=_offset_words(*offset)))
    return EXIT_OK


def sample_invoice(stock_name: str) -> Invoice:
    """The shipped sample (config/samples/) of this kind: one invoice per file."""
    try:
        return pictures.sample_invoice(stock_name)
    except KeyError:
        raise UsageError(catalog.say("cal.no_sample", stock=stock_name,
                                     folder=str(pictures.SAMPLES))) from None


def _print(ctx: Context, printer: PrinterSettings, stock: Stock, pdf: bytes, what: str) -> str:
    """Hand a page outside the queue (no job, no sheet of the ledger) to the printer."""
    try:
        driver = make_driver(printer, ctx.settings.cups.server, ctx.stocks)
    except DriverUnavailable as exc:
        raise Unavailable(str(exc)) from None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    try:
        external_id = driver.create_held(PrintRequest(
            f"{what}-{stamp}", f"{what}-{stock.name}", pdf, stock.name))
        driver.release(external_id)
    except CupsUnavailable as exc:  # SPEC §3: 69 when CUPS is down for a CUPS command
        raise Unavailable(f"{printer.name}: {exc}") from None
    finally:
        driver.close()
    return str(external_id)


def _offset_words(x: float, y: float) -> str:
    """`x=+1.5 mm, y=-0.5 mm (向右 1.5 毫米，向上 0.5 毫米)`: x right-positive, y
    down-positive, said the way 套打 settings say it."""
    return f"x={x:+.1f} mm, y={y:+.1f} mm ({moves(x, y)})"


def set_offset(ctx: Context, printer_name: str, stock_name: str, text: str,
               relative: bool = False) -> int:
    """Set the offset through the daemon (`set-offset`, daemon/control_ops.py), which
    checks it, journals old and new, keeps it in `data_dir/calibration.toml` and prints
    with it from the next job on. With no daemon running, root or the data folder's owner
    sets it here, as the owner (it applies when the daemon starts); a clerk is told to
    start the daemon (daemon/control.py `change`).

    `relative` (`--adjust DX,DY`) moves the print from where it is now, the way 套打
    software adjusts: the clerk says how far the print must go right and down, not where
    the offset ends up."""
    settings = ctx.settings
    printer, stock = _calibration_target(settings, ctx.stocks, printer_name, stock_name)
    option, form = ("--adjust", "DX,DY") if relative else ("--offset", "X,Y")
    try:
        x, y = (Decimal(v.strip()) for v in text.split(","))
    except (ValueError, InvalidOperation):
        raise UsageError(f"{option} takes {form} in mm, such as 1.5,-0.5; got {text!r}") \
            from None
    # Sent as decimal texts: the daemon checks the 0.1 mm steps on the numbers typed.
    args = {"printer": printer.name, "stock": stock.name,
            option.removeprefix("--"): [str(x), str(y)]}
    try:
        reply, running = control.ask(settings, "set-offset", args), True
    except control.NoDaemon:
        reply, running = control.change(settings, "set-offset", args), False
    control.raise_for(reply)
    done = reply.doc
    old, new = done["old"], done["new"]
    print(catalog.say("cal.offset", printer=printer.name, stock=stock.name,
                      old=f"{old[0]:+.1f},{old[1]:+.1f}", new=f"{new[0]:+.1f},{new[1]:+.1f}",
                      file=done["file"]))
    if relative:
        print(catalog.say("cal.moved", moves=moves(new[0] - old[0], new[1] - old[1])))
    print(catalog.say("cal.lands", offset=_offset_words(*new)))
    if not running:
        print(catalog.say("cal.no_daemon"))
    return EXIT_OK


def _journal(settings: Settings, event: str, payload: dict) -> None:
    """Journaled by the daemon when it runs, with the caller's identity (daemon/control.py)."""
    control.raise_for(control.change(settings, "calibrated",
                                     {"event": event, "payload": payload}))
