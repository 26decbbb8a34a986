"""The embedded CJK TrueType font, registered once per process.

Never a non-embedded CID font such as STSong-Light: ghostscript (what CUPS runs) dropped
every digit and Latin letter of an invoice with it (TECH.md). reportlab embeds a subset
of a TrueType font; it rejects CFF/OTF fonts.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from printstation.base.errors import Unavailable

FONT_NAME = "PrintstationCJK"
CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # Debian fonts-wqy-zenhei
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)
_lock = threading.Lock()
_registered: str | None = None


class FontMissing(Unavailable):
    """No usable CJK TrueType font was found."""


def font_path() -> Path:
    override = os.environ.get("PRINTSTATION_FONT")
    for path in ([Path(override)] if override else []) + list(CANDIDATES):
        if path.is_file():
            return path
    raise FontMissing("no CJK TrueType font: install fonts-wqy-zenhei "
                      "(or set PRINTSTATION_FONT to a .ttf/.ttc file)")


def ensure_font() -> str:
    """Register the font on first use (about 0.3 s); returns its reportlab name."""
    global _registered
    with _lock:
        if _registered is None:
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(font_path()), subfontIndex=0))
            _registered = FONT_NAME
        return _registered
