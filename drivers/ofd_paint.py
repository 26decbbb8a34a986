"""An OFD document drawn as PDF, page by page, as it looks (the printer prints PDF).

Each OFD page becomes a PDF page of its physical size. The page's items (`invoice.
ofd_model`) are drawn in their order with reportlab in a space of millimetres, y down,
like OFD's own: text one character at a time at the origin the OFD gives it, in the
document's embedded font or the station's CJK font (`ofd_fonts`); paths with their
colours, line widths and fill rule; pictures with Pillow, JBIG2 as it is
(`ofd_images`); the seals of signatures on top. The PDF embeds every font it uses.

This runs in the daemon when a job prints, on a file the jail has already read: the model
applies the same limits here as there, so a file that passed the reader cannot make the
painter decode a pixel bomb or read outside the document.
"""

from __future__ import annotations

import io
import unicodedata

from reportlab.pdfgen.canvas import FILL_EVEN_ODD, FILL_NON_ZERO, Canvas

from printstation.base.units import MM_PT
from printstation.invoice.ofd_model import Document, Page, load
from printstation.invoice.ofd_page import ImageItem, PathItem, Quad, Style, TextItem
from printstation.invoice.ofd_xml import OfdRefused

from .ofd_fonts import DocumentFonts
from .ofd_images import Pictures

_CAPS = {"Butt": 0, "Round": 1, "Square": 2}
_JOINS = {"Miter": 0, "Round": 1, "Bevel": 2}
_BLENDS = {"Multiply", "Screen", "Overlay", "Darken", "Lighten", "ColorDodge", "ColorBurn",
           "HardLight", "SoftLight", "Difference", "Exclusion"}
# Italic drawn from an upright font: slanted by 12°, as viewers do.
_SLANT = 0.2126


class OfdPaintError(Exception):
    """The OFD cannot be drawn; the message says why."""


def ofd_to_pdf(data: bytes) -> bytes:
    """Every page of the OFD document in `data` as a PDF page of the same size."""
    try:
        doc = load(data)
    except OfdRefused as exc:
        raise OfdPaintError(exc.problem.en) from None
    chars: dict[str, set[str]] = {}
    for page in doc.pages:
        for item in page.items:
            if isinstance(item, TextItem):
                chars.setdefault(item.font, set()).update(item.text)
    try:
        return _painted(doc, chars, embedded=True)
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:
        if not any((font := doc.font(key)) is not None and font.path for key in chars):
            raise _failed(exc) from exc
    # An embedded font reportlab accepted may still fail when it is written (damaged
    # outlines): the station's font draws the document instead.
    try:
        return _painted(doc, chars, embedded=False)
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:
        raise _failed(exc) from exc


def _painted(doc: Document, chars: dict[str, set[str]], embedded: bool) -> bytes:
    fonts = DocumentFonts(doc, chars if embedded else {})
    try:
        buf = io.BytesIO()
        first = doc.pages[0]
        # invariant=1: the same file gives the same bytes (no dates, no random ids).
        canvas = Canvas(buf, pagesize=(first.width * MM_PT, first.height * MM_PT),
                        initialFontName=fonts.fallback, invariant=1, pageCompression=1)
        painter = _Painter(canvas, doc, fonts)
        for page in doc.pages:
            painter.page(page)
        canvas.save()
        return buf.getvalue()
    finally:
        fonts.close()


def _failed(exc: Exception) -> OfdPaintError:
    if isinstance(exc, OfdPaintError):
        return exc
    if isinstance(exc, OfdRefused):
        return OfdPaintError(exc.problem.en)
    # Pillow, reportlab and fontTools raise many types on damaged input.
    return OfdPaintError(f"drawing the OFD failed: {type(exc).__name__}: {exc}"[:300])


