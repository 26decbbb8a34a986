"""Where an OFD page's ink lies, and its text as positioned runs, from the model alone.

The reader runs in the jail, where nothing is drawn; the box is computed from what the
page draws instead, as close to what `ink.ink_boxes` would measure on the painted page
as geometry allows: a path's points and half its line width; a picture's non-white
pixels (Pillow, after the header check); each character's box from where it stands and
the glyph proportions of the station's CJK font (which draws every font an invoice only
names). Anything outside the page, white, or fully transparent is not ink.
"""

from __future__ import annotations

import io
import math
import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageOps

from .asis import Box
from .ofd_model import Document, Page
from .ofd_page import ImageItem, PathItem, Quad, TextItem
from .ofd_xml import Matrix, apply

# Grey levels at or above this are paper (as `ink.ink_boxes` counts them).
_PAPER = 240 / 255
# A character's ink in em, from its origin (y down): left, top, right, bottom. Measured on
# WenQuanYi Zen Hei: CJK 0.02–0.96 × −0.81–0.13; digits and capitals 0.05–0.56 × −0.70–0.01.
_WIDE = (0.02, -0.81, 0.96, 0.13)
_NARROW = (0.05, -0.70, 0.56, 0.02)
_DESCENDING = (0.04, -0.70, 0.52, 0.20)
WIDE_ADVANCE, NARROW_ADVANCE = 1.0, 0.6
# Pictures larger than this are not decoded in the jail (8 megapixels take 32 MB decoded,
# several times that while their darkness is worked out); their whole square counts as ink.
MAX_DECODED_PIXELS = 8_000_000


@dataclass(frozen=True)
class Run:
    """A TextCode as placed on the page: its text, its baseline, and where it ends."""

    text: str
    x: float
    y: float
    end: float
    size: float
    horizontal: bool


def advance(ch: str) -> float:
    """A character's advance in em, as the station's font draws it."""
    return WIDE_ADVANCE if unicodedata.east_asian_width(ch) in ("W", "F") else NARROW_ADVANCE


def runs(page: Page) -> list[Run]:
    """The page's TextCodes that start on the page, in the order they are drawn."""
    found = []
    for item in page.items:
        if not isinstance(item, TextItem) or (item.style.fill is None
                                                and item.style.stroke is None):
            continue
        origins = item.origins(advance)
        x, y = apply(item.matrix, *origins[0])
        if not (0 <= x <= page.width and 0 <= y <= page.height):
            continue  # off the page: not shown, so not read either
        last = origins[-1]
        end, _ = apply(item.matrix, last[0] + advance(item.text[-1]) * item.size, last[1])
        a, b, c, d = item.matrix[:4]
        horizontal = abs(b) < 1e-6 and abs(c) < 1e-6 and a > 0 and d > 0
        found.append(Run(item.text, x, y, end, item.size * math.sqrt(abs(a * d - b * c)),
                         horizontal))
    return found


