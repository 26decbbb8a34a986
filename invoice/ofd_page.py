"""An OFD page's content as a flat list of things to draw, each with its place on the page.

OFD nests coordinate spaces: an object's `Boundary` origin is the origin of its own space,
its `CTM` maps its content into that space, and a composite object, a page block or an
annotation's appearance sits inside its parent's space. The walk here multiplies them out,
so each item carries one matrix from its own space to the page (millimetres from the
physical box's top-left, y down). Drawing parameters are resolved the same way: the
object's own attributes, then its DrawParam, then its layer's, then the standard's
defaults (GB/T 33190: text filled black; paths stroked black, 0.353 mm).

Clip areas (`Clips`) are not applied: invoices do not use them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from .ofd_res import BLACK, Color, Resources
from .ofd_xml import (
    IDENTITY,
    Matrix,
    apply,
    broken,
    child,
    children,
    local,
    matrix,
    move,
    number,
    numbers,
    rect,
    then,
    too_complex,
)

Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]
# What a real invoice page holds is a few hundred objects and a few thousand glyphs.
MAX_OBJECTS = 20_000
MAX_GLYPHS = 200_000
MAX_PATH_NUMBERS = 400_000
MAX_DEPTH = 8


@dataclass(frozen=True)
class Style:
    fill: Color | None = None  # None: not filled
    stroke: Color | None = None  # None: not stroked
    line_width: float = 0.353
    alpha: float = 1.0
    cap: str = "Butt"
    join: str = "Miter"
    miter: float = 3.528
    dash: tuple[float, ...] = ()
    dash_offset: float = 0.0
    blend: str = ""


@dataclass(frozen=True)
class TextItem:
    """One TextCode: characters from (x, y) in the object's space, moved on by deltas."""

    matrix: Matrix
    font: str
    size: float
    text: str
    x: float
    y: float
    dx: tuple[float, ...]
    dy: tuple[float, ...]
    style: Style
    hscale: float = 1.0
    weight: int = 400
    italic: bool = False
    oid: str = ""

    def origins(self, advance: Callable[[str], float]) -> list[Point]:
        """Each character's origin in the object's space.

        A character without its own DeltaX takes the last one given (as the OFD readers
        of the tax platform do: `单 位` with one delta is spaced evenly). Without DeltaX,
        text that has a DeltaY runs down (购买方 written vertically stays at one x, as
        GB/T 33190 says); text with neither follows each character's advance (`advance`
        in em), which is what a reader of such text expects to see.
        """
        out = []
        x, y = self.x, self.y
        for i in range(len(self.text)):
            if i:
                if self.dx:
                    x += self.dx[min(i - 1, len(self.dx) - 1)]
                elif not self.dy:
                    x += advance(self.text[i - 1]) * self.size * self.hscale
                if self.dy:
                    y += self.dy[min(i - 1, len(self.dy) - 1)]
            out.append((x, y))
        return out


@dataclass(frozen=True)
class PathItem:
    matrix: Matrix
    clip: Quad | None
    # Only M (move), L (line), B (cubic Bézier) and C (close), absolute coordinates.
    ops: tuple[tuple[str, tuple[float, ...]], ...]
    style: Style
    even_odd: bool = False


@dataclass(frozen=True)
class ImageItem:
    """A picture filling the unit square of `matrix`, its top row at y = 0."""

    matrix: Matrix
    clip: Quad | None
    media: str
    alpha: float = 1.0
    blend: str = ""


Item = TextItem | PathItem | ImageItem


