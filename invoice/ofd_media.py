"""What an OFD's pictures are, learnt from their headers before anything decodes them.

An image's header says how many pixels decoding it will produce: a 200-byte PNG may claim
60000 × 60000 (10 GB decoded). Each picture's format and size are read here with a few
byte reads, so a picture past `MAX_PIXELS` is refused before an imaging library sees it.

JBIG2 (the QR code of legacy tax-platform OFDs) is not decoded at all: PDF carries JBIG2
natively, so the painter embeds its segments as they are (`jbig2_page`). The seal of a
signature sits inside its SES structure (GM/T 0031, DER): `seal_picture` finds it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .ofd_xml import OfdRefused, broken, too_complex

# 40 megapixels: a 600 dpi scan of a whole A4 page is 35 MP; an invoice's QR code and seal
# are well under 1 MP each.
MAX_PIXELS = 40_000_000
_JBIG2 = b"\x97JB2\r\n\x1a\n"
PICTURE_TYPES = ("ofd", "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff")


@dataclass(frozen=True)
class Picture:
    format: str  # "png", "jpeg", "gif", "bmp", "tiff" or "jbig2"
    width: int
    height: int


def sniff(data: bytes, what: str) -> Picture:
    """The picture's format and pixel size from its header; refused when too large."""
    try:
        found = _sniff(data)
    except (struct.error, IndexError, ValueError):
        found = None
    if found is None:
        raise broken(f"{what} is not a picture in a supported format (PNG, JPEG, GIF, BMP, "
                     "TIFF, JBIG2)", f"{what} 不是受支持格式的图片")
    if found.width <= 0 or found.height <= 0:
        raise broken(f"{what} has no pixels ({found.width} × {found.height})",
                     f"{what} 没有像素")
    if found.width * found.height > MAX_PIXELS:
        raise too_complex(f"{what} claims {found.width} × {found.height} pixels (at most "
                          f"{MAX_PIXELS // 1_000_000} megapixels)",
                          f"{what} 声称有 {found.width} × {found.height} 像素"
                          f"（最多 {MAX_PIXELS // 1_000_000} 百万像素）")
    return found


def _sniff(data: bytes) -> Picture | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return Picture("png", width, height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return Picture("gif", width, height)
    if data.startswith(b"BM"):
        width, height = struct.unpack("<ii", data[18:26])
        return Picture("bmp", abs(width), abs(height))
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff(data)
    if data.startswith(_JBIG2):
        width, height, _ = jbig2_page(data)
        return Picture("jbig2", width, height)
    return None


def _jpeg(data: bytes) -> Picture | None:
    # Markers follow one another, each with its length, up to the frame header (SOFn).
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return Picture("jpeg", width, height)
        pos += 2 + length
    return None


def _tiff(data: bytes) -> Picture | None:
    order = "<" if data.startswith(b"II") else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd:ifd + 2])
    size: dict[int, int] = {}
    for i in range(min(count, 512)):
        entry = data[ifd + 2 + 12 * i:ifd + 14 + 12 * i]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            fmt = order + ("H" if kind == 3 else "I")
            size[tag] = struct.unpack(fmt, entry[8:10] if kind == 3 else entry[8:12])[0]
    if 256 in size and 257 in size:
        return Picture("tiff", size[256], size[257])
    return None


