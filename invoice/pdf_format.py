"""E-invoice PDFs, printed as they are: check they open, and read what they say.

A PDF must open (pypdf, strict), must not be encrypted, and have at most 10 pages. Its
page sizes are recorded (the daemon checks them against the paper), and the invoice
number, code, date and total are read from the first page's text when present, for the
journal and duplicate checks.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal

from pypdf import PdfReader

from printstation.base.units import PT_MM

from .problems import Problem, problem

MAX_PAGES = 10


@dataclass(frozen=True)
class PdfInvoice:
    pages: int
    page_mm: tuple[tuple[float, float], ...]  # width, height of each page as displayed
    number: str = ""
    code: str = ""
    date: dt.date | None = None
    total: Decimal | None = None

    @property
    def key(self) -> str:
        if not self.number:
            return ""
        return f"{self.code}-{self.number}" if self.code else self.number

    def to_dict(self) -> dict:
        return {"format": "pdf", "kind": "einvoice", "pages": self.pages,
                "page_mm": [list(p) for p in self.page_mm], "number": self.number,
                "code": self.code, "date": self.date.isoformat() if self.date else "",
                "total": str(self.total) if self.total is not None else ""}


def read_pdf(data: bytes) -> tuple[PdfInvoice | None, list[Problem]]:
    if not data.startswith(b"%PDF-"):
        return None, [problem("parse.pdf", detail="it does not start with %PDF-",
                              detail_zh="文件不以 %PDF- 开头")]
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            return None, [problem("pdf.encrypted")]
        pages = len(reader.pages)
        if pages == 0:
            raise ValueError("no pages")
        if pages > MAX_PAGES:
            return None, [problem("pdf.pages", found=pages, expected=MAX_PAGES)]
        sizes = tuple(_page_mm(page) for page in reader.pages)
    except MemoryError:
        raise  # the reader's memory limit was hit: the jail reports file.too_complex
    except Exception as exc:
        # pypdf raises many types on damaged input; each means the same to a clerk.
        detail = f"{type(exc).__name__}: {exc}"[:200]
        return None, [problem("parse.pdf", detail=detail, detail_zh=f"文件损坏（{detail}）")]
    try:
        text = reader.pages[0].extract_text() or ""
    except MemoryError:
        raise
    except Exception:
        text = ""  # unreadable text is not a reason to refuse a printable PDF
    return _read_text(pages, sizes, text), []


def _page_mm(page) -> tuple[float, float]:
    width = float(page.mediabox.width) * PT_MM
    height = float(page.mediabox.height) * PT_MM
    if int(page.get("/Rotate", 0) or 0) % 180:
        width, height = height, width
    return round(width, 1), round(height, 1)


def _read_text(pages: int, sizes: tuple[tuple[float, float], ...], text: str) -> PdfInvoice:
    # Some converters put every character on a line of its own: labels are read from the
    # text without spaces, a bare 20-digit 数电 number only as a whole token (so that a
    # 20-digit check code spread over many lines is not taken for it).
    flat = re.sub(r"\s+", "", text)
    number, code = "", ""
    numbered = re.search(r"发票号码[:：]([0-9]{20}|[0-9]{8})(?![0-9])", flat)
    coded = re.search(r"发票代码[:：]([0-9]{12}|[0-9]{10})(?![0-9])", flat)
    if numbered and (len(numbered.group(1)) == 20 or coded):
        number, code = numbered.group(1), coded.group(1) if coded else ""
    else:
        token = next((t for t in text.split() if re.fullmatch(r"[0-9]{20}", t)), "")
        number = token
    when = re.search(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日", flat)
    try:
        date = dt.date(int(when[1]), int(when[2]), int(when[3])) if when else None
    except ValueError:
        date = None
    # The 价税合计 (小写) is the largest ¥ amount on the page.
    amounts = [Decimal(a) for a in re.findall(r"[¥￥]([0-9]+\.[0-9]{2})", flat)]
    return PdfInvoice(pages, sizes, number, code, date, max(amounts) if amounts else None)
