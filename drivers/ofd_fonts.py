"""The fonts an OFD is drawn with: its embedded ones where they are usable, else ours.

An OFD embeds (a subset of) each font it uses, or only names it (宋体, 楷体, Courier New:
the tax platform's invoices name them and expect the viewer to have them). reportlab
embeds TrueType outlines only, so each embedded font is first opened with fontTools: a
TrueType font is used as it is; an OpenType-CFF font is cut down to the characters the
document draws and converted to TrueType outlines (cubic curves to quadratic, within
one font unit); a font that fontTools or reportlab cannot read is replaced by the
station's CJK TrueType font (`fonts.py`), as is a named-only font and any character a
font lacks. Each glyph is placed where the OFD puts it, so a replacement changes the
shapes of the characters, never where they stand.

reportlab keeps registered fonts in process-wide tables. A long-running daemon prints
thousands of invoices, each with its own subset fonts, so the fonts of one painting are
registered under names of their own and taken out of those tables when it ends.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
from collections.abc import Iterable

from fontTools.pens.boundsPen import BoundsPen
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.subset import Options, Subsetter
from fontTools.ttLib import TTFont as ToolsFont
from fontTools.ttLib import newTable
from reportlab.lib import fonts as rl_fonts
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from printstation.invoice.ofd_model import Document

from .fonts import ensure_font

_serial = itertools.count(1)
_lock = threading.Lock()
# An embedded font larger than this is not converted (a whole CJK font is 10-20 MB; a
# subset of an invoice's characters is a few hundred KB).
MAX_CONVERT_BYTES = 24 << 20


class DocumentFonts:
    """The fonts of one document for one painting; `close()` forgets them."""

    def __init__(self, doc: Document, chars: dict[str, set[str]]) -> None:
        self.fallback = ensure_font()
        self._names: dict[str, str] = {}
        self._covers: dict[str, frozenset[int]] = {}
        self._registered: list[tuple[str, bytes]] = []
        self.embedded: list[str] = []
        for key, used in chars.items():
            font = doc.font(key)
            if font is None or not font.path:
                continue
            name = self._register(doc.data(font), used)
            if name:
                self._names[key] = name
                self.embedded.append(key)

    def pick(self, key: str, ch: str) -> str:
        """The registered font to draw `ch` of OFD font `key` with."""
        name = self._names.get(key)
        if name and ord(ch) in self._covers[name]:
            return name
        return self.fallback

    def advance(self, name: str, ch: str) -> float:
        """The character's advance in em (for text that gives no DeltaX)."""
        return pdfmetrics.stringWidth(ch, name, 1.0)

    def close(self) -> None:
        for name, face in self._registered:
            _forget(name, face)
        self._registered.clear()

    def _register(self, data: bytes, used: set[str]) -> str | None:
        ttf = _truetype(data, used)
        if ttf is None:
            return None
        with _lock:
            serial = next(_serial)
        digest = hashlib.sha1(ttf).hexdigest()[:12]
        name = f"OFD-{digest}-{serial}"
        try:
            font = TTFont(name, io.BytesIO(ttf))
        except Exception:
            # reportlab refuses fonts it cannot subset (damaged tables, embedding not
            # permitted): the station's font draws those characters.
            return None
        # The face's name comes from the file; subsets of different invoices share it
        # (e.g. "SimSun"), and reportlab would reuse the first one registered. Named by
        # its bytes instead, the same file gives the same PDF every time.
        font.face.name = f"OFD{digest}".encode("ascii")
        pdfmetrics.registerFont(font)
        self._registered.append((name, font.face.name))
        self._covers[name] = frozenset(font.face.charToGlyph)
        return name


def _truetype(data: bytes, used: set[str]) -> bytes | None:
    """The font as TrueType bytes reportlab can embed, or None when it cannot be had."""
    try:
        font = ToolsFont(io.BytesIO(data), fontNumber=0, lazy=False)
        if "CFF " in font and "glyf" not in font:
            return _from_cff(font, used) if len(data) <= MAX_CONVERT_BYTES else None
        if "glyf" not in font or "loca" not in font:
            return None
        # reportlab reads a font's tables when it is registered but its outlines only
        # when the PDF is written: the outlines of the characters used are read here, so
        # a damaged font is replaced before it can break (or garble) the page.
        cmap = font.getBestCmap() or {}
        glyphs = font.getGlyphSet()
        for name in {cmap[ord(ch)] for ch in used if ord(ch) in cmap}:
            glyphs[name].draw(BoundsPen(glyphs))
        return data
    except MemoryError:
        raise
    except Exception:
        # fontTools raises many types on damaged fonts; each means "not usable".
        return None


def _from_cff(font: ToolsFont, used: Iterable[str]) -> bytes:
    """An OpenType-CFF font, cut to the characters used, with TrueType outlines."""
    options = Options()
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.layout_features = []
    # Bitmap and vendor tables the subsetter cannot cut: dropped without a warning.
    options.drop_tables += ["BDF", "FFTM", "EBDT", "EBLC", "EBSC", "PCLT", "LTSH", "hdmx"]
    subsetter = Subsetter(options)
    subsetter.populate(unicodes=[ord(ch) for ch in used])
    subsetter.subset(font)
    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        # PostScript outlines run counter-clockwise; TrueType's clockwise.
        glyphs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs",
                 "maxInstructionDefs", "maxStackElements", "maxSizeOfInstructions",
                 "maxComponentElements", "maxComponentDepth"):
        setattr(maxp, attr, 1 if attr == "maxZones" else 0)
    font["head"].glyphDataFormat = 0
    font["post"].formatType = 3.0
    font.sfntVersion = "\x00\x01\x00\x00"
    # The font's own dates kept: the same file converts to the same bytes.
    font.recalcTimestamp = False
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _forget(name: str, face: bytes) -> None:
    # reportlab has no unregister: these are the tables registerFont fills for a TTFont.
    pdfmetrics._fonts.pop(name, None)
    pdfmetrics._dynFaceNames.pop(face, None)
    for bold in (0, 1):
        for italic in (0, 1):
            rl_fonts._tt2ps_map.pop((name.lower(), bold, italic), None)
    rl_fonts._ps2tt_map.pop(name.lower(), None)