def jbig2_page(data: bytes) -> tuple[int, int, bytes]:
    """A JBIG2 file's one page: width, height, and its segments as PDF embeds them.

    PDF's JBIG2Decode takes the segments of one page without the file header and without
    end-of-page and end-of-file segments (ISO 32000-1, 7.4.7).
    """
    if not data.startswith(_JBIG2) or len(data) < 9:
        raise broken("the JBIG2 picture has no JBIG2 file header", "JBIG2 图片缺少文件头")
    flags = data[8]
    pos = 9 if flags & 0x02 else 13
    headers: list[tuple[int, bytes, int]] = []
    sequential = bool(flags & 0x01)
    while pos < len(data):
        start = pos
        number_, seg_flags = struct.unpack(">IB", data[pos:pos + 5])
        kind = seg_flags & 0x3F
        pos += 5
        count = data[pos] >> 5
        if count == 7:
            count = struct.unpack(">I", data[pos:pos + 4])[0] & 0x1FFFFFFF
            pos += 4 + (count + 8) // 8
        else:
            pos += 1
        pos += count * (1 if number_ <= 256 else 2 if number_ <= 65536 else 4)
        wide = seg_flags & 0x40
        page = struct.unpack(">I", data[pos:pos + 4])[0] if wide else data[pos]
        pos += 4 if wide else 1
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        pos += 4
        if length == 0xFFFFFFFF or page > 1:
            raise broken("the JBIG2 picture has more than one page or an unknown length",
                         "JBIG2 图片有多页或长度未知")
        if sequential:
            headers.append((kind, data[start:pos + length], length))
            pos += length
        else:
            headers.append((kind, data[start:pos], length))
            if kind == 51:
                break
    if not sequential:
        # Random-access organisation: every header first, then every segment's data.
        joined = []
        for kind, header, length in headers:
            joined.append((kind, header + data[pos:pos + length], length))
            pos += length
        headers = joined
    kept = [segment for kind, segment, _ in headers if kind not in (49, 51)]
    info = next((segment for kind, segment, length in headers if kind == 48 and length == 19),
                None)
    if info is None:
        raise broken("the JBIG2 picture has no page information", "JBIG2 图片缺少页面信息")
    width, height = struct.unpack(">II", info[-19:-11])
    if height == 0xFFFFFFFF:
        raise broken("the JBIG2 picture's height is unknown (striped)", "JBIG2 图片高度未知")
    return width, height, b"".join(kept)


def seal_picture(der: bytes) -> tuple[str, bytes] | None:
    """The seal picture of a signature's SignedValue (SES, GM/T 0031), as (type, bytes).

    The picture is the SEQUENCE {type IA5String, data OCTET STRING, width, height} of
    the seal's information, found by walking the DER tree: versions of SES differ in what
    surrounds it, not in it. None when there is no picture (a signature without a seal).
    """
    budget = [5000]

    def walk(start: int, end: int, depth: int) -> tuple[str, bytes] | None:
        pos = start
        while pos < end:
            budget[0] -= 1
            if budget[0] < 0 or depth > 24:
                raise too_complex("the signature's structure is nested too deeply",
                                  "签章数据结构嵌套过深")
            tag, body, after = _tlv(der, pos, end)
            if tag == 0x30:
                picture = _picture(body, after)
                if picture is not None:
                    return picture
            if tag & 0x20:
                found = walk(body, after, depth + 1)
                if found is not None:
                    return found
            pos = after
        return None

    def _picture(body: int, end: int) -> tuple[str, bytes] | None:
        try:
            tag, start, after = _tlv(der, body, end)
            if tag != 0x16:
                return None
            kind = der[start:after].decode("ascii", "replace").strip().lower()
            tag, start, stop = _tlv(der, after, end)
        except OfdRefused:
            return None
        if kind in PICTURE_TYPES and tag == 0x04:
            return ("jpeg" if kind == "jpg" else "tiff" if kind == "tif" else kind,
                    der[start:stop])
        return None

    return walk(0, len(der), 0)


def _tlv(der: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at `pos`."""
    if pos + 2 > end:
        raise broken("the signature's data is cut short", "签章数据不完整")
    tag, first = der[pos], der[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif 0x81 <= first <= 0x84:
        width = first - 0x80
        length = int.from_bytes(der[pos:pos + width], "big")
        pos += width
    else:
        raise broken("the signature's data is not DER", "签章数据不是 DER 编码")
    if pos + length > end:
        raise broken("the signature's data is cut short", "签章数据不完整")
    return tag, pos, pos + length
