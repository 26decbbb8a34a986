"""An OFD's resources: fonts, pictures, colour spaces, drawing parameters, composite units.

Resources are declared in resource files (`PublicRes`, `DocumentRes`, a page's `PageRes`)
and used by ID from page content. Every location a resource file names is checked when
the file is read (`Package.locate`), used or not, and every picture's header is read
(`ofd_media.sniff`), so a document that points outside itself or carries a pixel bomb is
refused before anything is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from .ofd_media import Picture, sniff
from .ofd_xml import Package, broken, child, children, folder, local, number, numbers, text

Color = tuple[float, float, float]  # red, green, blue in 0..1
BLACK: Color = (0.0, 0.0, 0.0)
# Pictures of an invoice are a few KB to a few hundred KB; fonts up to a few MB.
MAX_PICTURE_BYTES = 16 << 20


@dataclass(frozen=True)
class Font:
    key: str
    name: str
    family: str
    # The embedded font file's member, "" when the font is only named (then the painter
    # draws with the station's CJK font).
    path: str = ""
    bold: bool = False
    italic: bool = False
    package: int = 0


@dataclass(frozen=True)
class Media:
    key: str
    path: str
    picture: Picture
    package: int = 0
    # The bytes of a picture that is not a member (a seal inside a signature's data).
    inline: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True)
class Params:
    """A DrawParam with its `Relative` chain applied; None where it says nothing."""

    line_width: float | None = None
    join: str | None = None
    cap: str | None = None
    miter: float | None = None
    dash: tuple[float, ...] | None = None
    dash_offset: float | None = None
    fill: tuple[Color, float] | None = None
    stroke: tuple[Color, float] | None = None


class Resources:
    """Every resource of one document (or of a seal's own little document), by ID."""

    def __init__(self, package: Package, index: int = 0, prefix: str = "") -> None:
        self.package = package
        self.index = index
        self.prefix = prefix
        self.fonts: dict[str, Font] = {}
        self.media: dict[str, Media] = {}
        self.units: dict[str, Element] = {}
        self._spaces: dict[str, tuple[str, int]] = {}
        self._params: dict[str, Element] = {}
        self._resolved: dict[str, Params] = {}

    def key(self, ref: str | None) -> str:
        return f"{self.prefix}{(ref or '').strip()}"

    def load(self, path: str) -> None:
        """Read one resource file (PublicRes, DocumentRes or PageRes) at `path`."""
        root = self.package.xml(path)
        base = folder(path)
        if root.get("BaseLoc"):
            base = self.package.locate(base, root.get("BaseLoc", ""), "Res BaseLoc",
                                       member=False)
        for group in root:
            name = local(group.tag)
            for res in group:
                rid = (res.get("ID") or "").strip()
                if name == "ColorSpaces":
                    bits = int(number(res.get("BitsPerComponent"), 8, "BitsPerComponent"))
                    self._spaces[rid] = ((res.get("Type") or "RGB").upper(), bits)
                elif name == "DrawParams":
                    self._params[rid] = res
                elif name == "Fonts":
                    self._font(res, rid, base)
                elif name == "MultiMedias":
                    self._media(res, rid, base)
                elif name == "CompositeGraphicUnits":
                    self.units[self.key(rid)] = res

    def _font(self, res: Element, rid: str, base: str) -> None:
        where = text(res, "FontFile")
        path = self.package.locate(base, where, "FontFile") if where else ""
        self.fonts[self.key(rid)] = Font(
            self.key(rid), res.get("FontName", ""), res.get("FamilyName", ""), path,
            res.get("Bold") == "true", res.get("Italic") == "true", self.index)

    def _media(self, res: Element, rid: str, base: str) -> None:
        where = text(res, "MediaFile")
        if not where:
            raise broken(f"MultiMedia {rid[:20]} names no MediaFile",
                         f"多媒体资源 {rid[:20]} 缺少 MediaFile")
        path = self.package.locate(base, where, "MediaFile")
        if (res.get("Type") or "Image").lower() != "image":
            return
        picture = sniff(self.package.read(path, MAX_PICTURE_BYTES), f"picture {path[:60]}")
        self.add_media(Media(self.key(rid), path, picture, self.index))

    def add_media(self, media: Media) -> None:
        self.media[media.key] = media

    def color(self, el: Element | None) -> tuple[Color, float] | None:
        """An OFD colour element as RGB and its alpha; None when there is none."""
        if el is None:
            return None
        value = el.get("Value")
        if value is None:
            # A shading (gradient): printed in its first colour.
            inner = next((c for c in el.iter() if local(c.tag) == "Color" and c is not el
                          and c.get("Value")), None)
            if inner is None:
                return BLACK, 1.0
            return self.color(inner)
        space, bits = self._spaces.get((el.get("ColorSpace") or "").strip(), ("RGB", 8))
        top = float((1 << min(max(bits, 1), 16)) - 1)
        parts = [int(w[1:], 16) if w.startswith("#") and _hex(w[1:]) else None
                 for w in value.split()]
        if None in parts:
            parts = numbers(value, "colour")
        channels = [min(max(float(p or 0) / top, 0.0), 1.0) for p in parts]
        alpha = min(max(number(el.get("Alpha"), 255, "Alpha") / 255, 0.0), 1.0)
        if space == "GRAY" and channels:
            return (channels[0],) * 3, alpha
        if space == "CMYK" and len(channels) >= 4:
            c, m, y, k = channels[:4]
            return ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)), alpha
        if len(channels) >= 3:
            return (channels[0], channels[1], channels[2]), alpha
        return BLACK, alpha

    def params(self, ref: str | None) -> Params:
        """The DrawParam `ref`, its `Relative` parents filling what it leaves unsaid."""
        start = ref = (ref or "").strip()
        if start in self._resolved:
            return self._resolved[start]
        chain: list[Element] = []
        seen = set()
        while ref and ref in self._params and ref not in seen and len(chain) < 16:
            seen.add(ref)
            chain.append(self._params[ref])
            ref = (self._params[ref].get("Relative") or "").strip()
        found = Params()
        for el in reversed(chain):
            dash = el.get("DashPattern")
            found = Params(
                _maybe(el.get("LineWidth"), found.line_width), el.get("Join") or found.join,
                el.get("Cap") or found.cap, _maybe(el.get("MiterLimit"), found.miter),
                tuple(numbers(dash, "DashPattern")) if dash else found.dash,
                _maybe(el.get("DashOffset"), found.dash_offset),
                self.color(child(el, "FillColor")) or found.fill,
                self.color(child(el, "StrokeColor")) or found.stroke)
        self._resolved[start] = found
        return found

    def unit(self, ref: str | None) -> Element | None:
        return self.units.get(self.key(ref))

    def font(self, ref: str | None) -> str:
        return self.key(ref) if self.key(ref) in self.fonts else ""


def _maybe(value: str | None, otherwise: float | None) -> float | None:
    found = numbers(value, "DrawParam")
    return found[0] if found else otherwise


def _hex(word: str) -> bool:
    return bool(word) and all(c in "0123456789abcdefABCDEF" for c in word)


def resource_files(package: Package, base: str, el: Element | None, names: tuple[str, ...],
                   ) -> list[str]:
    """The resource files an element (CommonData, a Page) lists, as package paths."""
    found = []
    for name in names:
        for item in children(el, name):
            if text(item):
                found.append(package.locate(base, text(item), name))
    return found
