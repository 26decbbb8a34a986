"""Commands that render for a person or change calibration: `preview` and `calibrate`."""

from __future__ import annotations

import datetime as dt
import io
import sys
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path

from printstation.base.durable import atomic_write
from printstation.base.errors import EXIT_BAD, EXIT_OK, ConfigInvalid, Unavailable, UsageError
from printstation.config import ConfigError, PrinterSettings, Settings, Stock, load_settings
from printstation.config.schema import Invalid, offsets
from printstation.daemon import control
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
from printstation.drivers.cups_driver import CupsUnavailable
from printstation.invoice import Problem


def preview(ctx: Context, file: Path, output: Path, printer_name: str | None,
            background: bool) -> int:
    """Render exactly the page(s) that would print; problems go to stderr (exit 1)."""
    if output.suffix.lower() not in (".pdf", ".png"):
        raise UsageError("the output must end in .pdf or .png")
    data = read_limited(file, ctx.settings.intake.max_file_mb)
    if isinstance(data, Problem):
        return _report([data])
    checked = check_file(file.name, data, ctx)
    if checked.file_problems:
        return _report(checked.file_problems)
    pages: list[bytes] = []
    problems: list[Problem] = []
    for entry in checked.entries:
        problems += entry.problems
        if entry.pdf is not None:
            pages.append(data)
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
    print(f"preview: {output} ({len(pages)} page{'s' if len(pages) > 1 else ''}"
          f"{', first page only' if output.suffix.lower() == '.png' and len(pages) > 1 else ''})")
    return _report(problems) if problems else EXIT_OK


def _printer(settings: Settings, wanted: str | None, kind: str,
             named: str | None) -> PrinterSettings | None:
    if wanted is None:
        found = route(kind, named, settings)
        return settings.printer(found) if found else None
    printer = settings.printer(wanted)
    if printer is None:
        raise UsageError(f"no printer {wanted!r} (configured: "
                         f"{', '.join(p.name for p in settings.printers)})")
    if kind not in printer.stocks:
        raise UsageError(f"printer {wanted} has no {kind} stock ({', '.join(printer.stocks)})")
    return printer


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
    printer = settings.printer(printer_name)
    if printer is None:
        raise UsageError(f"no printer {printer_name!r} (configured: "
                         f"{', '.join(p.name for p in settings.printers)})")
    if stock_name not in printer.stocks:
        raise UsageError(f"printer {printer_name} has no stock {stock_name!r} "
                         f"({', '.join(printer.stocks)})")
    return printer, stocks[stock_name]


def print_calibration(ctx: Context, printer_name: str, stock_name: str) -> int:
    printer, stock = _calibration_target(ctx.settings, ctx.stocks, printer_name, stock_name)
    offset = printer.offset_for(stock.name)
    pdf = render_calibration(stock, offset, printer.name)
    try:
        driver = make_driver(printer, ctx.settings.cups.server, ctx.stocks)
    except DriverUnavailable as exc:
        raise Unavailable(str(exc)) from None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    try:
        external_id = driver.create_held(PrintRequest(
            f"calibration-{stamp}", f"calibration-{stock.name}", pdf, stock.name))
        driver.release(external_id)
    except CupsUnavailable as exc:  # SPEC §3: 69 when CUPS is down for a CUPS command
        raise Unavailable(f"{printer.name}: {exc}") from None
    finally:
        driver.close()
    _journal(ctx.settings, "calibration.printed", {"printer": printer.name, "stock": stock.name,
                                          "offset_mm": list(offset), "job": str(external_id)})
    print(f"calibration sheet for {stock.name} sent to {printer.name} ({external_id}); "
          f"current offset x={offset[0]:+.1f} mm, y={offset[1]:+.1f} mm")
    return EXIT_OK


def set_offset(ctx: Context, printer_name: str, stock_name: str, text: str) -> int:
    """Write `conf.d/50-calibration-PRINTER.toml`, journal old and new, reload the daemon."""
    settings = ctx.settings
    printer, stock = _calibration_target(settings, ctx.stocks, printer_name, stock_name)
    try:
        x, y = (Decimal(v.strip()) for v in text.split(","))
        new = offsets({stock.name: [x, y]})[stock.name]
    except Invalid as exc:  # before ValueError, which it is
        raise UsageError(f"--offset: {exc}") from None
    except (ValueError, InvalidOperation):
        raise UsageError(f"--offset takes X,Y in mm, such as 1.5,-0.5; got {text!r}") from None
    lost = stock.off_page(*new)
    if lost:
        raise UsageError(f"--offset {text} would move {', '.join(lost[:3])} off the page")
    old = printer.offset_for(stock.name)
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
    print(f"{printer.name} {stock.name}: offset {old[0]:+.1f},{old[1]:+.1f} -> "
          f"{new[0]:+.1f},{new[1]:+.1f} mm, written to {dropin}")
    print(_ask_reload(settings))
    return EXIT_OK


def _journal(settings: Settings, event: str, payload: dict) -> None:
    """Journaled by the daemon when it runs, with the caller's identity (daemon/control.py)."""
    control.raise_for(control.change(settings, "calibrated",
                                     {"event": event, "payload": payload}))


def _ask_reload(settings: Settings) -> str:
    answer = control.ask_daemon(settings, "reload")
    return answer if answer is not None else \
        "no running daemon: the offset applies when it starts"