class Inker:
    """Ink boxes of a document's pages; pictures are decoded once each."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._darkness: dict[str, Image.Image | None] = {}

    def page(self, page: Page) -> Box:
        sheet = ((0.0, 0.0), (page.width, 0.0), (page.width, page.height), (0.0, page.height))
        boxes = []
        for item in page.items:
            if isinstance(item, TextItem):
                box = self._text(item)
            elif isinstance(item, PathItem):
                box = self._path(item)
            else:
                box = self._image(item)
            # Only what lies on the page is ink (producers leave objects off the page).
            box = _clipped(box, sheet) if box is not None else None
            if box is not None and box[2] > box[0] and box[3] > box[1]:
                boxes.append(box)
        if not boxes:
            return (0.0, 0.0, 0.0, 0.0)
        return (round(min(b[0] for b in boxes), 2), round(min(b[1] for b in boxes), 2),
                round(max(b[2] for b in boxes), 2), round(max(b[3] for b in boxes), 2))

    def _text(self, item: TextItem) -> Box | None:
        style = item.style
        colours = [c for c in (style.fill, style.stroke) if c is not None]
        if not _visible(colours, style.alpha):
            return None
        s, h = item.size, item.hscale
        grow = style.line_width / 2 if style.stroke is not None else 0.0
        corners = []
        for ch, (x, y) in zip(item.text, item.origins(advance), strict=True):
            if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"):
                continue
            left, top, right, bottom = (_WIDE if advance(ch) == WIDE_ADVANCE else
                                        _DESCENDING if ch in "gjpqy" else _NARROW)
            corners += [(x + left * s * h - grow, y + top * s - grow),
                        (x + right * s * h + grow, y + bottom * s + grow)]
        return _bounds(item.matrix, corners, None) if corners else None

    def _path(self, item: PathItem) -> Box | None:
        style = item.style
        colours = [c for c in (style.fill, style.stroke) if c is not None]
        if not _visible(colours, style.alpha):
            return None
        points = [(args[i], args[i + 1]) for _, args in item.ops for i in range(0, len(args), 2)]
        if not points:
            return None
        box = _bounds(item.matrix, points, item.clip)
        if box is None or style.stroke is None:
            return box
        a, b, c, d = item.matrix[:4]
        grow = style.line_width / 2 * math.sqrt(abs(a * d - b * c))
        return _clipped((box[0] - grow, box[1] - grow, box[2] + grow, box[3] + grow),
                        item.clip)

    def _image(self, item: ImageItem) -> Box | None:
        if item.alpha <= 0:
            return None
        inked = self._picture(item.media, item.alpha)
        if inked is None:
            return None
        u0, v0, u1, v1 = inked
        return _bounds(item.matrix, [(u0, v0), (u1, v0), (u0, v1), (u1, v1)], item.clip)

    def _picture(self, key: str, alpha: float) -> tuple[float, float, float, float] | None:
        """The part of the unit square a picture inks (drawn with opacity `alpha`)."""
        if key not in self._darkness:
            media = self.doc.media(key)
            small = media.picture.width * media.picture.height <= MAX_DECODED_PIXELS
            # JBIG2 is not decoded here; nor is a picture too large to decode cheaply.
            self._darkness[key] = _darkness(self.doc.data(media)) if small and \
                media.picture.format != "jbig2" else None
        darkness = self._darkness[key]
        if darkness is None:
            return (0.0, 0.0, 1.0, 1.0)
        # Drawn with opacity α on white paper, a pixel of darkness d shows as 255 − α·d:
        # ink where that is below the paper's grey level.
        least = (255 - _PAPER * 255) / alpha
        box = darkness.point(lambda d: 255 if d > least else 0).getbbox()
        if box is None:
            return None
        width, height = darkness.size
        return box[0] / width, box[1] / height, box[2] / width, box[3] / height


def _darkness(data: bytes) -> Image.Image | None:
    """Each pixel's darkness over white paper, 0–255 (alpha applied), or None when Pillow
    cannot decode it (the painter will refuse it; the whole picture counts as ink)."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except MemoryError:
        raise
    except Exception:
        return None
    darkness = ImageOps.invert(image.convert("L"))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        darkness = ImageChops.multiply(darkness, image.convert("RGBA").getchannel("A"))
    return darkness


def _visible(colours: list[tuple[float, float, float]], alpha: float) -> bool:
    for r, g, b in colours:
        grey = 0.299 * r + 0.587 * g + 0.114 * b
        if 1 - alpha * (1 - grey) < _PAPER:
            return True
    return False


def _bounds(m: Matrix, points: list[tuple[float, float]], clip: Quad | None) -> Box | None:
    placed = [apply(m, x, y) for x, y in points]
    box = (min(p[0] for p in placed), min(p[1] for p in placed),
           max(p[0] for p in placed), max(p[1] for p in placed))
    return _clipped(box, clip)


def _clipped(box: Box, clip: Quad | None) -> Box | None:
    if clip is None:
        return box
    left = max(box[0], min(p[0] for p in clip))
    top = max(box[1], min(p[1] for p in clip))
    right = min(box[2], max(p[0] for p in clip))
    bottom = min(box[3], max(p[1] for p in clip))
    if right < left or bottom < top:
        return None
    return (left, top, right, bottom)
