"""Render an invoice onto its stock: a one-page PDF of exactly the stock's size.

The page's MediaBox is the stock in its natural orientation with no /Rotate, and the
printer's calibration offset is applied here, inside the drawing, never through CUPS
options (TECH.md: CUPS rounds, rotates or swaps sizes). Only the data is drawn; the form
itself is pre-printed.
"""

from __future__ import annotations

import io
from decimal import Decimal

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from printstation.config import FieldSpec, Stock
from printstation.invoice import Invoice, Line

from .fonts import ensure_font

MIN_SIZE = 5.0
SHRINK_STEP = 0.5


def field_texts(invoice: Invoice, stock: Stock) -> dict[str, str]:
    """The text printed in each named field of the form."""
    d = invoice.date
    words = invoice.total_words
    return {
        "title": stock.title,
        "code": invoice.code, "number": invoice.number,
        "date": f"{d.year}年{d.month:02d}月{d.day:02d}日",
        "check_code": invoice.check_code, "machine_no": invoice.machine_no,
        "cipher": invoice.cipher,
        "buyer.name": invoice.buyer.name, "buyer.tin": invoice.buyer.tin,
        "buyer.address_phone": invoice.buyer.address_phone,
        "buyer.bank_account": invoice.buyer.bank_account,
        "seller.name": invoice.seller.name, "seller.tin": invoice.seller.tin,
        "seller.address_phone": invoice.seller.address_phone,
        "seller.bank_account": invoice.seller.bank_account,
        "total_amount": f"¥{invoice.total_amount:.2f}",
        "total_tax": f"¥{invoice.total_tax:.2f}",
        # The ⊗ invoicing software prints before the capitals is drawn by `_circled_times`:
        # the CJK font has no glyph for it.
        "total_words": words,
        "total": f"¥{invoice.total:.2f}",
        "remarks": invoice.remarks,
        "payee": invoice.payee, "reviewer": invoice.reviewer, "drawer": invoice.drawer,
    }


def line_texts(line: Line) -> dict[str, str]:
    return {
        "name": line.name, "spec": line.spec, "unit": line.unit,
        "quantity": _number(line.quantity), "unit_price": _number(line.unit_price),
        "amount": f"{line.amount:.2f}", "rate": _rate(line.rate), "tax": f"{line.tax:.2f}",
    }


def render_invoice(invoice: Invoice, stock: Stock, offset: tuple[float, float] = (0.0, 0.0),
                   title: str = "") -> bytes:
    font = ensure_font()
    buf = io.BytesIO()
    page_w, page_h = stock.width_mm * mm, stock.height_mm * mm
    # invariant=1 makes the bytes reproducible (no timestamps or random ids).
    canvas = Canvas(buf, pagesize=(page_w, page_h), initialFontName=font, invariant=1,
                    pageCompression=1)
    canvas.setTitle(title or invoice.key)
    ox, oy = offset
    # Anchors are mm from the top-left, y downwards; PDF is points from the bottom-left.
    canvas.translate(ox * mm, -oy * mm)
    texts = field_texts(invoice, stock)
    for name, spec in stock.fields.items():
        _draw(canvas, font, spec, texts.get(name, ""), spec.y, page_h)
        if name == "total_words" and texts[name]:
            _circled_times(canvas, spec, page_h)
    if stock.items is not None:
        for row, line in enumerate(invoice.lines[: stock.items.rows]):
            y = stock.items.y + row * stock.items.pitch
            cells = line_texts(line)
            for name, spec in stock.items.columns.items():
                _draw(canvas, font, spec, cells.get(name, ""), y, page_h)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def fitted_size(text: str, font: str, spec: FieldSpec) -> float:
    """The largest size from the field's own down to MIN_SIZE at which `text` fits."""
    size = spec.size
    while size > MIN_SIZE and stringWidth(text, font, size) > spec.width * mm:
        size -= SHRINK_STEP
    return size


def _draw(canvas: Canvas, font: str, spec: FieldSpec, text: str, y_mm: float,
          page_h: float) -> None:
    if not text:
        return
    lines = text.splitlines() if spec.height else [text]
    size = min(fitted_size(t, font, spec) for t in lines)
    canvas.setFont(font, size)
    x = spec.x * mm
    for i, part in enumerate(lines):
        y = page_h - y_mm * mm - i * size * 1.2
        if spec.align == "right":
            canvas.drawRightString(x, y, part)
        elif spec.align == "centre":
            canvas.drawCentredString(x, y, part)
        else:
            canvas.drawString(x, y, part)


def _circled_times(canvas: Canvas, spec: FieldSpec, page_h: float) -> None:
    """⊗ in vector lines, its centre 3.5 mm left of the capitals' anchor (DOMAIN.md)."""
    r = spec.size * 0.36
    cx, cy = spec.x * mm - 3.5 * mm, page_h - spec.y * mm + spec.size * 0.35
    canvas.saveState()
    canvas.setLineWidth(0.5)
    canvas.circle(cx, cy, r)
    d = r * 0.7071
    canvas.line(cx - d, cy - d, cx + d, cy + d)
    canvas.line(cx - d, cy + d, cx + d, cy - d)
    canvas.restoreState()


def _number(value: Decimal | None) -> str:
    """Quantities and prices exactly as written (up to 6 decimals are common)."""
    return "" if value is None else format(value, "f")


def _rate(rate: Decimal) -> str:
    percent = format(rate * 100, "f")
    return (percent.rstrip("0").rstrip(".") if "." in percent else percent) + "%"
