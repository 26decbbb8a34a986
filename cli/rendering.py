"""Commands that render for a person or change calibration: `preview` and `calibrate`."""

from __future__ import annotations

import datetime as dt
import io
import sys
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path

from printstation import config as config_package
from printstation.base.durable import atomic_write
from printstation.base.errors import EXIT_BAD, EXIT_OK, ConfigInvalid, Unavailable, UsageError
from printstation.config import ConfigError, PrinterSettings, Settings, Stock, load_settings
from printstation.config.schema import Invalid, offsets
from printstation.daemon import control
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
from printstation.invoice import Invoice, Problem, read_file

from . import catalog, choices

# The shipped sample invoices (package data): one per built-in stock.
SAMPLES = Path(config_package.__file__).parent / "samples"


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
    for path in sorted(SAMPLES.glob("*.json")):
        read = read_file(path.name, path.read_bytes())
        if len(read.items) == 1 and read.items[0].invoice is not None \
                and read.items[0].invoice.kind == stock_name:
            return read.items[0].invoice
    raise UsageError(catalog.say("cal.no_sample", stock=stock_name, folder=str(SAMPLES)))


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
    """Write `conf.d/50-calibration-PRINTER.toml`, journal old and new, reload the daemon.

    `relative` (`--adjust DX,DY`) moves the print from where it is now, the way 套打
    software adjusts: the clerk says how far the print must go right and down, not where
    the offset ends up."""
    settings = ctx.settings
    printer, stock = _calibration_target(settings, ctx.stocks, printer_name, stock_name)
    option, form = ("--adjust", "DX,DY") if relative else ("--offset", "X,Y")
    old = printer.offset_for(stock.name)
    try:
        x, y = (Decimal(v.strip()) for v in text.split(","))
        if relative:
            x, y = Decimal(str(old[0])) + x, Decimal(str(old[1])) + y
        new = offsets({stock.name: [x, y]})[stock.name]
    except Invalid as exc:  # before ValueError, which it is
        raise UsageError(f"{option}: {exc}") from None
    except (ValueError, InvalidOperation):
        raise UsageError(f"{option} takes {form} in mm, such as 1.5,-0.5; got {text!r}") \
            from None
    lost = stock.off_page(*new)
    if lost:
        raise UsageError(f"{option} {text} would move {', '.join(lost[:3])} off the page")
    dropin = settings.conf_d / f"50-calibration-{printer.name}.toml"
    before = dropin.read_bytes() if dropin.exists() else None
    current = tomllib.loads(before.decode()) if before else {}
    table = dict(current.get("printers", {}).get(printer.name, {}).get("offsets", {}))
    table[stock.name] = list(new)
    user = control.caller_name()
    pairs = ", ".join(f"{name} = [{v[0]:g}, {v[1]:g}]" for name, v in sorted(table.items()))
    body = (f"# Written by `printstation calibrate` ({user}, "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S}Z); the next calibrate rewrites it.\n"
            f"[printers.{printer.name}]\noffsets = {{ {pairs} }}\n")
    settings.conf_d.mkdir(parents=True, exist_ok=True)
    atomic_write(dropin, body.encode("utf-8"))
    try:
        load_settings(settings.main_file, cwd=settings.config_dir.parent
                      if settings.main_file is None else None)
    except ConfigError as exc:
        # Never leave a config behind that the daemon would refuse at its next start.
        if before is None:
            dropin.unlink()
        else:
            atomic_write(dropin, before)
        raise ConfigInvalid(f"the new offset makes the config invalid: {exc}") from None
    _journal(settings, "calibration.offset", {"printer": printer.name, "stock": stock.name,
                                              "old": list(old), "new": list(new),
                                              "file": str(dropin)})
    print(catalog.say("cal.offset", printer=printer.name, stock=stock.name,
                      old=f"{old[0]:+.1f},{old[1]:+.1f}", new=f"{new[0]:+.1f},{new[1]:+.1f}",
                      file=str(dropin)))
    if relative:
        print(catalog.say("cal.moved", moves=moves(new[0] - old[0], new[1] - old[1])))
    print(catalog.say("cal.lands", offset=_offset_words(*new)))
    print(_ask_reload(settings))
    return EXIT_OK


def _journal(settings: Settings, event: str, payload: dict) -> None:
    """Journaled by the daemon when it runs, with the caller's identity (daemon/control.py)."""
    control.raise_for(control.change(settings, "calibrated",
                                     {"event": event, "payload": payload}))


def _ask_reload(settings: Settings) -> str:
    answer = control.ask_daemon(settings, "reload")
    return catalog.said(answer) if answer is not None else catalog.say("cal.no_daemon")