class _Painter:
    def __init__(self, canvas: Canvas, doc: Document, fonts: DocumentFonts) -> None:
        self.c = canvas
        self.fonts = fonts
        self.pictures = Pictures(doc)

    def page(self, page: Page) -> None:
        c = self.c
        c.setPageSize((page.width * MM_PT, page.height * MM_PT))
        c.saveState()
        # From here on the page is in OFD's space: millimetres from the top-left, y down.
        c.translate(0, page.height * MM_PT)
        c.scale(MM_PT, -MM_PT)
        for item in page.items:
            c.saveState()
            if isinstance(item, TextItem):
                self.text(item)
            elif isinstance(item, PathItem):
                self.path(item)
            else:
                self.image(item)
            c.restoreState()
        c.restoreState()
        c.showPage()

    def colours(self, style: Style) -> None:
        c = self.c
        if style.fill is not None:
            c.setFillColorRGB(*style.fill)
        if style.stroke is not None:
            c.setStrokeColorRGB(*style.stroke)
        if style.alpha < 1:
            c.setFillAlpha(style.alpha)
            c.setStrokeAlpha(style.alpha)
        if style.blend in _BLENDS:
            c.setBlendMode(style.blend)

    def text(self, item: TextItem) -> None:
        style = item.style
        fill, stroke = style.fill is not None, style.stroke is not None
        # A bold weight drawn from a regular font: its outline is stroked as well.
        fake_bold = item.weight >= 700 and fill and not stroke
        if not fill and not stroke:
            return
        mode = 2 if fill and (stroke or fake_bold) else 0 if fill else 1
        c = self.c
        self.colours(style)
        if fake_bold:
            c.setStrokeColorRGB(*style.fill)
            c.setLineWidth(item.size * 0.03)
        elif stroke:
            c.setLineWidth(style.line_width)
        c.transform(*item.matrix)
        fonts = self.fonts
        origins = item.origins(lambda ch: fonts.advance(fonts.pick(item.font, ch), ch))
        text = c.beginText()
        text.setTextRenderMode(mode)
        current = ""
        slant = _SLANT if item.italic else 0.0
        for ch, (x, y) in zip(item.text, origins, strict=True):
            if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
                continue
            name = fonts.pick(item.font, ch)
            if name != current:
                text.setFont(name, item.size)
                current = name
            # Each character at its own origin; the y flip keeps glyphs upright in a
            # y-down page.
            text.setTextTransform(item.hscale, 0, slant, -1, x, y)
            text.textOut(ch)
        c.drawText(text)

    def path(self, item: PathItem) -> None:
        style = item.style
        if style.fill is None and style.stroke is None:
            return
        c = self.c
        self._clip(item.clip)
        c.transform(*item.matrix)
        self.colours(style)
        c.setLineWidth(style.line_width)
        c.setLineCap(_CAPS.get(style.cap, 0))
        c.setLineJoin(_JOINS.get(style.join, 0))
        c.setMiterLimit(max(style.miter, 1.0))
        if any(style.dash):
            c.setDash([abs(v) for v in style.dash], style.dash_offset)
        path = c.beginPath()
        for op, args in item.ops:
            if op == "M":
                path.moveTo(*args)
            elif op == "L":
                path.lineTo(*args)
            elif op == "B":
                path.curveTo(*args)
            else:
                path.close()
        c.drawPath(path, stroke=int(style.stroke is not None),
                   fill=int(style.fill is not None),
                   fillMode=FILL_EVEN_ODD if item.even_odd else FILL_NON_ZERO)

    def image(self, item: ImageItem) -> None:
        c = self.c
        self._clip(item.clip)
        c.transform(*item.matrix)
        if item.alpha < 1:
            c.setFillAlpha(item.alpha)
        if item.blend in _BLENDS:
            c.setBlendMode(item.blend)
        # OFD draws a picture's first row at y = 0 of its unit square, PDF at y = 1.
        c.transform(1, 0, 0, -1, 0, 1)
        self.pictures.draw(c, item.media)

    def _clip(self, quad: Quad | None) -> None:
        if quad is None:
            return
        path = self.c.beginPath()
        path.moveTo(*quad[0])
        for point in quad[1:]:
            path.lineTo(*point)
        path.close()
        self.c.clipPath(path, stroke=0, fill=0)
