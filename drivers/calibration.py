"""The calibration sheet: a millimetre grid and crosshairs at every anchor of a layout.

Printed on plain paper and laid over a blank form against the light, it shows how far the
printer puts each field from its box; the difference becomes the printer's offset.
"""

from __future__ import annotations

import io

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from printstation.config import Stock

from .fonts import ensure_font

INSTRUCTIONS = (
    "校准步骤：",
    "1. 用普通白纸打印本页（不要用发票）。",
    "2. 将本页与一张空白发票左上角对齐叠放，对着光源查看。",
    "3. 量出每个十字中心到发票上对应栏目起点的距离：向右为正 x，向下为正 y（毫米）。",
    "4. 新偏移 = 当前偏移 + 量得的距离；执行：",
    "   printstation calibrate {printer} --stock {stock} --offset X,Y",
    "5. 再打印一张校准页核对，直到十字落在栏目上。",
)


def anchors(stock: Stock) -> list[tuple[str, float, float]]:
    """Every field's anchor, and the first item row's column anchors."""
    found = [(name, spec.x, spec.y) for name, spec in stock.fields.items()]
    if stock.items is not None:
        found += [(f"行1.{name}", spec.x, stock.items.y)
                  for name, spec in stock.items.columns.items()]
    return found


def render_calibration(stock: Stock, offset: tuple[float, float], printer: str) -> bytes:
    font = ensure_font()
    buf = io.BytesIO()
    width, height = stock.width_mm, stock.height_mm
    canvas = Canvas(buf, pagesize=(width * mm, height * mm), initialFontName=font, invariant=1)
    canvas.setTitle(f"calibration {printer} {stock.name}")

    def y_pt(y_mm: float) -> float:
        return (height - y_mm) * mm

    # The grid is the paper's own: it is not moved by the offset.
    for step, shade, line_width in ((1, 0.85, 0.1), (5, 0.6, 0.2), (10, 0.3, 0.35)):
        canvas.setStrokeGray(shade)
        canvas.setLineWidth(line_width)
        for x in range(0, int(width) + 1, step):
            canvas.line(x * mm, 0, x * mm, height * mm)
        for y in range(0, int(height) + 1, step):
            canvas.line(0, y_pt(y), width * mm, y_pt(y))
    canvas.setFillGray(0.3)
    canvas.setFont(font, 5)
    for x in range(10, int(width), 10):
        canvas.drawString(x * mm + 0.5, y_pt(3), str(x))
    for y in range(10, int(height), 10):
        canvas.drawString(0.8 * mm, y_pt(y) + 0.5, str(y))

    # Crosshairs where the fields will print: anchor + the current offset.
    dx, dy = offset
    canvas.setStrokeColorRGB(0.8, 0, 0)
    canvas.setFillColorRGB(0.8, 0, 0)
    canvas.setLineWidth(0.3)
    for name, x, y in anchors(stock):
        cx, cy = (x + dx) * mm, y_pt(y + dy)
        canvas.line(cx - 3 * mm, cy, cx + 3 * mm, cy)
        canvas.line(cx, cy - 3 * mm, cx, cy + 3 * mm)
        canvas.circle(cx, cy, 1 * mm)
        canvas.setFont(font, 4.5)
        canvas.drawString(cx + 1.2 * mm, cy + 1.2 * mm, name)

    canvas.setFillGray(0)
    canvas.setFont(font, 7)
    lines = [f"打印机 {printer} · 票种 {stock.name}（{stock.width_mm:g} × {stock.height_mm:g} "
             f"毫米） · 当前偏移 x = {dx:+.1f} 毫米，y = {dy:+.1f} 毫米",
             *(line.format(printer=printer, stock=stock.name) for line in INSTRUCTIONS)]
    top = min(height * 0.45, height - 10 - 3.2 * len(lines))
    for i, text in enumerate(lines):
        canvas.drawString(12 * mm, y_pt(top + i * 3.2), text)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()
