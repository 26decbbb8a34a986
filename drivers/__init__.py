"""Rendering onto stock, and printer backends.

Imports only the `invoice` and `config` layers.
"""

from printstation.config import PrinterSettings

from .base import JobStatus, PrinterDriver, PrintRequest
from .calibration import render_calibration
from .directory import DirectoryPrinter
from .fonts import FontMissing, ensure_font
from .preview import PreviewUnavailable, pdf_to_png
from .render import TextDoesNotFit, layout_problems, render_invoice


class DriverUnavailable(Exception):
    """The printer's backend cannot be used in this build or on this machine."""


def make_driver(printer: PrinterSettings) -> PrinterDriver:
    if printer.driver == "directory" and printer.path is not None:
        return DirectoryPrinter(printer.name, printer.path)
    raise DriverUnavailable(f"printer {printer.name}: driver {printer.driver!r} is not "
                            "available in this version")


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
