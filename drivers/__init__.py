"""Rendering onto stock, and printer backends.

Imports only the `invoice` and `config` layers.
"""

from printstation.base.errors import Unavailable
from printstation.config import PrinterSettings, Stock

from .base import JobStatus, PrinterDriver, PrintRequest
from .calibration import render_calibration
from .directory import DirectoryPrinter
from .fonts import FontMissing, ensure_font
from .preview import PreviewUnavailable, pdf_to_png
from .render import TextDoesNotFit, layout_problems, render_invoice


class DriverUnavailable(Unavailable):
    """The printer's backend cannot be used in this build or on this machine."""


def make_driver(printer: PrinterSettings, cups_server: str = "",
                stocks: dict[str, Stock] | None = None) -> PrinterDriver:
    if printer.driver == "directory" and printer.path is not None:
        return DirectoryPrinter(printer.name, printer.path)
    if printer.driver == "cups":
        try:
            from .cups_driver import CupsPrinter
        except ImportError as exc:  # pycups missing: libcups2-dev, then pip install pycups
            raise DriverUnavailable(f"printer {printer.name}: {exc}") from None
        return CupsPrinter(printer.name, printer.queue, cups_server, stocks or {})
    raise DriverUnavailable(f"printer {printer.name}: driver {printer.driver!r} is unknown")


__all__ = [
    "DirectoryPrinter",
    "DriverUnavailable",
    "FontMissing",
    "JobStatus",
    "PreviewUnavailable",
    "PrintRequest",
    "PrinterDriver",
    "TextDoesNotFit",
    "ensure_font",
    "layout_problems",
    "make_driver",
    "pdf_to_png",
    "render_calibration",
    "render_invoice",
]
