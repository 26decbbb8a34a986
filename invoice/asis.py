"""An invoice printed as it looks: pages of an e-invoice PDF or OFD, and what they say.

Readers of PDF and OFD files (and of the tax platform's zip bundle that carries them) give
one `AsIs` per invoice they find. It names the pages of the document that show the
invoice and where their ink lies, so the printer driver can place each page on the plain
paper at 100 %, and the identity read from the page (number, code, date, totals) that the
journal, the duplicate check and head office need.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class AsIs:
    # "pdf" or "ofd": the format of the document that is printed.
    format: str
    # The document's pages (0-based) that show this invoice, in print order.
    pages: tuple[int, ...]
    # Each of those pages as displayed (its /Rotate applied): width, height in mm.
    page_mm: tuple[tuple[float, float], ...]
    # Each of those pages' ink as displayed: left, top, right, bottom in mm from the
    # page's top-left corner. A blank page's box is (0, 0, 0, 0).
    ink_mm: tuple[Box, ...]
    # The zip member holding the document, "" when the dropped file is the document.
    member: str = ""
    number: str = ""
    code: str = ""
    date: dt.date | None = None
    # As issued, e.g. 电子发票（增值税专用发票）; "" when the page does not say.
    title: str = ""
    total_amount: Decimal | None = None
    total_tax: Decimal | None = None
    total: Decimal | None = None
    # How the identity was found, for `validate --json` (e.g. "labels", "fallback", "xml").
    source: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        if not self.number:
            return ""
        return f"{self.code}-{self.number}" if self.code else self.number

    def to_dict(self) -> dict[str, Any]:
        """What the journal keeps of it (`invoice_json`), and what printing reads back."""
        return {"format": self.format, "kind": "einvoice", "member": self.member,
                "pages": list(self.pages), "page_mm": [list(p) for p in self.page_mm],
                "ink_mm": [list(b) for b in self.ink_mm], "number": self.number,
                "code": self.code, "date": self.date.isoformat() if self.date else "",
                "title": self.title, "total_amount": _money(self.total_amount),
                "total_tax": _money(self.total_tax), "total": _money(self.total),
                "source": self.source}


def _money(value: Decimal | None) -> str:
    return "" if value is None else str(value)
