"""The embedded CJK TrueType font, registered once per process.

Never a non-embedded CID font such as STSong-Light: ghostscript (what CUPS runs) dropped
every digit and Latin letter of an invoice with it (TECH.md). reportlab embeds a subset
of a TrueType font; it rejects CFF/OTF fonts.

The font is most of what the daemon holds (measured by bench/memory_map.py: reportlab's
parse of the 16 MB wqy-zenhei.ttc added 43 MiB to the process). So the file is mapped,
not read: its pages belong to the page cache, are shared by every process that maps it
(the daemon, the render worker, the jail) and only the tables and glyphs used are ever
resident. And the tables reportlab keeps after parsing are packed: per-glyph lists of
Python ints and tuples become arrays, the equal widths of the CJK glyphs one float
object, and the glyph-to-character map, needed only while parsing, is dropped.

Each page embeds a subset of the font, and reportlab makes it by copying whole tables out
of the file to slice them: the 10 MB `glyf` and the 450 KB `post`, for every page. Those
two are handed to it as views that copy only the slices it takes (issue 19: the copy was
a third of a page's rendering in the worker and, where the daemon maps every large block
on its own (base/heap.py), more than half of it inline).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import mmap
import os
import threading
from array import array
from pathlib import Path
from typing import Any

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
    # Registered once and never unregistered: after that, no lock on the hot path (the
    # fit check calls this for every invoice).
    if _registered is not None:
        return _registered
    with _lock:
        if _registered is None:
            font = TTFont(FONT_NAME, _Mapped(font_path()), subfontIndex=0)
            _pack(font.face)
            _slice_lazily(font.face)
            pdfmetrics.registerFont(font)
            _release_freed()
            _registered = FONT_NAME
        return _registered


class _Mapped:
    """A file reportlab's parser reads whole (`f.read()`): here a read-only map of it,
    which it slices like bytes."""

    def __init__(self, path: Path):
        self.name = str(path)

    def read(self) -> mmap.mmap:
        with open(self.name, "rb") as file:
            return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


class _Metrics:
    """reportlab's `hmetrics` (a list of (advance, left side bearing) per glyph, read
    only when a subset is made), packed: 45,000 tuples cost 5 MB. The advances are kept
    as they are, shared (reportlab leaves a scaled float for glyphs past the table's
    advance count, an int before it), the bearings in an array."""

    def __init__(self, pairs: list[tuple[Any, int]]):
        shared: dict[Any, Any] = {}
        self._advance = [shared.setdefault((type(pair[0]), pair[0]), pair[0])
                         for pair in pairs]
        self._bearing = array("l", (pair[1] for pair in pairs))

    def __len__(self) -> int:
        return len(self._advance)

    def __getitem__(self, glyph: int) -> tuple[int, int]:
        return self._advance[glyph], self._bearing[glyph]


def _pack(face: Any) -> None:
    # Only the parse and text shaping (uharfbuzz, not installed) read glyphToChar; shaping
    # would add to an empty map what it needs.
    face.glyphToChar = {}
    face.glyphPos = array("L", face.glyphPos)
    face.hmetrics = _Metrics(face.hmetrics)
    # charWidths must stay a dict (reportlab's C string width reads it as one); its
    # values, one float per character, are mostly the same few widths.
    shared: dict[float, float] = {}
    face.charWidths = {char: shared.setdefault(width, width)
                       for char, width in face.charWidths.items()}


class _TableView:
    """One table of the mapped file, read by slicing: a slice copies only its own bytes."""

    def __init__(self, data: Any, pos: int, length: int):
        self._data, self._pos, self._length = data, pos, length

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, key: slice) -> bytes:
        start, stop, step = key.indices(self._length)
        if step != 1:
            raise ValueError("a font table is read in runs of bytes")
        return self._data[self._pos + start:self._pos + max(start, stop)]


# The tables reportlab's makeSubset only slices; the others it copies into the subset
# whole or patches as bytes, and they are small.
_SLICED = frozenset({"glyf", "post"})


def _slice_lazily(face: Any) -> None:
    whole = face.get_table

    def get_table(tag: str) -> Any:
        if tag in _SLICED:
            pos, length = face.get_table_pos(tag)
            return _TableView(face._ttf_data, pos, length)
        return whole(tag)

    face.get_table = get_table


def _release_freed() -> None:
    """Give the parse's freed heap back to the system (glibc keeps it otherwise)."""
    gc.collect()
    # Not glibc: the memory is reused by the process instead.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
