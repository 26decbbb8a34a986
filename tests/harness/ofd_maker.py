"""Synthetic OFD invoices (GB/T 33190) with the traits of the tax platform's files, and
hostile ones, for tests and benchmarks.

`make_ofd(...)` returns the OFD's bytes and its `Truth`: the identity it carries and every
character's origin on its pages, computed here from the numbers written into the XML (not
by the reader under test). A valid document has a template page (the form's labels and
rules, brown), a content layer (the values, in an embedded TrueType subset of the
station's CJK font), a ⊗ and rules drawn with M/L/B/Q/A paths, a PNG QR-like code, a PNG
seal on an annotation, a watermark turned 90°, and optionally an attached invoice XML,
several pages, a signature whose seal picture sits in SES data, labels drawn apart from
their values (the legacy layout) or an OpenType-CFF font.

`hostile_ofds()` gives each hostile variant with the code it must be refused with.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.subset import Options, Subsetter
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw

from printstation.drivers.fonts import font_path

NS = "http://www.ofdspec.org/2016"
BROWN = "128 0 0"


@dataclass(frozen=True)
class Glyph:
    page: int
    char: str
    x: float  # mm from the page's left
    y: float  # mm from the page's top (the baseline)


@dataclass(frozen=True)
class Truth:
    number: str
    code: str
    date: dt.date | None
    total_amount: Decimal | None
    total_tax: Decimal | None
    total: Decimal | None
    title: str
    source: str
    page_mm: tuple[tuple[float, float], ...]
    glyphs: tuple[Glyph, ...]
    # Picture draws on all pages (QR code, seal annotation, signature seal).
    pictures: int
    # Each invoice the pages show, in order: (number, its pages). One unless `page_numbers`
    # merges several invoices into the document.
    invoices: tuple[tuple[str, tuple[int, ...]], ...] = ()


def _deltas(values: list[float]) -> str:
    """DeltaX as producers write it: runs of equal steps as `g N step`."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        out.append(f"g {j - i} {values[i]:g}" if j - i >= 3 else
                   " ".join(f"{v:g}" for v in values[i:j]))
        i = j
    return " ".join(out)


def _wide(ch: str) -> bool:
    return ord(ch) > 0x2E80


@dataclass
class _Page:
    """One page's (or template's) objects, and the truth of where each character lands."""

    index: int
    p: str
    objects: list[str] = field(default_factory=list)
    glyphs: list[Glyph] = field(default_factory=list)
    ids: list[int] = field(default_factory=lambda: [100])

    def oid(self) -> int:
        self.ids[0] += 1
        return self.ids[0]

    def text(self, bx: float, by: float, s: str, size: float = 3.175, *, font: str = "3",
             x: float = 0.0, y: float | None = None, ctm: tuple[float, ...] | None = None,
             down: bool = False, colour: str = "", alpha: int = 255) -> None:
        p = self.p
        y = size * 0.85 if y is None else y
        step = [size if _wide(ch) else size / 2 for ch in s[:-1]]
        attrs = f'ID="{self.oid()}" Boundary="{bx:g} {by:g} {max(len(s) * size, 1):g} ' \
                f'{size * 1.2 + (len(s) * size if down else 0):g}" Font="{font}" Size="{size:g}"'
        if ctm:
            attrs += f' CTM="{" ".join(f"{v:g}" for v in ctm)}"'
        if alpha != 255:
            attrs += f' Alpha="{alpha}"'
        delta = (f'DeltaY="{_deltas([size] * (len(s) - 1))}"' if down else
                 f'DeltaX="{_deltas(step)}"') if len(s) > 1 else ""
        fill = f'<{p}FillColor Value="{colour}"/>' if colour else ""
        self.objects.append(f'<{p}TextObject {attrs}>{fill}<{p}TextCode X="{x:g}" Y="{y:g}" '
                            f'{delta}>{escape(s)}</{p}TextCode></{p}TextObject>')
        gx, gy = x, y
        for i, ch in enumerate(s):
            if i:
                if down:
                    gy += size
                else:
                    gx += step[i - 1]
            a, b, c, d, e, f = ctm or (1, 0, 0, 1, 0, 0)
            px, py = a * gx + c * gy + e, b * gx + d * gy + f
            if not ch.isspace():
                self.glyphs.append(Glyph(self.index, ch, bx + px, by + py))

    def path(self, box: tuple[float, float, float, float], data: str, *, width: float = 0.25,
             stroke: str = "", fill: str = "", extra: str = "") -> None:
        p = self.p
        colours = (f'<{p}FillColor Value="{fill}"/>' if fill else "") + \
            (f'<{p}StrokeColor Value="{stroke}"/>' if stroke else "")
        self.objects.append(
            f'<{p}PathObject ID="{self.oid()}" Boundary="{" ".join(f"{v:g}" for v in box)}" '
            f'LineWidth="{width:g}"{" Fill=" + quoteattr("true") if fill else ""} {extra}>'
            f'{colours}<{p}AbbreviatedData>{data}</{p}AbbreviatedData></{p}PathObject>')

    def image(self, box: tuple[float, float, float, float], resource: str) -> None:
        x, y, w, h = box
        self.objects.append(f'<{self.p}ImageObject ID="{self.oid()}" CTM="{w:g} 0 0 {h:g} 0 0" '
                            f'Boundary="{x:g} {y:g} {w:g} {h:g}" ResourceID="{resource}"/>')

    def xml(self, root: str, head: str, layer_attrs: str = "") -> bytes:
        p = self.p
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{p}{root} {head}>'
                f'<{p}Content><{p}Layer ID="{self.oid()}" {layer_attrs}>{"".join(self.objects)}'
                f'</{p}Layer></{p}Content></{p}{root}>').encode()


