"""Just enough PNG for golden images: 8-bit greyscale, written and read back (no imaging
library needed). Pages are rasterised by poppler's pdftoppm as PGM."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def raster(pdf: bytes, folder: Path, dpi: int = 50) -> tuple[int, int, bytes]:
    """(width, height, grey pixels) of the first page."""
    source = folder / "page.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), "-singlefile", source,
                    folder / "page"], check=True)
    data = (folder / "page.pgm").read_bytes()
    magic, width, height, maxval, pixels = data.split(maxsplit=4)
    assert magic == b"P5" and maxval == b"255"
    return int(width), int(height), pixels


def write_png(path: Path, width: int, height: int, pixels: bytes) -> None:
    rows = b"".join(b"\0" + pixels[y * width:(y + 1) * width] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    path.write_bytes(SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0,
                                                            0, 0))
                     + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def read_png(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data.startswith(SIGNATURE)
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (8, 0), "only 8-bit greyscale, as written here"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width + 1
    assert all(raw[y * stride] == 0 for y in range(height)), "only filter type 0"
    return width, height, b"".join(raw[y * stride + 1:(y + 1) * stride] for y in range(height))
