"""The pages an invoice prints as it looks (a PDF, an OFD, or one inside a bundle).

What the reader journaled (`AsIs.to_dict()`) says which document, which pages and where
their ink lies; this turns the spooled file into the PDF that goes to the printer: the
bundle's member taken out, an OFD drawn as PDF, each page placed at 100 % on the plain
paper, centred on its ink, turned only when that is the way it fits.
"""

from __future__ import annotations

from typing import Any

from printstation.invoice.zip_safe import SafeZip

FORMATS = ("pdf", "ofd")


def asis_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The as-it-looks part of a journaled invoice, or None for one rendered from data."""
    if doc.get("format") in FORMATS:
        return doc
    found = doc.get("print")
    return found if isinstance(found, dict) else None


def printable(data: bytes, asis: dict[str, Any], paper_mm: tuple[float, float]) -> bytes:
    """The PDF to print from the dropped file's bytes `data`."""
    # Imported on first use: fontTools and the OFD model are for OFD jobs only.
    from printstation.drivers.ofd_paint import ofd_to_pdf
    from printstation.drivers.place import place_pages

    member = asis.get("member") or ""
    if member:
        data = SafeZip(data, "parse.zip").read(member)
    if asis["format"] == "ofd":
        data = ofd_to_pdf(data)
    sizes = [tuple(size) for size in asis.get("page_mm", [])]
    # Jobs journaled before pages and ink were recorded printed every page, whole.
    pages = asis.get("pages") or list(range(len(sizes)))
    inks = asis.get("ink_mm") or [(0.0, 0.0, w, h) for w, h in sizes]
    return place_pages(data, pages, [tuple(box) for box in inks], paper_mm)