def _qr_picture(fmt: str = "PNG", seed: int = 7) -> bytes:
    """A QR-like picture: 25 × 25 modules with finder squares, a 4-module white margin."""
    rng = random.Random(seed)
    n, scale, quiet = 25, 8, 4
    image = Image.new("L", ((n + 2 * quiet) * scale,) * 2, 255)
    draw = ImageDraw.Draw(image)
    for row in range(n):
        for col in range(n):
            finder = any(row - r in range(7) and col - c in range(7)
                         for r, c in ((0, 0), (0, n - 7), (n - 7, 0)))
            if finder:
                rr, cc = (row % (n - 7) if row >= n - 7 else row), (
                    col % (n - 7) if col >= n - 7 else col)
                dark = rr in (0, 6) or cc in (0, 6) or (2 <= rr <= 4 and 2 <= cc <= 4)
            else:
                dark = rng.random() < 0.5
            if dark:
                x0, y0 = (col + quiet) * scale, (row + quiet) * scale
                draw.rectangle((x0, y0, x0 + scale - 1, y0 + scale - 1), fill=0)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _seal_png() -> bytes:
    """A red oval seal ring on a transparent ground, like the tax platform's."""
    image = Image.new("RGBA", (300, 200), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((6, 6, 293, 193), outline=(220, 0, 0, 255), width=7)
    draw.line((90, 100, 210, 100), fill=(220, 0, 0, 255), width=5)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@functools.lru_cache(maxsize=8)
def font_subset(chars: frozenset[str], cff: bool = False) -> bytes:
    """The station's CJK font cut to `chars` (TrueType), or rebuilt with CFF outlines."""
    font = TTFont(str(font_path()), fontNumber=0)
    options = Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = []
    # Bitmap and vendor tables the subsetter cannot cut: dropped without a warning.
    options.drop_tables += ["BDF", "FFTM", "EBDT", "EBLC", "EBSC", "PCLT", "LTSH", "hdmx"]
    subsetter = Subsetter(options)
    subsetter.populate(text="".join(sorted(chars)))
    subsetter.subset(font)
    if cff:
        return _as_cff(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _damaged(ttf: bytes) -> bytes:
    """The font with its outlines overwritten: its tables' directory still reads."""
    import struct

    data = bytearray(ttf)
    for i in range(struct.unpack(">H", data[4:6])[0]):
        tag, _, offset, length = struct.unpack(">4sIII", data[12 + 16 * i:28 + 16 * i])
        if tag == b"glyf":
            for j in range(offset + 10, offset + length):
                data[j] = 0xFF if j % 3 else 0x7F
    return bytes(data)


def _as_cff(font: TTFont) -> bytes:
    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    metrics = {name: font["hmtx"][name] for name in order}
    strings = {}
    for name in order:
        pen = T2CharStringPen(metrics[name][0], glyphs)
        glyphs[name].draw(pen)
        strings[name] = pen.getCharString()
    builder = FontBuilder(font["head"].unitsPerEm, isTTF=False)
    builder.setupGlyphOrder(order)
    builder.setupCharacterMap(font.getBestCmap())
    builder.setupCFF("OfdTestCff", {"FullName": "OfdTestCff"}, strings, {})
    builder.setupHorizontalMetrics(metrics)
    builder.setupHorizontalHeader(ascent=font["hhea"].ascent, descent=font["hhea"].descent)
    builder.setupNameTable({"familyName": "OfdTestCff", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    width = (size.bit_length() + 7) // 8
    return bytes([tag, 0x80 | width]) + size.to_bytes(width, "big") + body


def signed_value(picture: bytes, kind: str = "png") -> bytes:
    """An SES signature value (GM/T 0031 shape) whose seal picture is `picture`."""
    seal = _der(0x30, _der(0x16, kind.encode()) + _der(0x04, picture) + _der(0x02, b"\x28")
                + _der(0x02, b"\x1b"))
    header = _der(0x30, _der(0x16, b"ES") + _der(0x02, b"\x04") + _der(0x16, b"TEST"))
    return _der(0x30, _der(0x30, header + _der(0x30, _der(0x0C, "测试印章".encode()) + seal))
                + _der(0x03, b"\x00sig"))


def ofd_members(*, number: str = "24322000000489101796", code: str = "",
                date: dt.date = dt.date(2024, 12, 5), amount: str = "17699.12",
                tax: str = "2300.88", title: str = "电子发票（增值税专用发票）",
                custom: bool = True, attachment: bytes | None = None, pages: int = 1,
                page_mm: tuple[float, float] = (210.0, 140.0), font: str = "embedded",
                namespace: str = "prefixed", labels_apart: bool = False, signed: bool = False,
                shown_number: str | None = None, qr_format: str = "PNG",
                page_numbers: tuple[str, ...] = (),
                ) -> tuple[dict[str, bytes], Truth]:
    """The members of a synthetic OFD invoice, and its truth.

    `font`: "embedded" (TrueType subset), "cff" (OpenType-CFF), "named" (no font file),
    "broken" (a file that is no font) or "damaged" (a TrueType font with garbled
    outlines). `namespace`: "prefixed" (`ofd:`), "default" or "none". `shown_number` draws
    another number on the page than CustomData says. `qr_format`: the QR code picture's
    format for Pillow (PNG, JPEG, BMP, GIF, TIFF). `page_numbers`: the number each page
    shows beside its label, one per page (invoices merged into one OFD; CustomData still
    says `number`).
    """
    assert not page_numbers or len(page_numbers) == pages, (page_numbers, pages)
    p, head = {"prefixed": ("ofd:", f'xmlns:ofd="{NS}"'), "default": ("", f'xmlns="{NS}"'),
               "none": ("", "")}[namespace]
    total = Decimal(amount) + Decimal(tax)
    from printstation.invoice import to_capitals

    tpl = _Page(0, p)
    # The form: title, labels and rules, in the template (KaiTi named only: our font).
    tpl.text(56, 8, title, 7.0, font="6", x=1.0, y=6.0)
    if labels_apart:
        tpl.text(150, 5, "发票代码:发票号码:开票日期:", 3.0, font="6")
    else:
        if code:
            tpl.text(150, 5, "发票代码：", 3.175, font="6", y=3.0)
        tpl.text(150, 11, "发票号码：", 3.175, font="6", y=3.0)
        tpl.text(150, 17, "开票日期：", 3.175, font="6", y=3.0)
    for y, label in ((33, "名称："), (43, "统一社会信用代码/纳税人识别号：")):
        tpl.text(11, y, label, 3.175, font="6")
        tpl.text(111, y, label, 3.175, font="6")
    tpl.text(5.5, 32.5, "购买方", 3.175, font="6", down=True)
    tpl.text(15.5, 53, "项目名称", 3.175, font="6")
    tpl.text(20, 92, "合 计", 3.175, font="6")
    tpl.text(16, 98.5, "价税合计（大写）", 3.175, font="6")
    tpl.text(143, 98.5, "（小写）", 3.175, font="6")
    tpl.text(19, 129.5, "开票人：", 3.175, font="6")
    tpl.path((4.5, 29.8, 201, 94.4), "M 0 0 L 201 0 L 201 94 L 0 94 C", extra='Join="Bevel"')
    for y in (51.8, 95.8, 103.8):
        tpl.path((4.5, y, 201, 0.4), "M 0 0.2 L 201 0.2")
    tpl.path((56, 17.8, 98, 2), "M 0 0.2 Q 49 1.8 98 0.2", width=0.3)
    tpl.path((10, 104, 10, 20), "M 1 1 A 4 4 0 0 1 9 1 L 9 19", width=0.2, stroke="0 0 0",
             extra='DashPattern="1 0.5"')
    members: dict[str, bytes] = {}
    glyphs: list[Glyph] = []
    page_entries = []
    for n in range(pages):
        page = _Page(n, p)
        page.ids[0] = 1000 * (n + 1)
        page.image((6.5, 6, 20, 20), "7")
        shown = page_numbers[n] if page_numbers else shown_number or number
        if labels_apart:
            page.text(172, 30, code or shown, 3.175)
            if code:
                page.text(172, 34.5, shown, 3.175)
            page.text(172, 39, f"{date.year}年{date.month:02d}月{date.day:02d}日", 3.175)
        else:
            if code:
                page.text(167, 5, code, 3.175, y=3.0)
            page.text(167, 11, shown, 3.175, y=3.0)
            page.text(167, 17, f"{date.year}年{date.month:02d}月{date.day:02d}日", 3.175, y=3.0)
        page.text(20, 33.8, "测试购买方有限公司", 3.175, y=2.7)
        page.text(54, 43.3, "91320200796148368W", 4.2333, font="3")
        page.text(120, 33.8, "测试销售方科技有限公司", 3.175, y=2.7)
        page.text(154.5, 43.3, "91320211739560225X", 4.2333)
        page.text(4.5, 56, "*信息技术服务*软件维护", 3.175)
        page.text(130, 56, amount, 3.175)
        page.text(158, 56, "13%", 3.175)
        page.text(182, 56, tax, 3.175)
        page.text(127.5, 90.5, "¥", 3.8806, x=10.9, y=4.1)
        page.text(127.5, 90.5, amount, 3.175, x=13.3, y=4.1)
        page.text(179.5, 90.5, "¥", 3.8806, x=12.5, y=4.1)
        page.text(179.5, 90.5, tax, 3.175, x=14.8, y=4.1)
        page.path((57.9, 97, 5, 5), "M 4.53 2.49 B 4.53 1.37 3.62 0.45 2.49 0.45 B 1.36 0.45 "
                  "0.45 1.37 0.45 2.49 B 0.45 3.62 1.36 4.54 2.49 4.54 B 3.62 4.54 4.53 3.62 "
                  "4.53 2.49 M 1.04 1.04 L 3.92 3.92 M 1.04 3.92 L 3.92 1.04", width=0.225,
                  extra='Fill="true"')
        page.text(63, 96, to_capitals(total), 3.175, y=4.8)
        page.text(155.5, 96, "¥", 3.8806, y=4.9)
        page.text(155.5, 96, f"{total:.2f}", 3.8806, x=2.33, y=4.9)
        page.text(32, 129.1, "张三", 3.175, y=3.5)
        page.text(166.9, 24.6, f"共{pages}页 第{n + 1}页", 3.175, x=20.9, y=3.8)
        box = f"<{p}Area><{p}PhysicalBox>0 0 {page_mm[0]:g} {page_mm[1]:g}</{p}PhysicalBox>" \
              f"</{p}Area>" if n == 0 else ""
        content = page.xml("Page", head).replace(
            f"<{p}Content>".encode(),
            f'{box}<{p}Template TemplateID="1" ZOrder="Background"/><{p}Content>'.encode(), 1)
        members[f"Doc_0/Pages/Page_{n}/Content.xml"] = content
        glyphs += [Glyph(n, g.char, g.x, g.y) for g in tpl.glyphs] + page.glyphs
        annot = _Page(n, p)
        annot.ids[0] = 9000 + 100 * n
        annot.text(0, 0, "下载次数：1", 3.175, font="6", y=2.86, ctm=(0, 1, -1, 0, 3.3, 0),
                   alpha=127)
        glyphs += [Glyph(n, g.char, g.x + 206.4, g.y + 29.5) for g in annot.glyphs]
        members[f"Doc_0/Annots/Page_{n}/Annotation.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><{p}PageAnnot {head}>'
            f'<{p}Annot Type="Watermark" ID="{9001 + n}"><{p}Appearance Boundary="90 8 30 20">'
            f'<{p}ImageObject ID="{9050 + n}" CTM="30 0 0 20 0 0" Boundary="0 0 30 20" '
            f'ResourceID="8"/></{p}Appearance></{p}Annot>'
            f'<{p}Annot Type="Watermark" ID="{9060 + n}"><{p}Appearance '
            f'Boundary="206.4 29.5 3.3 22.2">{"".join(annot.objects)}</{p}Appearance>'
            f'</{p}Annot></{p}PageAnnot>').encode()
        page_entries.append(f'<{p}Page ID="{10 + n}" BaseLoc="Pages/Page_{n}/Content.xml"/>')
    members["Doc_0/Tpls/Tpl_0/Content.xml"] = tpl.xml("Page", head, 'DrawParam="5"')
    chars = frozenset(g.char for g in glyphs) | frozenset("0123456789")
    font_file = ""
    if font in ("embedded", "cff", "broken", "damaged"):
        font_file = f"<{p}FontFile>font.ttf</{p}FontFile>"
        members["Doc_0/Res/font.ttf"] = (b"\x00\x01\x00\x00not a font at all" * 64
                                         if font == "broken" else
                                         _damaged(font_subset(chars)) if font == "damaged" else
                                         font_subset(chars, cff=font == "cff"))
    members["Doc_0/PublicRes.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><{p}Res {head} BaseLoc="/Doc_0/Res">'
        f'<{p}ColorSpaces><{p}ColorSpace ID="2" Type="RGB"/></{p}ColorSpaces>'
        f'<{p}DrawParams><{p}DrawParam ID="4" LineWidth="0.25"><{p}StrokeColor '
        f'Value="{BROWN}" ColorSpace="2"/></{p}DrawParam><{p}DrawParam ID="5" Relative="4">'
        f'<{p}FillColor Value="{BROWN}" ColorSpace="2"/></{p}DrawParam></{p}DrawParams>'
        f'<{p}Fonts><{p}Font ID="3" FontName="SimSun" FamilyName="SimSun">{font_file}</{p}Font>'
        f'<{p}Font ID="6" FontName="楷体" FamilyName="楷体"/></{p}Fonts></{p}Res>').encode()
    members["Doc_0/DocumentRes.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><{p}Res {head} BaseLoc="Res"><{p}MultiMedias>'
        f'<{p}MultiMedia ID="7" Type="Image" Format="PNG"><{p}MediaFile>qr.png</{p}MediaFile>'
        f'</{p}MultiMedia><{p}MultiMedia ID="8" Type="Image"><{p}MediaFile>seal.png'
        f'</{p}MediaFile></{p}MultiMedia></{p}MultiMedias></{p}Res>').encode()
    members["Doc_0/Res/qr.png"] = _qr_picture(qr_format)
    members["Doc_0/Res/seal.png"] = _seal_png()
    members["Doc_0/Annots/Annotations.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><{p}Annotations {head}>' + "".join(
            f'<{p}Page PageID="{10 + n}"><{p}FileLoc>Page_{n}/Annotation.xml</{p}FileLoc>'
            f'</{p}Page>' for n in range(pages)) + f"</{p}Annotations>").encode()
    attach = ""
    if attachment is not None:
        attach = f"<{p}Attachments>Attachs/Attachments.xml</{p}Attachments>"
        members["Doc_0/Attachs/Attachments.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><{p}Attachments {head}><{p}Attachment '
            f'ID="50" Name="original_invoice" Format="xml"><{p}FileLoc>original_invoice.xml'
            f'</{p}FileLoc></{p}Attachment></{p}Attachments>').encode()
        members["Doc_0/Attachs/original_invoice.xml"] = attachment
    members["Doc_0/Document.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><{p}Document {head}><{p}CommonData>'
        f'<{p}MaxUnitID>9999</{p}MaxUnitID><{p}PageArea><{p}PhysicalBox>0 0 {page_mm[0]:g} '
        f'{page_mm[1]:g}</{p}PhysicalBox></{p}PageArea><{p}PublicRes>PublicRes.xml'
        f'</{p}PublicRes><{p}DocumentRes>DocumentRes.xml</{p}DocumentRes>'
        f'<{p}TemplatePage ID="1" BaseLoc="Tpls/Tpl_0/Content.xml"/></{p}CommonData>'
        f'<{p}Pages>{"".join(page_entries)}</{p}Pages>'
        f'<{p}Annotations>Annots/Annotations.xml</{p}Annotations>{attach}</{p}Document>').encode()
    datas = ""
    if custom:
        fields = [("发票号码", number), ("开票日期", f"{date.year}年{date.month:02d}月"
                                                 f"{date.day:02d}日"),
                  ("合计金额", amount), ("合计税额", tax)] + ([("发票代码", code)] if code else [])
        datas = f"<{p}CustomDatas>" + "".join(
            f'<{p}CustomData Name="{name}">{value}</{p}CustomData>' for name, value in fields
        ) + f"</{p}CustomDatas>"
    signatures = ""
    if signed:
        signatures = f"<{p}Signatures>Doc_0/Signs/Signatures.xml</{p}Signatures>"
        members["Doc_0/Signs/Signatures.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><{p}Signatures {head}><{p}Signature ID="1" '
            f'BaseLoc="Sign_0/Signature.xml"/></{p}Signatures>').encode()
        members["Doc_0/Signs/Sign_0/Signature.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><{p}Signature {head} ID="1" Type="Seal">'
            f'<{p}SignedInfo><{p}StampAnnot ID="1" PageRef="10" Boundary="150 108 40 27"/>'
            f'</{p}SignedInfo><{p}SignedValue>/Doc_0/Signs/Sign_0/SignedValue.dat'
            f'</{p}SignedValue></{p}Signature>').encode()
        members["Doc_0/Signs/Sign_0/SignedValue.dat"] = signed_value(_seal_png())
    members["OFD.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><{p}OFD {head} DocType="OFD" Version="1.0">'
        f'<{p}DocBody><{p}DocInfo><{p}DocID>test</{p}DocID>{datas}</{p}DocInfo>'
        f'<{p}DocRoot>Doc_0/Document.xml</{p}DocRoot>{signatures}</{p}DocBody></{p}OFD>'
    ).encode()
    source = "customdata" if custom else "attachment" if attachment is not None else "text"
    invoices: list[tuple[str, list[int]]] = []
    for n, shown in enumerate(page_numbers or (shown_number or number,) * pages):
        if not invoices or invoices[-1][0] != shown:
            invoices.append((shown, []))
        invoices[-1][1].append(n)
    truth = Truth(number, code, date, Decimal(amount), Decimal(tax), total, title, source,
                  (page_mm,) * pages, tuple(glyphs), 2 * pages + int(signed),
                  tuple((shown, tuple(group)) for shown, group in invoices))
    return members, truth


def zip_members(members: dict[str, bytes], order: list[str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in order or sorted(members, key=lambda n: (n != "OFD.xml", n)):
            z.writestr(zipfile.ZipInfo(name, (2024, 12, 5, 0, 0, 0)), members[name],
                       zipfile.ZIP_DEFLATED)
    return out.getvalue()


def make_ofd(**options: object) -> tuple[bytes, Truth]:
    """A synthetic OFD invoice and its truth (options as `ofd_members`)."""
    members, truth = ofd_members(**options)  # type: ignore[arg-type]
    return zip_members(members), truth


def huge_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A valid-looking PNG header claiming `width` × `height` pixels, almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1
                                                             else b"&lol;") * 10)
                             for i in range(1, 10))
                  + b']><Page xmlns="http://www.ofdspec.org/2016">&lol9;</Page>')


def _many_objects(count: int) -> bytes:
    body = "".join(f'<ofd:TextObject ID="{i}" Boundary="10 10 5 5" Font="3" Size="3">'
                   f'<ofd:TextCode X="0" Y="3">a</ofd:TextCode></ofd:TextObject>'
                   for i in range(count))
    return (f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{NS}"><ofd:Content>'
            f'<ofd:Layer ID="1">{body}</ofd:Layer></ofd:Content></ofd:Page>').encode()


def _many_paths(count: int) -> bytes:
    body = "".join(f'<ofd:PathObject ID="{i}" Boundary="10 10 5 5"/>' for i in range(count))
    return (f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{NS}"><ofd:Content>'
            f'<ofd:Layer ID="1">{body}</ofd:Layer></ofd:Content></ofd:Page>').encode()


def _edited(member: str, old: bytes, new: bytes, **options: object) -> bytes:
    members, _ = ofd_members(**options)  # type: ignore[arg-type]
    assert old in members[member], (member, old)
    members[member] = members[member].replace(old, new, 1)
    return zip_members(members)


def _with(change: Callable[[dict[str, bytes]], None], **options: object) -> bytes:
    members, _ = ofd_members(**options)  # type: ignore[arg-type]
    change(members)
    return zip_members(members)


def _bomb(members: dict[str, bytes]) -> None:
    # 40 MB of blanks inside the page's XML: about 40 KB compressed (ratio 1000).
    page = members["Doc_0/Pages/Page_0/Content.xml"]
    members["Doc_0/Pages/Page_0/Content.xml"] = page.replace(b"<ofd:Content>",
                                                             b" " * (40 << 20), 1)


def _traversal_member(members: dict[str, bytes]) -> None:
    members["../../evil.xml"] = b"<x/>"


_RES, _DOC, _PAGE = ("Doc_0/DocumentRes.xml", "Doc_0/Document.xml",
                     "Doc_0/Pages/Page_0/Content.xml")
_PAGE_LOC = b'BaseLoc="Pages/Page_0/Content.xml"'


def _page(content: Callable[[], bytes]) -> Callable[[], bytes]:
    return lambda: _with(lambda m: m.update({_PAGE: content()}))


def _hostile() -> dict[str, tuple[Callable[[], bytes], str]]:
    """name -> (what builds it, the code it must be refused with)."""
    return {
        "media-etc-passwd.ofd": (
            lambda: _edited(_RES, b">qr.png<", b">/etc/passwd<"), "ofd.external"),
        "media-url.ofd": (
            lambda: _edited(_RES, b">seal.png<", b">http://127.0.0.1:9/seal.png<"),
            "ofd.external"),
        "font-traversal.ofd": (
            lambda: _edited("Doc_0/PublicRes.xml", b">font.ttf<", b">../../x.ttf<"),
            "ofd.external"),
        "res-baseloc-file-url.ofd": (
            lambda: _edited(_RES, b'BaseLoc="Res"', b'BaseLoc="file:///etc"'), "ofd.external"),
        "page-baseloc-url.ofd": (
            lambda: _edited(_DOC, _PAGE_LOC, b'BaseLoc="http://127.0.0.1:9/Content.xml"'),
            "ofd.external"),
        "page-baseloc-windows.ofd": (
            lambda: _edited(_DOC, _PAGE_LOC, b'BaseLoc="C:\\Windows\\win.ini"'),
            "ofd.external"),
        "attachment-traversal.ofd": (
            lambda: _edited("Doc_0/Attachs/Attachments.xml", b">original_invoice.xml<",
                            b">../../../etc/shadow<", attachment=b"<eInvoice/>"),
            "ofd.external"),
        "huge-image.ofd": (
            lambda: _with(lambda m: m.update({"Doc_0/Res/qr.png": huge_png()})),
            "file.too_complex"),
        "zip-bomb.ofd": (lambda: _with(_bomb), "file.too_complex"),
        "many-objects.ofd": (_page(lambda: _many_objects(100_000)), "file.too_complex"),
        "20001-paths.ofd": (_page(lambda: _many_paths(20_001)), "file.too_complex"),
        "eleven-pages.ofd": (lambda: make_ofd(pages=11)[0], "file.too_complex"),
        "billion-laughs.ofd": (_page(lambda: BILLION_LAUGHS), "parse.ofd"),
        "no-document.ofd": (lambda: _with(lambda m: m.pop(_DOC)), "parse.ofd"),
        "no-ofd-xml.ofd": (lambda: _with(lambda m: m.pop("OFD.xml")), "parse.ofd"),
        "not-a-zip.ofd": (lambda: b"%PDF-1.4 this is not an OFD at all", "parse.ofd"),
        "truncated.ofd": (lambda: make_ofd()[0][:3000], "parse.ofd"),
        "member-traversal.ofd": (lambda: _with(_traversal_member), "zip.unsafe"),
        "receipt.ofd": (
            lambda: _edited(_PAGE, b"24322000000489101796", b"RECEIPT-0001", custom=False),
            "file.not_invoice"),
        "number-mismatch.ofd": (
            lambda: make_ofd(shown_number="24322000000489109999")[0], "bundle.mismatch"),
    }


def hostile_ofd(name: str) -> tuple[bytes, str]:
    """One hostile OFD (built on demand: the zip bomb takes a moment) and its code."""
    make, code = _hostile()[name]
    return make(), code


def hostile_ofds() -> dict[str, tuple[bytes, str]]:
    """Each hostile OFD, by name, with the code it must be refused with."""
    return {name: (make(), code) for name, (make, code) in _hostile().items()}


HOSTILE_NAMES = tuple(_hostile())
