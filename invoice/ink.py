"""Where a page's ink lies: the box around everything a printer would put on the paper.

E-invoice PDFs come with margins of every size (a 215.2 × 139 mm Didi page, a 数电 invoice
drawn on the top of an A4 page), so a page is placed on the paper by its ink, not its
MediaBox. The box is measured on the page as poppler draws it (`pdftoppm`, already a
system dependency for previews): white fills and clipped-away content are not ink, and
what the page shows is what is measured, whatever the producer wrote.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .asis import Box

# 144 dpi: a pixel is 0.18 mm, well inside the 0.5 mm the placement must keep.
DPI = 144
# A page larger than about A0 is drawn at a lower resolution: a 5 m page at 144 dpi is a
# 800 MB bitmap, which the reader jail's memory limit cuts short into a blank picture
# (measured as "no ink", so a page that cannot fit would have passed). Such a page's ink
# only has to be known well enough to refuse it or to find a small invoice on it.
MAX_PIXELS = 36_000_000
# Grey levels at or above this are paper: anti-aliasing leaves faint pixels at edges.
_PAPER = 0xF0
# pdftoppm of one invoice page takes 20–60 ms; a stalled one is ended with the file.
TIMEOUT_S = 20


class InkUnavailable(RuntimeError):
    """pdftoppm is missing or could not draw the page."""


def ink_boxes(pdf: bytes, pages: Sequence[int],
              sizes_mm: Sequence[tuple[float, float]] | None = None) -> list[Box]:
    """Each page's ink (0-based `pages`) as displayed: left, top, right, bottom in mm.

    `sizes_mm`, each listed page's displayed size, lets a huge page be drawn at a lower
    resolution (`MAX_PIXELS`) instead of failing."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise InkUnavailable("measuring a page needs pdftoppm: apt-get install poppler-utils")
    with tempfile.TemporaryDirectory(prefix="printstation-ink-") as tmp:
        source = Path(tmp) / "page.pdf"
        source.write_bytes(pdf)
        return [_page_box(exe, source, page, _dpi(sizes_mm[i] if sizes_mm else None))
                for i, page in enumerate(pages)]


def _dpi(size_mm: tuple[float, float] | None) -> float:
    if size_mm is None:
        return DPI
    square_inches = max(size_mm[0] / 25.4 * size_mm[1] / 25.4, 1e-6)
    return min(DPI, (MAX_PIXELS / square_inches) ** 0.5)


def _page_box(exe: str, source: Path, page: int, dpi: float) -> Box:
    try:
        # -cropbox: the page as viewers show it and printers print it (pdftoppm draws
        # the whole MediaBox by default, content a CropBox cuts away included).
        done = subprocess.run(
            [exe, "-gray", "-cropbox", "-r", f"{dpi:.3f}", "-f", str(page + 1), "-l",
             str(page + 1), str(source)], capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise InkUnavailable(f"pdftoppm took over {TIMEOUT_S} s on page {page + 1}") from None
    if done.returncode != 0 or not done.stdout.startswith(b"P5"):
        raise InkUnavailable(f"pdftoppm could not draw page {page + 1}: "
                             f"{done.stderr.decode(errors='replace')[:200]}")
    return _box_of_pgm(done.stdout, 25.4 / dpi)


def _box_of_pgm(pgm: bytes, mm_per_px: float = 25.4 / DPI) -> Box:
    # A binary PGM: "P5", width, height, maxval, each followed by whitespace, then pixels.
    fields: list[int] = []
    pos = 2
    while len(fields) < 3:
        while pgm[pos:pos + 1].isspace():
            pos += 1
        if pgm[pos:pos + 1] == b"#":
            pos = pgm.index(b"\n", pos)
            continue
        end = pos
        while pgm[end:end + 1].isdigit():
            end += 1
        fields.append(int(pgm[pos:end]))
        pos = end
    width, height, _ = fields
    pixels = memoryview(pgm)[pos + 1:]
    # Map every grey level to "paper" (0) or "ink" (1) once, then scan rows as bytes.
    table = bytes(0 if level >= _PAPER else 1 for level in range(256))
    inked = pixels.tobytes().translate(table)
    top = bottom = -1
    left, right = width, -1
    for row in range(height):
        line = inked[row * width:(row + 1) * width]
        first = line.find(1)
        if first < 0:
            continue
        if top < 0:
            top = row
        bottom = row
        left = min(left, first)
        right = max(right, line.rfind(1))
    if top < 0:
        return (0.0, 0.0, 0.0, 0.0)
    return (round(left * mm_per_px, 2), round(top * mm_per_px, 2),
            round((right + 1) * mm_per_px, 2), round((bottom + 1) * mm_per_px, 2))