class Walker:
    """Walks a page's content into items, counting against the page's limits."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.objects = 0
        self.glyphs = 0
        self.path_numbers = 0

    def layer(self, el: Element, parent: Matrix, out: list[Item]) -> None:
        self.content(el, parent, el.get("DrawParam"), out, 0)

    def content(self, el: Element, parent: Matrix, params: str | None, out: list[Item],
                depth: int) -> None:
        if depth > MAX_DEPTH:
            raise too_complex("page blocks are nested too deeply", "页面块嵌套过深")
        for obj in el:
            name = local(obj.tag)
            if name not in ("TextObject", "PathObject", "ImageObject", "CompositeObject",
                            "PageBlock"):
                continue
            self.objects += 1
            if self.objects > MAX_OBJECTS:
                raise too_complex(f"a page holds more than {MAX_OBJECTS} objects",
                                  f"一页的对象超过 {MAX_OBJECTS} 个")
            if obj.get("Visible") == "false":
                continue
            if name == "PageBlock":
                self.content(obj, parent, obj.get("DrawParam") or params, out, depth + 1)
                continue
            box = rect(obj.get("Boundary"), f"{name} Boundary") or (0.0, 0.0, 0.0, 0.0)
            placed = then(move(box[0], box[1]), parent)
            # Content outside the boundary is not shown; a boundary without area (a
            # producer's shorthand for "none") clips nothing.
            clip = _quad(box, parent) if box[2] > 0 and box[3] > 0 else None
            ctm = matrix(obj.get("CTM"), f"{name} CTM")
            ref = obj.get("DrawParam") or params
            if name == "TextObject":
                self._text(obj, then(ctm or IDENTITY, placed), ref, out)
            elif name == "PathObject":
                self._path(obj, then(ctm or IDENTITY, placed), clip, ref, out)
            elif name == "ImageObject":
                self._image(obj, then(ctm or (box[2], 0.0, 0.0, box[3], 0.0, 0.0), placed),
                            clip, out)
            else:
                unit = self.res.unit(obj.get("ResourceID"))
                inner = child(unit, "Content")
                if inner is not None:
                    self.content(inner, then(ctm or IDENTITY, placed), ref, out, depth + 1)

    def style(self, obj: Element, ref: str | None, text: bool) -> Style:
        params = self.res.params(ref)
        # Text is filled black unless it says otherwise. A path's fill colour is
        # transparent unless one is named: the ⊗ of 数电 invoices says Fill="true" and
        # shows its outline.
        fill = self.res.color(child(obj, "FillColor")) or params.fill or (
            (BLACK, 1.0) if text else None)
        if not _flag(obj.get("Fill"), text):
            fill = None
        stroke = self.res.color(child(obj, "StrokeColor")) or params.stroke or (BLACK, 1.0)
        if not _flag(obj.get("Stroke"), not text):
            stroke = None
        alpha = min(max(number(obj.get("Alpha"), 255, "Alpha") / 255, 0.0), 1.0)
        shown = fill or stroke
        return Style(
            fill[0] if fill else None, stroke[0] if stroke else None,
            number(obj.get("LineWidth"), params.line_width or 0.353, "LineWidth"),
            alpha * (shown[1] if shown else 1.0),
            obj.get("Cap") or params.cap or "Butt", obj.get("Join") or params.join or "Miter",
            number(obj.get("MiterLimit"), params.miter or 3.528, "MiterLimit"),
            tuple(numbers(obj.get("DashPattern"), "DashPattern")) or params.dash or (),
            number(obj.get("DashOffset"), params.dash_offset or 0.0, "DashOffset"),
            obj.get("BlendMode") or "")

    def _text(self, obj: Element, m: Matrix, ref: str | None, out: list[Item]) -> None:
        style = self.style(obj, ref, True)
        size = number(obj.get("Size"), 0.0, "TextObject Size")
        if size <= 0:
            raise broken("a TextObject has no Size", "文字对象缺少字号 Size")
        font = self.res.font(obj.get("Font"))
        hscale = number(obj.get("HScale"), 1.0, "HScale")
        weight = int(number(obj.get("Weight"), 400, "Weight"))
        italic = obj.get("Italic") == "true"
        x = y = 0.0
        for code in children(obj, "TextCode"):
            chars = code.text or ""
            self.glyphs += len(chars)
            if self.glyphs > MAX_GLYPHS:
                raise too_complex(f"a page holds more than {MAX_GLYPHS} characters",
                                  f"一页的文字超过 {MAX_GLYPHS} 个")
            x = number(code.get("X"), x, "TextCode X")
            y = number(code.get("Y"), y, "TextCode Y")
            if chars:
                out.append(TextItem(m, font, size, chars, x, y,
                                    deltas(code.get("DeltaX"), len(chars)),
                                    deltas(code.get("DeltaY"), len(chars)), style, hscale,
                                    weight, italic, obj.get("ID", "")))

    def _path(self, obj: Element, m: Matrix, clip: Quad | None, ref: str | None,
              out: list[Item]) -> None:
        data = (child(obj, "AbbreviatedData").text or "") \
            if child(obj, "AbbreviatedData") is not None else ""
        ops = path_ops(data)
        self.path_numbers += sum(len(args) for _, args in ops)
        if self.path_numbers > MAX_PATH_NUMBERS:
            raise too_complex(f"a page's paths hold more than {MAX_PATH_NUMBERS} numbers",
                              f"一页的路径数据超过 {MAX_PATH_NUMBERS} 个数")
        if ops:
            out.append(PathItem(m, clip, ops, self.style(obj, ref, False),
                                (obj.get("Rule") or "").lower() == "even-odd"))

    def _image(self, obj: Element, m: Matrix, clip: Quad | None, out: list[Item]) -> None:
        key = self.res.key(obj.get("ResourceID"))
        if key not in self.res.media:
            raise broken(f"an ImageObject uses picture {key[:20]!r}, which is not declared",
                         f"图像对象引用的图片 {key[:20]!r} 未声明")
        alpha = min(max(number(obj.get("Alpha"), 255, "Alpha") / 255, 0.0), 1.0)
        out.append(ImageItem(m, clip, key, alpha, obj.get("BlendMode") or ""))


def _flag(value: str | None, default: bool) -> bool:
    return default if value is None else value.strip() == "true"


def _quad(box: tuple[float, float, float, float], m: Matrix) -> Quad:
    x, y, w, h = box
    return (apply(m, x, y), apply(m, x + w, y), apply(m, x + w, y + h), apply(m, x, y + h))


def deltas(value: str | None, limit: int) -> tuple[float, ...]:
    """A DeltaX/DeltaY list, `g N d` (d repeated N times) expanded; at most `limit`."""
    words = (value or "").split()
    out: list[float] = []
    i = 0
    while i < len(words) and len(out) < limit:
        if words[i] == "g" and i + 2 < len(words):
            count, step = numbers(f"{words[i + 1]} {words[i + 2]}", "Delta")
            out.extend([step] * max(0, min(int(count), limit - len(out))))
            i += 3
        else:
            out.extend(numbers(words[i], "Delta"))
            i += 1
    return tuple(out)


_ARGS = {"S": 2, "M": 2, "L": 2, "Q": 4, "B": 6, "A": 7, "C": 0}


def path_ops(data: str) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """AbbreviatedData as M/L/B/C operations (S is a move, Q and A become Béziers)."""
    words = data.split()
    out: list[tuple[str, tuple[float, ...]]] = []
    i = 0
    start = here = (0.0, 0.0)
    while i < len(words):
        op = words[i]
        if op not in _ARGS:
            raise broken(f"path operator {op[:10]!r} is unknown", f"路径操作符 {op[:10]!r} 未知")
        args = numbers(" ".join(words[i + 1:i + 1 + _ARGS[op]]), "AbbreviatedData")
        if len(args) != _ARGS[op]:
            raise broken(f"path operator {op} lacks numbers", f"路径操作符 {op} 缺少参数")
        i += 1 + _ARGS[op]
        if op in ("S", "M"):
            out.append(("M", tuple(args)))
            start = here = (args[0], args[1])
        elif op == "L":
            out.append(("L", tuple(args)))
            here = (args[0], args[1])
        elif op == "Q":
            (x0, y0), (qx, qy, x, y) = here, args
            out.append(("B", (x0 + 2 / 3 * (qx - x0), y0 + 2 / 3 * (qy - y0),
                              x + 2 / 3 * (qx - x), y + 2 / 3 * (qy - y), x, y)))
            here = (x, y)
        elif op == "B":
            out.append(("B", tuple(args)))
            here = (args[4], args[5])
        elif op == "A":
            out.extend(("B", curve) for curve in arc(here, *args))
            here = (args[5], args[6])
        else:
            out.append(("C", ()))
            here = start
    return tuple(out)


def arc(start: Point, rx: float, ry: float, angle: float, large: float, sweep: float,
        x: float, y: float) -> list[tuple[float, ...]]:
    """An elliptical arc (SVG's endpoint form, which OFD's `A` uses) as cubic Béziers."""
    x0, y0 = start
    rx, ry = abs(rx), abs(ry)
    if rx == 0 or ry == 0 or (x0, y0) == (x, y):
        return [(x0, y0, x, y, x, y)]
    phi = math.radians(angle)
    cos, sin = math.cos(phi), math.sin(phi)
    # The centre parameterisation (W3C SVG 1.1, appendix F.6.5).
    dx, dy = (x0 - x) / 2, (y0 - y) / 2
    x1, y1 = cos * dx + sin * dy, -sin * dx + cos * dy
    scale = (x1 * x1) / (rx * rx) + (y1 * y1) / (ry * ry)
    if scale > 1:
        rx, ry = rx * math.sqrt(scale), ry * math.sqrt(scale)
    num = rx * rx * ry * ry - rx * rx * y1 * y1 - ry * ry * x1 * x1
    den = rx * rx * y1 * y1 + ry * ry * x1 * x1
    root = math.sqrt(max(num / den, 0.0)) if den else 0.0
    if bool(large) == bool(sweep):
        root = -root
    cx1, cy1 = root * rx * y1 / ry, -root * ry * x1 / rx
    cx = cos * cx1 - sin * cy1 + (x0 + x) / 2
    cy = sin * cx1 + cos * cy1 + (y0 + y) / 2
    theta = math.atan2((y1 - cy1) / ry, (x1 - cx1) / rx)
    delta = math.atan2((-y1 - cy1) / ry, (-x1 - cx1) / rx) - theta
    if sweep and delta < 0:
        delta += 2 * math.pi
    elif not sweep and delta > 0:
        delta -= 2 * math.pi
    pieces = max(1, math.ceil(abs(delta) / (math.pi / 2) - 1e-9))
    step = delta / pieces
    k = 4 / 3 * math.tan(step / 4)
    curves = []

    def point(t: float, dxr: float = 0.0, dyr: float = 0.0) -> Point:
        px, py = rx * math.cos(t) + dxr, ry * math.sin(t) + dyr
        return cx + cos * px - sin * py, cy + sin * px + cos * py

    for n in range(pieces):
        a, b = theta + n * step, theta + (n + 1) * step
        p1 = point(a, -k * rx * math.sin(a), k * ry * math.cos(a))
        p2 = point(b, k * rx * math.sin(b), -k * ry * math.cos(b))
        p3 = point(b)
        curves.append((*p1, *p2, *p3))
    return curves
