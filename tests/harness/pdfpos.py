"""Where text is drawn on a PDF page, read back from the PDF itself."""

from __future__ import annotations

import io

from pypdf import PdfReader

MM = 72 / 25.4


def all_positions(pdf: bytes) -> dict[str, list[tuple[float, float, float]]]:
    """text -> every (x, y in mm from the top-left, font size) where it is drawn."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    height = float(page.mediabox.height)
    found: dict[str, list[tuple[float, float, float]]] = {}

    def visit(text, cm, tm, font, size):
        if text.strip():
            # The text's origin is the text matrix's translation mapped through the CTM.
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            found.setdefault(text.strip(), []).append((x / MM, (height - y) / MM, size))

    page.extract_text(visitor_text=visit)
    return found


def positions(pdf: bytes) -> dict[str, tuple[float, float]]:
    """text -> (x, y) in mm of its first drawing."""
    return {t: places[0][:2] for t, places in all_positions(pdf).items()}
