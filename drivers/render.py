"""Render an invoice onto its stock: a one-page PDF of exactly the stock's size.

The page's MediaBox is the stock in its natural orientation with no /Rotate, and the
printer's calibration offset is applied here, inside the drawing, never through CUPS
options (TECH.md: CUPS rounds, rotates or swaps sizes). On pre-printed stock only the
data is drawn; plain-paper stock (e-invoice) draws its own form; a preview may draw the
blank form under pre-printed stock (`background`), at its nominal place.
"""

from __future__ import annotations

import io
from decimal import Decimal

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from printstation.config import FieldSpec, FormSpec, Stock
from printstation.invoice import Invoice, Line, Problem, problem

from .fit import Fitted, cipher_rows, fit_cipher, fit_text
from .fonts import ensure_font

LEADING = 1.2


class TextDoesNotFit(Exception):
    """Rendering met text validation should have refused: never print it clipped."""


def field_texts(invoice: Invoice, stock: Stock) -> dict[str, str]:
    """The text printed in each named field of the form."""
    d = invoice.date
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
        "total_words": invoice.total_words,
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


def _placements(invoice: Invoice, stock: Stock) -> list[tuple[str, FieldSpec, str, float]]:
    """(field path, spec, text, baseline y in mm) for every text on the page."""
    texts = field_texts(invoice, stock)
    found = [(name, spec, texts.get(name, ""), spec.y) for name, spec in stock.fields.items()]
    if stock.items is not None:
        for row, line in enumerate(invoice.lines[: stock.items.rows]):
            y = stock.items.y + row * stock.items.pitch
            cells = line_texts(line)
            found += [(f"lines[{row}].{name}", spec, cells.get(name, ""), y)
                      for name, spec in stock.items.columns.items()]
    return found


def _fit(name: str, spec: FieldSpec, text: str, font: str) -> Fitted | None:
    return fit_cipher(text, spec) if name == "cipher" else fit_text(text, spec, font)


def layout_problems(invoice: Invoice, stock: Stock) -> list[Problem]:
    """`text.too_long` for every text that cannot fit its box, even shrunk and wrapped."""
    font = ensure_font()
    found = []
    for name, spec, text, _ in _placements(invoice, stock):
        if text and _fit(name, spec, text, font) is None:
            found.append(problem(
                "text.too_long", name,
                detail=f"it does not fit its {spec.width:g} mm box on the {stock.name} form, "
                       "even shrunk to 5 pt" + (" and wrapped" if spec.height else ""),
                detail_zh=f"在{stock.name}票面 {spec.width:g} 毫米宽的位置上缩小到 5 磅"
                          + ("并换行" if spec.height else "") + "仍放不下"))
    return found


def render_invoice(invoice: Invoice, stock: Stock, offset: tuple[float, float] = (0.0, 0.0),
                   title: str = "", background: bool = False) -> bytes:
    font = ensure_font()
    buf = io.BytesIO()
    page_w, page_h = stock.width_mm * mm, stock.height_mm * mm
    # invariant=1 makes the bytes reproducible (no timestamps or random ids).
    canvas = Canvas(buf, pagesize=(page_w, page_h), initialFontName=font, invariant=1,
                    pageCompression=1)
    canvas.setTitle(title or invoice.key)
    if background and not stock.plain_paper:
        # The pre-printed form sits where the paper has it; only the data moves.
        draw_form(canvas, font, stock.form, page_h, grey=True)
    ox, oy = offset
    # Anchors are mm from the top-left, y downwards; PDF is points from the bottom-left.
    canvas.translate(ox * mm, -oy * mm)
    if stock.plain_paper:
        draw_form(canvas, font, stock.form, page_h, grey=False)
    for name, spec, text, y in _placements(invoice, stock):
        if not text:
            continue
        fitted = _fit(name, spec, text, font)
        if fitted is None:
            raise TextDoesNotFit(f"{name}: {text[:40]!r} does not fit on {stock.name}")
        if name == "cipher":
            _draw_fixed(canvas, font, spec, fitted, y, page_h)
        else:
            _draw(canvas, font, spec, fitted, y, page_h)
        if name == "total_words":
            _circled_times(canvas, spec, page_h)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def draw_form(canvas: Canvas, font: str, form: FormSpec, page_h: float, grey: bool) -> None:
    canvas.saveState()
    colour = (0.55, 0.35, 0.35) if grey else (0, 0, 0)
    canvas.setStrokeColorRGB(*colour)
    canvas.setFillColorRGB(*colour)
    canvas.setLineWidth(0.5)
    for x, y, w, h in form.rects:
        canvas.rect(x * mm, page_h - (y + h) * mm, w * mm, h * mm)
    for x1, y1, x2, y2 in form.lines:
        canvas.line(x1 * mm, page_h - y1 * mm, x2 * mm, page_h - y2 * mm)
    for label in form.labels:
        canvas.setFont(font, label.size)
        x, y = label.x * mm, page_h - label.y * mm
        if label.align == "centre":
            canvas.drawCentredString(x, y, label.text)
        elif label.align == "right":
            canvas.drawRightString(x, y, label.text)
        else:
            canvas.drawString(x, y, label.text)
    canvas.restoreState()


def _draw(canvas: Canvas, font: str, spec: FieldSpec, fitted: Fitted, y_mm: float,
          page_h: float) -> None:
    canvas.setFont(font, fitted.size)
    x = spec.x * mm
    for i, part in enumerate(fitted.lines):
        y = page_h - y_mm * mm - i * fitted.size * LEADING
        if spec.align == "right":
            canvas.drawRightString(x, y, part)
        elif spec.align == "centre":
            canvas.drawCentredString(x, y, part)
        else:
            canvas.drawString(x, y, part)


def _draw_fixed(canvas: Canvas, font: str, spec: FieldSpec, fitted: Fitted, y_mm: float,
                page_h: float) -> None:
    """The 密码区: every character in its own cell, so rows line up like the device's."""
    canvas.setFont(font, fitted.size)
    cells = max(len(r) for r in fitted.lines)
    pitch = spec.width * mm / cells
    for i, row in enumerate(fitted.lines):
        y = page_h - y_mm * mm - i * fitted.size * LEADING
        for j, char in enumerate(row):
            canvas.drawCentredString(spec.x * mm + (j + 0.5) * pitch, y, char)


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


__all__ = ["TextDoesNotFit", "cipher_rows", "field_texts", "layout_problems", "line_texts",
           "render_invoice"]
