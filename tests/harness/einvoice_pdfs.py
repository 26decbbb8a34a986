"""Synthetic e-invoice PDFs that reproduce what real ones do (DOMAIN.md, "Real e-invoice
files seen in the wild"), each returned with its truth so tests can assert exactly.

Every page draws its invoice inside one ruled frame, which is the outermost ink: the
page's true ink box is that frame (plus half its line width), whatever the page size,
margins, /Rotate or MediaBox origin. Text is drawn in the order a maker chooses, so the
content stream can disagree with reading order as real producers' files do.

Traits: the legacy 电子普通发票 layout with the label block `发票代码:发票号码:开票日期:
校验码:` apart from its values (Didi and toll roads, 215.2 × 139 mm with uneven margins;
digits in Helvetica, not embedded); 深圳 241.3 × 139.7 with `20221024年月日` dates; 数电
210 × 140 (Suwell: labels and values drawn apart), 210 × 180 (旅客运输 with its 出行人
table), on A4 (iText: invoice at the top), 211.7 × 141.1 re-render with Kangxi radicals;
a page with /Rotate 90; a receipt; three invoices merged; a continued invoice; a page
whose visual order differs from its content order; MediaBox away from (0, 0) with a
smaller CropBox.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from dataclasses import dataclass, field, replace
from decimal import Decimal

from PIL import Image
from pypdf import PdfReader, PdfWriter, Transformation
from pypdf.generic import RectangleObject
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from printstation.drivers.fonts import ensure_font

Box = tuple[float, float, float, float]
LINE_PT = 0.6  # the frame's line width: the ink reaches half of it beyond the frame
_HALF_MM = LINE_PT / 2 / mm


@dataclass(frozen=True)
class Truth:
    """One invoice in a made PDF, as a reader must find it."""

    number: str
    code: str = ""
    date: dt.date | None = None
    title: str = ""
    total_amount: Decimal | None = None
    total_tax: Decimal | None = None
    total: Decimal | None = None
    pages: tuple[int, ...] = (0,)
    source: str = ""  # how the number is to be found: labels, positions, fallback

    @property
    def key(self) -> str:
        return f"{self.code}-{self.number}" if self.code else self.number


@dataclass(frozen=True)
class Made:
    """A made PDF: bytes, its invoices, and each page as displayed (size, ink box, mm)."""

    data: bytes
    invoices: tuple[Truth, ...]
    page_mm: tuple[tuple[float, float], ...]
    ink_mm: tuple[Box, ...]
    # Text drawn where the CropBox cuts it away: it never prints, yet text extraction
    # (which ignores clipping) may still report it.
    cropped: str = ""


@dataclass
class _Text:
    x: float  # mm from the frame's left
    y: float  # mm from the frame's top, baseline
    text: str
    size: float = 9
    font: str = ""  # "" is the CJK TrueType font; "Helvetica" is not embedded
    align: str = "left"
    lines: float = 0  # > 0: a text block, one line per "\n", this many mm apart


@dataclass
class _Sheet:
    """One page: displayed size, the frame (left, top, width, height: mm as displayed),
    its rules (y from the frame's top) and its texts in drawing order."""

    size: tuple[float, float]
    frame: tuple[float, float, float, float]
    texts: list[_Text]
    rules: tuple[float, ...] = ()
    rotate: int = 0
    # Drawn outside the frame but inside the MediaBox, then cropped away by a CropBox.
    hidden: list[_Text] = field(default_factory=list)


def _draw(sheets: list[_Sheet]) -> bytes:
    font = ensure_font()
    buf = io.BytesIO()
    canvas = Canvas(buf, initialFontName=font)
    for sheet in sheets:
        width, height = sheet.size
        if sheet.rotate == 90:
            # Drawn on a portrait user space, shown turned a quarter clockwise: a user point
            # (x, y) appears at (y, W − x), so shown (X, Y) is drawn at (W − Y, X). Given a
            # rotation, reportlab takes the page size as shown and swaps its MediaBox.
            canvas.setPageSize((width * mm, height * mm))
            canvas.setPageRotation(90)
            canvas.transform(0, 1, -1, 0, height * mm, 0)
        else:
            canvas.setPageSize((width * mm, height * mm))
        left, top, frame_w, frame_h = sheet.frame
        canvas.setLineWidth(LINE_PT)
        canvas.rect(left * mm, (height - top - frame_h) * mm, frame_w * mm, frame_h * mm)
        for y in sheet.rules:
            canvas.line(left * mm, (height - top - y) * mm, (left + frame_w) * mm,
                        (height - top - y) * mm)
        for text in sheet.texts + sheet.hidden:
            _put(canvas, font, height, left, top, text)
        canvas.showPage()
    canvas.save()
    return buf.getvalue()


def _put(canvas: Canvas, font: str, height: float, left: float, top: float,
         text: _Text) -> None:
    x, y = (left + text.x) * mm, (height - top - text.y) * mm
    face = text.font or font
    if text.lines:
        block = canvas.beginText(x, y)
        block.setFont(face, text.size, leading=text.lines * mm)
        block.textLines(text.text)
        canvas.drawText(block)
        return
    canvas.setFont(face, text.size)
    draw = {"left": canvas.drawString, "right": canvas.drawRightString,
            "centre": canvas.drawCentredString}[text.align]
    draw(x, y, text.text)


def _made(sheets: list[_Sheet], invoices: list[Truth], data: bytes | None = None,
          cropped: str = "") -> Made:
    inks = tuple((round(s.frame[0] - _HALF_MM, 2), round(s.frame[1] - _HALF_MM, 2),
                  round(s.frame[0] + s.frame[2] + _HALF_MM, 2),
                  round(s.frame[1] + s.frame[3] + _HALF_MM, 2)) for s in sheets)
    return Made(data if data is not None else _draw(sheets), tuple(invoices),
                tuple(s.size for s in sheets), inks, cropped)


# -- the legacy 电子普通发票 (Didi, toll roads, hotels) -------------------------------------

LEGACY = Truth(number="37745385", code="011001900311", date=dt.date(2019, 8, 5),
               title="北京增值税电子普通发票", total_amount=Decimal("25.47"),
               total_tax=Decimal("0.76"), total=Decimal("26.23"), source="positions")


def _legacy_texts(truth: Truth, block: str, date_text: str) -> list[_Text]:
    """The legacy body (201.8 × 128 mm frame). `block` "column" stacks the labels, their
    values on the same rows to the right; "line" draws the labels as one line with the
    values in a column below it, so only the checked fallback can pair them."""
    amount, tax, total = truth.total_amount, truth.total_tax, truth.total
    labels = "发票代码:\n发票号码:\n开票日期:\n校验码:"
    if block == "line":
        head = [_Text(118, 6, labels.replace("\n", ""), 9)]
        rows = (10.5, 15, 19.5, 23)
    else:
        head = [_Text(140, 6, labels, 9, lines=4.5)]
        rows = (6, 10.5, 15, 19.5)
    values = [  # drawn in the opposite of reading order, as such producers do
        _Text(157, rows[3], "12019 84736 50291 38475", 9, "Helvetica"),
        *([_Text(157, rows[2], date_text, 9)] if "年月日" not in date_text else [
            _Text(157, rows[2], date_text[:8], 9, "Helvetica"),
            _Text(172, rows[2], "年月日", 9)]),
        _Text(157, rows[1], truth.number, 9, "Helvetica"),
        _Text(157, rows[0], truth.code, 9, "Helvetica"),
    ]
    body = [
        _Text(50, 12, truth.title, 16),
        _Text(4, 19.5, "机器编号:", 9),
        _Text(22, 19.5, "044031900111", 9, "Helvetica"),  # the shape of a code: a trap
        _Text(3, 30, "购\n买\n方", 9, lines=5),
        _Text(10, 30, "名        称: 北京青松网络科技有限公司", 9),
        _Text(10, 35, "纳税人识别号: 91110108MA01TEST11", 9),
        _Text(10, 40, "地 址、电 话: 北京市海淀区中关村大街1号 62345678", 9),
        _Text(10, 45, "开户行及账号: 招商银行北京分行 110912345610201", 9),
        _Text(118, 30, "03<8*6+>1234-5678/9-<>*+1-0>43", 9, "Helvetica"),
        _Text(118, 35, "-<1+>*0312>>5/67*<8-9+4<<0*21", 9, "Helvetica"),
        _Text(5, 53, "项目名称      规格型号  单位  数量  单价      金额  税率  税额", 9),
        _Text(5, 59, "*运输服务*客运服务费", 9),
        _Text(95, 59, "次", 9),
        _Text(112, 59, "1", 9, "Helvetica", "right"),
        _Text(137, 59, str(amount), 9, "Helvetica", "right"),
        _Text(160, 59, str(amount), 9, "Helvetica", "right"),
        _Text(170, 59, "3%", 9, "Helvetica"),
        _Text(198, 59, str(tax), 9, "Helvetica", "right"),
        _Text(20, 96, "合      计", 9),
        _Text(160, 96, f"¥{amount}", 9, "", "right"),
        _Text(198, 96, f"¥{tax}", 9, "", "right"),
        _Text(8, 102.5, "价税合计(大写)", 9),
        _Text(50, 102.5, "贰拾陆圆贰角叁分", 9),
        _Text(140, 102.5, f"(小写)¥{total}", 9),
        _Text(3, 110, "销\n售\n方", 9, lines=5),
        _Text(10, 110, "名        称: 北京嘀嗒出行科技有限公司", 9),
        _Text(10, 114.5, "纳税人识别号: 911101083180522925", 9),
        _Text(10, 119, "地 址、电 话: 北京市海淀区东北旺西路8号 01062345678", 9),
        _Text(10, 123.5, "开户行及账号: 招商银行北京分行 62220202001122334455", 9),
        _Text(118, 123.5, "收款人: 王五    复核: 赵六    开票人: 张三", 9),
    ]
    return head + body[:3] + body[3:12] + values + body[12:]


_LEGACY_RULES = (24, 48, 92, 98, 106)


def legacy_didi(block: str = "column", rotate: int = 0) -> Made:
    """Didi / toll-road legacy invoice, 215.2 × 139 mm, ink x 7.4–209.2 (uneven margins)."""
    truth = LEGACY if block == "column" else replace(LEGACY, source="fallback")
    sheet = _Sheet((215.2, 139.0), (7.4, 4.0, 201.8, 128.0),
                   _legacy_texts(truth, block, "2019年08月05日"), _LEGACY_RULES, rotate)
    return _made([sheet], [truth])


def legacy_shenzhen() -> Made:
    """深圳 legacy invoice (iText) on 241.3 × 139.7 mm: its date reads `20221024年月日`."""
    truth = replace(LEGACY, number="06120477", code="044032200111", date=dt.date(2022, 10, 24),
                    title="深圳电子普通发票")
    texts = _legacy_texts(truth, "column", "20221024年月日")
    return _made([_Sheet((241.3, 139.7), (21.0, 6.5, 201.8, 128.0), texts, _LEGACY_RULES)],
                 [truth])


# -- 数电 (fully digitalised) invoices ------------------------------------------------------

DIGITAL = Truth(number="25322000000337005189", date=dt.date(2025, 7, 22),
                title="电子发票（增值税专用发票）", total_amount=Decimal("8562.72"),
                total_tax=Decimal("256.88"), total=Decimal("8819.60"), source="positions")


def _digital_texts(truth: Truth, adjacent: bool, kangxi: bool = False,
                   travel: bool = False) -> list[_Text]:
    """The 数电 body (205 × 127 mm frame; 167 with the 出行人 table). `adjacent` writes each
    label and its value as one string (iText); else values are drawn after all labels."""
    def k(text: str) -> str:
        # The re-render's Kangxi radicals: ⽇ for 日, ⽉ for 月, ⼦ for 子, ⾦ for 金…
        table = str.maketrans("日月子金大小", "⽇⽉⼦⾦⼤⼩") if kangxi else {}
        return text.translate(table)

    when = truth.date
    date = k(f"{when.year}年{when.month:02d}月{when.day:02d}日") if when else ""
    title = truth.title.replace("（", "(").replace("）", ")") if kangxi else truth.title
    labels = [_Text(150, 10, k("发票号码:"), 9), _Text(150, 16, k("开票日期:"), 9)]
    values = [_Text(165, 10, truth.number, 9), _Text(165, 16, date, 9)]
    if adjacent:
        labels = [_Text(150, 10, k("发票号码:") + truth.number, 9),
                  _Text(150, 16, k("开票日期:") + date, 9)]
        values = []
    low = 40 if travel else 0
    texts = [
        _Text(50, 12, k(title), 14),
        *labels,
        _Text(3, 30, "购买方", 9),
        _Text(14, 30, "名称:无锡天鹏菜篮子工程有限公司", 9),
        _Text(14, 38, "统一社会信用代码/纳税人识别号:", 9),
        _Text(62, 38, "91320200796148368W", 9),
        _Text(103, 30, "销售方", 9),
        _Text(114, 30, "名称:梁溪苏翼智能产品中心", 9),
        _Text(114, 38, "统一社会信用代码/纳税人识别号:", 9),
        _Text(162, 38, "92320213MACRYAKN16", 9),
        _Text(8, 50, k("项目名称   规格型号   单位   数量   单价   金额   税率/征收率   税额"), 9),
        _Text(3, 57, "*公共安全设备*点型光电感烟火灾探测器", 8),
        _Text(150, 57, "6669.90", 8, "", "right"),
        _Text(165, 57, "3%", 8),
        _Text(200, 57, "200.10", 8, "", "right"),
    ]
    if travel:
        texts += [_Text(4, 70, "出行人  有效身份证件号  出行日期  出发地  到达地  "
                               "等级  交通工具类型", 8),
                  _Text(4, 76, "张三  110101199001011234  2025-03-01  北京  上海  二等座  火车", 8),
                  _Text(4, 82, "李四  110101199202022345  2025-03-01  北京  上海  二等座  火车", 8)]
    texts += [
        _Text(15, 86 + low, "合      计", 9),
        _Text(150, 86 + low, f"¥{truth.total_amount}", 9, "", "right"),
        _Text(200, 86 + low, f"¥{truth.total_tax}", 9, "", "right"),
        _Text(12, 93 + low, k("价税合计(大写)"), 9),
        _Text(60, 93 + low, "捌仟捌佰壹拾玖圆陆角整", 9),
        _Text(140, 93 + low, k("(小写)"), 9),
        _Text(155, 93 + low, f"¥{truth.total}", 9),
        _Text(8, 103 + low, "购方开户银行:江苏银行天惠支行; 银行账号:62220202001122334455;", 8),
        _Text(15, 122 + low, "开票人:杨建清", 9),
    ]
    return texts + values


_DIGITAL_RULES = (24, 44, 82, 89, 97)


def digital(size: tuple[float, float] = (210.0, 140.0), at: tuple[float, float] = (4.4, 6.0),
            adjacent: bool = False, kangxi: bool = False, truth: Truth = DIGITAL) -> Made:
    """A 数电 invoice: 210 × 140 (Suwell), on A4 at the top (iText, `adjacent`), or the
    211.7 × 141.1 re-render with Kangxi radicals."""
    truth = replace(truth, source="labels" if adjacent else "positions")
    sheet = _Sheet(size, (*at, 205.0, 127.0), _digital_texts(truth, adjacent, kangxi),
                   _DIGITAL_RULES)
    return _made([sheet], [truth])


def digital_a4() -> Made:
    return digital((210.0, 297.0), (2.5, 5.0), adjacent=True)


def digital_rerender() -> Made:
    return digital((211.67, 141.11), (3.3, 6.5), kangxi=True,
                   truth=replace(DIGITAL, number="24322000000489101796",
                                 date=dt.date(2024, 3, 9)))


def travel() -> Made:
    """数电 旅客运输服务 invoice, 210 × 180 mm, with its 出行人 table (dates in it too)."""
    truth = replace(DIGITAL, number="25112000000123456789", title="电子发票（普通发票）",
                    date=dt.date(2025, 3, 2))
    sheet = _Sheet((210.0, 180.0), (2.5, 6.0, 205.0, 167.0),
                   _digital_texts(truth, False, travel=True), (24, 44, 122, 129, 137))
    return _made([sheet], [truth])


def visual_order() -> Made:
    """A 数电 invoice whose content stream draws everything bottom to top, each value
    before its label."""
    made = digital()
    texts = _digital_texts(made.invoices[0], False)[::-1]
    sheet = _Sheet((210.0, 140.0), (4.4, 6.0, 205.0, 127.0), texts, _DIGITAL_RULES)
    return _made([sheet], list(made.invoices))


def rotated() -> Made:
    """The Didi invoice on a portrait page shown with /Rotate 90."""
    return legacy_didi(rotate=90)


def receipt() -> Made:
    """A receipt: amounts, a date, an 8-digit serial; no invoice number or code."""
    texts = [_Text(60, 12, "收  款  收  据", 16),
             _Text(120, 22, "No. 00123456", 10, "Helvetica"),
             _Text(10, 22, "日期: 2025-05-01", 10),
             _Text(10, 34, "今收到: 无锡天鹏菜篮子工程有限公司", 10),
             _Text(10, 44, "人民币(大写): 壹佰贰拾圆整", 10), _Text(120, 44, "¥120.00", 10),
             _Text(10, 60, "收款单位(盖章)      经手人: 王五", 10)]
    return _made([_Sheet((180.0, 90.0), (5.0, 5.0, 170.0, 75.0), texts, (28, 50))], [])


def red_letter(block: str = "line", remark_y: float = 112.0) -> Made:
    """A legacy red-letter (红字) invoice, amounts negative, whose remark names the blue
    invoice it cancels (`对应正数发票代码: … 号码: …`, a plausible code and an 8-digit number)
    at `remark_y` mm: 112 is the remarks area below 价税合计; 80 is above the 合计 line,
    where only the words before them say whose they are. `block` as `legacy_didi`."""
    truth = replace(LEGACY, number="37745999", code="011001900322",
                    total_amount=Decimal("-25.47"), total_tax=Decimal("-0.76"),
                    total=Decimal("-26.23"), source="fallback" if block == "line" else "positions")
    remark = _Text(118, remark_y, f"对应正数发票代码: {LEGACY.code} 号码: {LEGACY.number}", 8)
    texts = [*_legacy_texts(truth, block, "2019年08月05日"), remark]
    return _made([_Sheet((215.2, 139.0), (7.4, 4.0, 201.8, 128.0), texts, _LEGACY_RULES)],
                 [truth])


# A bank account with the shape of a 数电 number (year 25, province 32).
ACCOUNT = "25320101040012345678"


def account_apart(row_y: float = 103.0) -> Made:
    """A 数电 page whose 发票号码 label and number are not text (drawn as outlines), with a
    bank account of a number's shape drawn far right of its `银行账号:` label, at `row_y`
    mm (103: the remarks below 价税合计; 70: above the 合计 line). No number can be read:
    it is no invoice to the reader."""
    texts = [t for t in _digital_texts(DIGITAL, False)
             if t.text not in ("发票号码:", DIGITAL.number)]
    texts += [_Text(8, row_y, "购方开户银行:江苏银行天惠支行;      银行账号:", 8),
              _Text(160, row_y, ACCOUNT, 8)]
    return _made([_Sheet((210.0, 140.0), (4.4, 6.0, 205.0, 127.0), texts, _DIGITAL_RULES)], [])


def merged_three() -> Made:
    """Three invoices merged one per page: 数电, legacy Didi, 数电."""
    second = replace(DIGITAL, number="25322000000337005190", source="labels")
    sheets = [
        _Sheet((210.0, 140.0), (4.4, 6.0, 205.0, 127.0), _digital_texts(DIGITAL, False),
               _DIGITAL_RULES),
        _Sheet((215.2, 139.0), (7.4, 4.0, 201.8, 128.0),
               _legacy_texts(LEGACY, "column", "2019年08月05日"), _LEGACY_RULES),
        _Sheet((210.0, 140.0), (4.4, 6.0, 205.0, 127.0), _digital_texts(second, True),
               _DIGITAL_RULES),
    ]
    return _made(sheets, [replace(DIGITAL, pages=(0,)), replace(LEGACY, pages=(1,)),
                          replace(second, pages=(2,))])


def continued() -> Made:
    """A 数电 invoice over two pages (共2页: the second repeats its number and states the
    totals) and a 销货清单 page with no number, then another invoice on the last page."""
    first = replace(DIGITAL, pages=(0, 1, 2))
    whole = _digital_texts(first, True)
    page_one = [t for t in whole if not t.text.startswith(("¥", "合", "价税", "(小写)"))]
    page_one.append(_Text(90, 124, "共2页 第1页", 8))
    page_two = [t for t in whole if t.y < 24 or t.y >= 80] + [_Text(90, 124, "共2页 第2页", 8)]
    listing = [_Text(40, 12, "销售货物或者提供应税劳务清单", 14),
               _Text(5, 30, "*公共安全设备*点型感温火灾探测器  PCS  40  1261.75  3%  37.85", 8)]
    other = replace(DIGITAL, number="25322000000337005201", date=dt.date(2025, 7, 23),
                    pages=(3,), source="labels")
    size, frame = (210.0, 140.0), (4.4, 6.0, 205.0, 127.0)
    sheets = [_Sheet(size, frame, page_one, _DIGITAL_RULES),
              _Sheet(size, frame, page_two, _DIGITAL_RULES),
              _Sheet(size, frame, listing, (20,)),
              _Sheet(size, frame, _digital_texts(other, True), _DIGITAL_RULES)]
    return _made(sheets, [replace(first, source="labels"), other])


def offset_boxes() -> Made:
    """A 数电 page whose MediaBox starts at (100, 50) pt with a CropBox 10 mm inside it
    on every side; a mark drawn in the cropped margin must never print."""
    size, frame = (230.0, 160.0), (14.4, 16.0, 205.0, 127.0)
    truth = replace(DIGITAL, source="positions")
    sheet = _Sheet(size, frame, _digital_texts(truth, False), _DIGITAL_RULES,
                   hidden=[_Text(-12, 60, "裁", 12)])
    reader = PdfReader(io.BytesIO(_draw([sheet])))
    writer = PdfWriter()
    page = writer.add_page(reader.pages[0])
    dx, dy = 100.0, 50.0
    page.add_transformation(Transformation().translate(dx, dy))
    width, height = size[0] * mm, size[1] * mm
    page.mediabox = RectangleObject([dx, dy, dx + width, dy + height])
    page.cropbox = RectangleObject([dx + 10 * mm, dy + 10 * mm, dx + width - 10 * mm,
                                    dy + height - 10 * mm])
    out = io.BytesIO()
    writer.write(out)
    shown = _Sheet((size[0] - 20, size[1] - 20), (frame[0] - 10, frame[1] - 10, *frame[2:]),
                   [], ())
    return _made([shown], [truth], out.getvalue(), cropped="裁")


def every_trait() -> dict[str, Made]:
    """Every maker's PDF by name (for tests over all page shapes)."""
    return {"didi": legacy_didi(), "didi-line": legacy_didi("line"),
            "shenzhen": legacy_shenzhen(), "digital": digital(), "a4": digital_a4(),
            "rerender": digital_rerender(), "travel": travel(), "visual-order": visual_order(),
            "rotated": rotated(), "merged": merged_three(), "continued": continued(),
            "offset": offset_boxes()}


def measure_ink(pdf: bytes, page: int = 0, dpi: int = 300) -> Box:
    """A page's ink (left, top, right, bottom, mm) as poppler shows it, measured here with
    Pillow at 300 dpi: independent of `invoice.ink`, which the reader uses."""
    done = subprocess.run(["pdftoppm", "-gray", "-cropbox", "-r", str(dpi), "-f", str(page + 1),
                           "-l", str(page + 1), "-"], input=pdf, capture_output=True,
                          check=True, timeout=60)
    image = Image.open(io.BytesIO(done.stdout))
    box = image.point(lambda level: 255 if level < 0xF0 else 0).getbbox()
    if box is None:
        return (0.0, 0.0, 0.0, 0.0)
    per_px = 25.4 / dpi
    return tuple(round(v * per_px, 2) for v in box)  # type: ignore[return-value]


def page_text(pdf: bytes, page: int = 0) -> str:
    """What poppler reads on a page (pdftotext, in content order)."""
    done = subprocess.run(["pdftotext", "-cropbox", "-raw", "-f", str(page + 1), "-l",
                           str(page + 1), "-", "-"], input=pdf, capture_output=True,
                          check=True, timeout=60)
    return done.stdout.decode("utf-8")
