"""Render an invoice onto its stock: a PDF whose every page is exactly the stock's size.

Each page's MediaBox is the stock in its natural orientation with no /Rotate, and the
printer's calibration offset is applied here, inside the drawing of every page, never
through CUPS options (TECH.md: CUPS rounds, rotates or swaps sizes). On pre-printed stock
only the data is drawn, on one page; plain-paper stock (e-invoice) draws its own form and
continues an invoice's lines on further pages (`render_pages`); a preview may draw the
blank form under pre-printed stock (`background`), at its nominal place.
"""

from __future__ import annotations

import io

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from printstation.config import FieldSpec, FormSpec, Stock
from printstation.invoice import Invoice, Problem, problem

from .fit import Fitted, cipher_rows, fit_cipher, fit_text
from .fonts import ensure_font
from .render_pages import Page, field_texts, line_texts, overflow, paginate, placements

LEADING = 1.2


class TextDoesNotFit(Exception):
    """Rendering met text validation should have refused: never print it clipped."""


def _placements(invoice: Invoice, stock: Stock,
                page: Page | None = None) -> list[tuple[str, FieldSpec, str, float]]:
    """(field path, spec, text, baseline y in mm) for every text on `page` (default: the
    first). The name the layout tests have always used; `render_pages.placements` does it."""
    return placements(invoice, stock, page)


def _fit(name: str, spec: FieldSpec, text: str, font: str) -> Fitted | None:
    return fit_cipher(text, spec) if name == "cipher" else fit_text(text, spec, font)


def layout_problems(invoice: Invoice, stock: Stock) -> list[Problem]:
    """`text.too_long` for every text that cannot fit its box, even shrunk and wrapped, on
    every page; `line.count` when pre-printed stock has fewer rows than the lines.

    It runs for every valid invoice (the validation benchmark asks for 7,000 a second), so
    a later page checks only what differs from the first (its lines, page label, 小计): the
    header is the same on every page and is fitted once.
    """
    font = ensure_font()
    pages = paginate(invoice, stock)
    found: list[Problem] = []
    extra = overflow(pages[0], stock)
    if extra:
        rows = len(pages[0].lines) - extra
        found.append(problem(
            "line.count", "lines", found=len(invoice.lines),
            expected=f"at most {rows}, the rows of the {stock.name} form",
            expected_zh=f"最多 {rows} 行（{stock.name} 票面的行数）"))
    first = placements(invoice, stock, pages[0])
    for name, spec, text, _ in first:
        if text and _fit(name, spec, text, font) is None:
            found.append(_too_long(name, spec, stock))
    if len(pages) == 1:
        return found
    seen = {name: text for name, _, text, _ in first}
    reported = {p.field for p in found}
    for page in pages[1:]:
        for name, spec, text, _ in placements(invoice, stock, page):
            if text and seen.get(name) != text and name not in reported and \
                    _fit(name, spec, text, font) is None:
                reported.add(name)
                found.append(_too_long(name, spec, stock))
    return found


def _too_long(name: str, spec: FieldSpec, stock: Stock) -> Problem:
    return problem(
        "text.too_long", name,
        detail=f"it does not fit its {spec.width:g} mm box on the {stock.name} form, "
               "even shrunk to 5 pt" + (" and wrapped" if spec.height else ""),
        detail_zh=f"在{stock.name}票面 {spec.width:g} 毫米宽的位置上缩小到 5 磅"
                  + ("并换行" if spec.height else "") + "仍放不下")


def render_invoice(invoice: Invoice, stock: Stock, offset: tuple[float, float] = (0.0, 0.0),
                   title: str = "", background: bool = False) -> bytes:
    """The invoice on `stock`, one PDF page per page of it; `title` is the PDF's metadata."""
    font = ensure_font()
    pages = paginate(invoice, stock)
    if overflow(pages[0], stock):
        raise TextDoesNotFit(f"lines: {len(invoice.lines)} lines, more than the rows of "
                             f"the {stock.name} form")
    buf = io.BytesIO()
    page_w, page_h = stock.width_mm * mm, stock.height_mm * mm
    # invariant=1 makes the bytes reproducible (no timestamps or random ids).
    canvas = Canvas(buf, pagesize=(page_w, page_h), initialFontName=font, invariant=1,
                    pageCompression=1)
    canvas.setTitle(title or invoice.key)
    for page in pages:
        _draw_page(canvas, font, invoice, stock, page, offset, background)
        canvas.showPage()
    canvas.save()
    return buf.getvalue()


def _draw_page(canvas: Canvas, font: str, invoice: Invoice, stock: Stock, page: Page,
               offset: tuple[float, float], background: bool) -> None:
    page_h = stock.height_mm * mm
    # Each page starts from the page's own coordinates: the offset is applied once a page.
    canvas.saveState()
    if background and not stock.plain_paper:
        # The pre-printed form sits where the paper has it; only the data moves.
        draw_form(canvas, font, stock.form, page_h, grey=True)
    ox, oy = offset
    # Anchors are mm from the top-left, y downwards; PDF is points from the bottom-left.
    canvas.translate(ox * mm, -oy * mm)
    if stock.plain_paper:
        draw_form(canvas, font, stock.form, page_h, grey=False)
    for name, spec, text, y in placements(invoice, stock, page):
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
    canvas.restoreState()


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


__all__ = ["TextDoesNotFit", "cipher_rows", "field_texts", "layout_problems", "line_texts",
           "paginate", "render_invoice"]
