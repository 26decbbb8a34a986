"""What a red-team pass on the e-invoice readers found (issue 13), each kept fixed: an
invoice key that is not whole, the same invoice merged twice, a page the reader never
parsed, a page metres wide, a zip naming two members alike."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
import zlib
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from printstation.config import load_settings, load_stocks
from printstation.daemon.checks import check_file
from printstation.daemon.context import Context
from printstation.drivers.fonts import ensure_font
from printstation.harness.kit import ROOT

REAL = ROOT / "tests" / "fixtures" / "real"
SDP = REAL / "sdp_zp_2025_jiangsu_3items.pdf"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    settings = load_settings(None, cwd=tmp_path_factory.mktemp("hardening"))
    return Context(settings, load_stocks()[0],
                   clock=lambda: dt.datetime(2026, 11, 28, tzinfo=dt.UTC))


def codes(ctx: Context, name: str, data: bytes) -> list[list[str]]:
    checked = check_file(name, data, ctx)
    if checked.file_problems:
        return [[p.code for p in checked.file_problems]]
    return [[p.code for p in entry.problems] for entry in checked.entries]


def page(size_mm: tuple[float, float], texts: list[tuple[float, float, str]]) -> bytes:
    """A page of the CJK font's text at (x, y) mm from the top-left."""
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(size_mm[0] * mm, size_mm[1] * mm))
    canvas.setFont(ensure_font(), 10)
    for x, y, text in texts:
        canvas.drawString(x * mm, (size_mm[1] - y) * mm, text)
    canvas.rect(5 * mm, (size_mm[1] - 135) * mm, 200 * mm, 130 * mm)
    canvas.save()
    return buf.getvalue()


def merged(*documents: bytes) -> bytes:
    writer = PdfWriter()
    for data in documents:
        writer.append(PdfReader(io.BytesIO(data)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_eight_digit_number_without_its_code_is_refused(ctx: Context) -> None:
    # Keyed by the number alone it would print again when its code can be read.
    data = page((215.2, 139), [(20, 20, "电子普通发票"), (150, 20, "发票号码：37745385"),
                               (150, 26, "开票日期：2022年10月24日")])
    assert codes(ctx, "a.pdf", data) == [["invoice.code"]]


def test_the_same_invoice_merged_twice_is_a_duplicate_not_a_second_page(ctx: Context) -> None:
    data = SDP.read_bytes()
    assert codes(ctx, "twice.pdf", merged(data, data)) == [[], ["invoice.duplicate"]]


def test_a_page_the_text_reader_never_parsed_is_refused_when_read(ctx: Context) -> None:
    # Page 2 has no resources, so text extraction skips its 300,000 path operators; placing
    # it for print would parse them in the daemon. The jail tries it first.
    writer = PdfWriter()
    writer.append(PdfReader(SDP))
    blank = writer.add_blank_page(595, 420)
    stream = DecodedStreamObject()
    stream.set_data(b"0 0 m 1 1 l S\n" * 300_000)
    blank[NameObject("/Contents")] = writer._add_object(stream)
    del blank[NameObject("/Resources")]
    out = io.BytesIO()
    writer.write(out)
    found = codes(ctx, "heavy.pdf", out.getvalue())
    assert found in ([["parse.pdf"]], [["file.too_complex"]]), found
    assert len(zlib.compress(b"0 0 m 1 1 l S\n" * 300_000)) < 100_000  # a small file


def test_a_page_metres_wide_is_measured_not_taken_for_blank(ctx: Context) -> None:
    # At 144 dpi a 5 m page is an 800 MB bitmap; drawn at a lower resolution its ink is
    # known: a small invoice in a corner prints, a page inked all over is refused.
    corner = page((5000, 5000), [(20, 20, "电子发票（普通发票）"),
                                 (150, 20, "发票号码：25322000000337010006")])
    assert codes(ctx, "corner.pdf", corner) == [[]]
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(5000 * mm, 5000 * mm))
    canvas.setFont(ensure_font(), 10)
    canvas.drawString(150 * mm, 4980 * mm, "发票号码：25322000000337010007")
    canvas.rect(10 * mm, 10 * mm, 4980 * mm, 4980 * mm)
    canvas.save()
    assert codes(ctx, "poster.pdf", buf.getvalue()) == [["pdf.page_size"]]


def test_two_zip_members_of_one_name_are_refused(ctx: Context, tmp_path: Path) -> None:
    xml = (REAL / "sdxml_pp_2025_jiangsu_training.xml").read_bytes()
    other = (REAL / "sdxml_zp_2026_jiangsu_anyuan.xml").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("dzfp.xml", xml)
        with pytest.warns(UserWarning):  # the zip module warns, and writes it anyway
            zf.writestr("dzfp.xml", other)
    assert codes(ctx, "dzfp.zip", out.getvalue()) == [["zip.unsafe"]]
