"""Rendering: the page is exactly the stock, fonts are embedded, offsets move every field."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from printstation.config import load_stocks
from printstation.drivers import render_invoice
from printstation.harness.kit import SAMPLES
from printstation.harness.pdfpos import MM, positions
from printstation.invoice import read_file

STOCKS, _ = load_stocks()


def sample(name: str = "vat-special.json"):
    return read_file(name, (SAMPLES / name).read_bytes()).items[0].invoice


@pytest.mark.parametrize("stock", sorted(STOCKS))
def test_page_is_exactly_the_stock_with_no_rotation(stock: str, tmp_path: Path) -> None:
    pdf = render_invoice(sample(), STOCKS[stock])
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert float(page.mediabox.width) == pytest.approx(STOCKS[stock].width_mm * MM, abs=0.01)
    assert float(page.mediabox.height) == pytest.approx(STOCKS[stock].height_mm * MM, abs=0.01)
    assert page.get("/Rotate", 0) == 0
    out = tmp_path / "p.pdf"
    out.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", out], capture_output=True, text=True, check=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows, "no font found"
    for row in rows:
        # Columns: name type encoding emb sub uni ...; "emb no" would let CUPS substitute.
        assert row.split()[-5] == "yes", row
    assert "Helvetica" not in fonts


@pytest.mark.parametrize("offset", [(0.0, 0.0), (2.5, -1.2), (-30.0, 30.0)])
def test_offsets_move_left_aligned_fields_exactly(offset: tuple[float, float]) -> None:
    stock = STOCKS["vat-special"]
    inv = sample()
    found = positions(render_invoice(inv, stock, offset))
    for field, text in (("number", inv.number), ("code", inv.code),
                        ("buyer.name", inv.buyer.name), ("seller.tin", inv.seller.tin)):
        spec = stock.fields[field]
        x, y = found[text]
        assert x == pytest.approx(spec.x + offset[0], abs=0.1), field
        assert y == pytest.approx(spec.y + offset[1], abs=0.1), field


def test_rendering_is_reproducible() -> None:
    inv, stock = sample(), STOCKS["vat-special"]
    assert render_invoice(inv, stock) == render_invoice(inv, stock)


def test_quantities_and_rates_print_as_written() -> None:
    found = positions(render_invoice(sample(), STOCKS["vat-special"]))
    assert {"25.00", "13%", "6%", "¥1413.00"} <= set(found)
    assert json.loads((SAMPLES / "vat-special.json").read_text())["total_words"] in found


def test_the_font_subset_is_reportlabs_own_made_without_copying_the_glyph_table() -> None:
    """The embedded subset is made from views of the mapped font (drivers/fonts.py): its
    bytes are those of reportlab's subset of the file read whole, and making it no longer
    copies the 10 MB glyph table (issue 19: a third of a page's rendering)."""
    import tracemalloc

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFontFile

    from printstation.drivers.fonts import ensure_font, font_path

    face = pdfmetrics.getFont(ensure_font()).face
    whole = TTFontFile(str(font_path()), subfontIndex=0)
    # Digits, Latin, the invoice's own words, full-width punctuation, and a glyph the font
    # lacks (it maps to glyph 0).
    text = "0123456789ABCxyz增值税专用发票价税合计（大写）¥×○，。\U0001F600"
    subset = sorted({ord(ch) for ch in text})
    assert face.makeSubset(subset) == whole.makeSubset(subset)
    tracemalloc.start()
    try:
        face.makeSubset(subset)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"making a subset allocated {peak:,} bytes at its peak"
