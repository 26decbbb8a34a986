"""The calibration sheet: a millimetre grid and crosshairs at every anchor of a layout.

Printed on plain paper and laid over a blank form against the light, it shows how far the
printer puts each field from its box; the difference becomes the printer's offset.
"""

from __future__ import annotations

import io

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from printstation.config import Stock

from .fonts import ensure_font

INSTRUCTIONS = (
    "校准步骤（套打）：",
    "1. 用普通白纸打印本页（不要用发票）。",
    "2. 将本页与一张空白发票左上角对齐叠放，对着光源查看。",
    "3. 量出每个十字中心到发票上对应栏目起点的距离（毫米）：栏目在十字右边为向右（正数），"
    "在左边为向左（负数）；在十字下边为向下（正数），在上边为向上（负数）。",
    "4. 按量得的距离移动打印位置（在当前偏移上调整），例如向右 1.5、向上 0.5 毫米：",
    "   printstation calibrate {printer} --stock {stock} --adjust 1.5,-0.5",
    "   或直接设定偏移（当前偏移 + 量得的距离）：",
    "   printstation calibrate {printer} --stock {stock} --offset X,Y",
    "5. 再打印一张校准页核对，直到十字落在栏目上；再用样票核对：",
    "   printstation calibrate {printer} --stock {stock} --sample",
)

# The crosshairs' labels: each field as the printed form names it (字段名 when unknown, for
# a stock of IT's own).
FIELD_LABELS = {
    "title": "标题", "code": "发票代码", "number": "发票号码", "date": "开票日期",
    "check_code": "校验码", "machine_no": "机器编号", "cipher": "密码区",
    "buyer.name": "购买方名称", "buyer.tin": "购买方纳税人识别号",
    "buyer.address_phone": "购买方地址、电话", "buyer.bank_account": "购买方开户行及账号",
    "seller.name": "销售方名称", "seller.tin": "销售方纳税人识别号",
    "seller.address_phone": "销售方地址、电话", "seller.bank_account": "销售方开户行及账号",
    "total_amount": "合计金额", "total_tax": "合计税额", "total_words": "价税合计（大写）",
    "total": "价税合计（小写）", "remarks": "备注", "payee": "收款人", "reviewer": "复核",
    "drawer": "开票人", "page": "页码（共N页 第M页）", "total_label": "合计／小计",
}
COLUMN_LABELS = {
    "name": "货物或应税劳务、服务名称", "spec": "规格型号", "unit": "单位", "quantity": "数量",
    "unit_price": "单价", "amount": "金额", "rate": "税率", "tax": "税额",
}


def anchors(stock: Stock) -> list[tuple[str, float, float]]:
    """Every field's anchor, and the first item row's column anchors, each with its label
    in Chinese as the form says it."""
    found = [(FIELD_LABELS.get(name, name), spec.x, spec.y)
             for name, spec in stock.fields.items()]
    if stock.items is not None:
        found += [(f"第1行{COLUMN_LABELS.get(name, name)}", spec.x, stock.items.y)
                  for name, spec in stock.items.columns.items()]
    return found


def _wrapped(text: str, font: str, size: float, width_pt: float) -> list[str]:
    """A line broken where it would leave the page (a 76 mm roll is narrow)."""
    parts, line = [], ""
    for char in text:
        if line and stringWidth(line + char, font, size) > width_pt:
            parts.append(line)
            line = "   " if text.startswith("   ") else ""
        line += char
    return [*parts, line]


def moves(dx: float, dy: float) -> str:
    """An offset as 套打 settings say it: `向右 1.5 毫米，向上 0.5 毫米` (x right-positive,
    y down-positive)."""
    across = f"向右 {dx:.1f} 毫米" if dx > 0 else f"向左 {-dx:.1f} 毫米" if dx < 0 else "左右 0"
    down = f"向下 {dy:.1f} 毫米" if dy > 0 else f"向上 {-dy:.1f} 毫米" if dy < 0 else "上下 0"
    return f"{across}，{down}"


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
             f"毫米） · 当前偏移 {moves(dx, dy)}（x = {dx:+.1f}，y = {dy:+.1f} 毫米）",
             *(line.format(printer=printer, stock=stock.name) for line in INSTRUCTIONS)]
    lines = [part for text in lines for part in _wrapped(text, font, 7, (width - 16) * mm)]
    top = max(min(height * 0.45, height - 10 - 3.2 * len(lines)), 4)
    for i, text in enumerate(lines):
        canvas.drawString(min(12, width * 0.05) * mm, y_pt(top + i * 3.2), text)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()
