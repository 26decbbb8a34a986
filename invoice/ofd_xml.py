"""An OFD package (GB/T 33190) opened for bounded reading: members by location, XML
without entities, and the numbers, boxes and matrices its XML is written in.

An OFD is a zip of XML files that point at each other by location. A location is relative
to the file that names it, or absolute from the package's root when it starts with `/`.
A location may not leave the package: a URL, a drive letter, a `..` that climbs out of it
or an absolute path naming no folder of the package (`/etc/passwd`) is `ofd.external`, so
nothing outside the dropped file is ever read. Every member is read through `SafeZip`.
"""

from __future__ import annotations

import io
import math
import posixpath
import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from .problems import Problem, Refused, problem
from .xml_format import decode_xml
from .zip_safe import SafeZip, ZipRefused

Matrix = tuple[float, float, float, float, float, float]
Rect = tuple[float, float, float, float]  # x, y, width, height
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)

# An invoice's XML members are a few KB; a page with 20,000 objects is about 3 MB.
MAX_XML_BYTES = 16 << 20
# Elements in one XML member: the tree of 50,000 elements takes about 50 MB, well inside
# the reader's memory limit; a real invoice page has a few hundred.
MAX_ELEMENTS = 50_000
MAX_NUMBER = 1e6
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


class OfdRefused(Exception):
    """The document cannot be read or may not be; `problem` says why, for the clerk."""

    def __init__(self, found: Problem) -> None:
        super().__init__(found.en)
        self.problem = found


def broken(detail: str, detail_zh: str) -> OfdRefused:
    return OfdRefused(problem("parse.ofd", detail=detail[:300], detail_zh=detail_zh[:300]))


def too_complex(detail: str, detail_zh: str) -> OfdRefused:
    return OfdRefused(problem("file.too_complex", detail=detail, detail_zh=detail_zh))


def local(tag: object) -> str:
    # Producers write `ofd:Page`, `Page` or a default namespace: only the name counts.
    return tag.rpartition("}")[2].rpartition(":")[2] if isinstance(tag, str) else ""


def child(el: Element | None, name: str) -> Element | None:
    if el is None:
        return None
    return next((c for c in el if local(c.tag) == name), None)


def children(el: Element | None, name: str) -> list[Element]:
    return [] if el is None else [c for c in el if local(c.tag) == name]


def text(el: Element | None, name: str = "") -> str:
    found = child(el, name) if name else el
    return (found.text or "").strip() if found is not None else ""


def numbers(value: str | None, what: str) -> list[float]:
    """Space-separated numbers (OFD's ST_Array); a word that is not one is damage."""
    out = []
    for word in (value or "").replace(",", " ").split():
        found = float(word) if _NUMBER.fullmatch(word) else math.nan
        # Coordinates are millimetres: a number past a kilometre is damage (or an attempt
        # to overflow the arithmetic that places things).
        if not abs(found) <= MAX_NUMBER:
            raise broken(f"{what}: {word[:40]!r} is not a usable number",
                         f"{what}：{word[:40]!r} 不是可用的数字")
        out.append(found)
    return out


def number(value: str | None, default: float, what: str) -> float:
    found = numbers(value, what)
    return found[0] if found else default


def rect(value: str | None, what: str) -> Rect | None:
    found = numbers(value, what)
    if not found:
        return None
    if len(found) != 4 or found[2] < 0 or found[3] < 0:
        raise broken(f"{what} {value[:60]!r} is not a box (x y width height)",
                     f"{what} {value[:60]!r} 不是有效的矩形")
    return found[0], found[1], found[2], found[3]


def matrix(value: str | None, what: str) -> Matrix | None:
    found = numbers(value, what)
    if not found:
        return None
    if len(found) != 6:
        raise broken(f"{what} {value[:60]!r} is not a matrix of 6 numbers",
                     f"{what} {value[:60]!r} 不是 6 个数的矩阵")
    return found[0], found[1], found[2], found[3], found[4], found[5]


def then(first: Matrix, second: Matrix) -> Matrix:
    """The matrix that applies `first`, then `second` (PDF's order: first × second)."""
    a, b, c, d, e, f = first
    A, B, C, D, E, F = second
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D,
            e * A + f * C + E, e * B + f * D + F)


def apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def move(x: float, y: float) -> Matrix:
    return (1.0, 0.0, 0.0, 1.0, x, y)


def parse_xml(data: bytes, what: str) -> Element:
    """The root of an XML member: no DTD, no entities, at most MAX_ELEMENTS elements."""
    if len(data) > MAX_XML_BYTES:
        raise too_complex(f"{what} is {len(data) >> 20} MB of XML",
                          f"{what} 的 XML 有 {len(data) >> 20} MB")
    try:
        source = io.BytesIO(decode_xml(data))
        root: Element | None = None
        for count, (_, element) in enumerate(
                iterparse(source, events=("start",), forbid_dtd=True), 1):
            if root is None:
                root = element
            if count > MAX_ELEMENTS:
                raise too_complex(f"{what} holds more than {MAX_ELEMENTS} elements",
                                  f"{what} 的元素超过 {MAX_ELEMENTS} 个")
    except Refused as exc:
        raise broken(f"{what}: {exc.problem.en}", f"{what}：{exc.problem.zh}") from None
    except DefusedXmlException as exc:
        raise broken(f"{what}: {type(exc).__name__}: DTDs and entities are not allowed",
                     f"{what}：不允许 DTD 和实体声明") from None
    except ParseError as exc:
        raise broken(f"{what} is not well-formed XML ({exc})",
                     f"{what} 不是格式正确的 XML") from None
    if root is None:
        raise broken(f"{what} is empty", f"{what} 为空")
    return root


class Package:
    """The zip's members, read by location, each refused past the zip's limits."""

    def __init__(self, data: bytes) -> None:
        try:
            self.zip = SafeZip(data, "parse.ofd")
        except ZipRefused as exc:
            raise OfdRefused(exc.problem) from None
        self.members = set(self.zip.names)
        self._tops = {name.split("/", 1)[0] for name in self.members}

    def read(self, path: str, limit: int = MAX_XML_BYTES) -> bytes:
        try:
            return self.zip.read(path, limit)
        except ZipRefused as exc:
            raise OfdRefused(exc.problem) from None

    def xml(self, path: str) -> Element:
        if path not in self.members:
            raise broken(f"{path} is missing", f"缺少 {path}")
        return parse_xml(self.read(path), path)

    def locate(self, base: str, location: str, what: str, member: bool = True) -> str:
        """The package path `location` names, read from folder `base`.

        `member=False` for a folder (a resource file's BaseLoc), which is not a member
        itself and only has to stay inside the package.
        """
        loc = location.strip().replace("\\", "/")
        shown = loc[:80]
        if not loc:
            raise broken(f"{what} has an empty location", f"{what} 的位置为空")
        if _SCHEME.match(loc) or loc.startswith("//") or "\x00" in loc:
            raise _external(what, shown)
        rooted = loc.startswith("/")
        joined = posixpath.normpath(loc.lstrip("/") if rooted else posixpath.join(base, loc))
        if joined == ".." or joined.startswith("../") or joined.startswith("/"):
            raise _external(what, shown)
        path = "" if joined == "." else joined
        if not member:
            return path
        if path in self.members:
            return path
        # Some producers write locations from the package's root without the leading `/`
        # (`Doc_0/Pages/Page_0/Content.xml` in Document.xml): viewers accept them.
        from_root = posixpath.normpath(loc)
        if not rooted and from_root in self.members:
            return from_root
        # An absolute path whose first folder is none of the package's is a path on some
        # computer's disk (`/etc/passwd`), not a member that went missing; so is a path
        # that climbs with `..` to nothing the package holds.
        if (rooted and path.split("/", 1)[0] not in self._tops) or ".." in loc.split("/"):
            raise _external(what, shown)
        raise broken(f"{what} {shown!r} is not in the file", f"{what} {shown!r} 不在文件中")


def _external(what: str, shown: str) -> OfdRefused:
    return OfdRefused(problem("ofd.external", detail=f"{what} {shown!r}",
                              detail_zh=f"{what} {shown!r}"))


def folder(path: str) -> str:
    return posixpath.dirname(path)
