"""Real invoice files published by others (tests/fixtures/real/SOURCES.md): each gives the
result its SOURCES line says."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from printstation.config import load_settings, load_stocks
from printstation.daemon.checks import check_file
from printstation.daemon.context import Context
from printstation.harness.kit import ROOT
from printstation.invoice import read_file, to_capitals

REAL = ROOT / "tests" / "fixtures" / "real"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    settings = load_settings(None, cwd=tmp_path_factory.mktemp("real"))
    return Context(settings, load_stocks()[0],
                   clock=lambda: dt.datetime(2026, 11, 28, tzinfo=dt.UTC))


def one(name: str):
    read = read_file(name, (REAL / name).read_bytes())
    assert read.problems == () and len(read.items) == 1
    return read.items[0]


@pytest.mark.parametrize(("name", "number", "amount", "tax", "total", "words", "lines"), [
    ("sdxml_zp_2026_jiangsu_anyuan.xml", "26322000004478296111", "18876.44", "1793.56",
     "20670.00", "贰万零陆佰柒拾圆整", 3),
    ("sdxml_pp_2025_jiangsu_training.xml", "25322000000365404822", "235.85", "14.15",
     "250.00", "贰佰伍拾圆整", 1),
])
def test_digital_xml(ctx: Context, name: str, number: str, amount: str, tax: str, total: str,
                     words: str, lines: int) -> None:
    invoice = one(name).invoice
    assert (invoice.key, invoice.code, invoice.kind) == (number, "", "einvoice")
    assert (invoice.total_amount, invoice.total_tax, invoice.total) == \
        (Decimal(amount), Decimal(tax), Decimal(total))
    assert invoice.total_words == words == to_capitals(invoice.total)
    assert len(invoice.lines) == lines
    assert check_file(name, (REAL / name).read_bytes(), ctx).valid


def test_digital_xml_rates_and_seller() -> None:
    special = one("sdxml_zp_2026_jiangsu_anyuan.xml").invoice
    assert {li.rate for li in special.lines} == {Decimal("0.06"), Decimal("0.13")}
    training = one("sdxml_pp_2025_jiangsu_training.xml").invoice
    assert training.seller.tin == "52320200509244470T"
    assert training.lines[0].unit_price == Decimal("235.8490566037736")


def test_legacy_xml(ctx: Context) -> None:
    invoice = one("xml_legacy_eInvoice_zp_2022_guizhou.xml").invoice
    assert (invoice.code, invoice.number, invoice.key) == \
        ("052002100113", "00008006", "052002100113-00008006")
    assert invoice.date == dt.date(2022, 5, 5)
    assert invoice.total == Decimal("25254.62") == invoice.total_amount + invoice.total_tax
    assert invoice.lines[0].rate == Decimal("0.03")
    assert invoice.cipher.count("\n") == 3  # four cipher rows, CRLF/LF normalised
    name = "xml_legacy_eInvoice_zp_2022_guizhou.xml"
    assert check_file(name, (REAL / name).read_bytes(), ctx).valid


def test_digital_pdf_is_read_field_by_field(ctx: Context) -> None:
    pdf = one("sdp_zp_2025_jiangsu_3items.pdf").asis
    assert (pdf.format, pdf.number, pdf.code, pdf.date) == \
        ("pdf", "25322000000337005189", "", dt.date(2025, 7, 22))
    assert (pdf.total_amount, pdf.total_tax, pdf.total) == \
        (Decimal("8562.72"), Decimal("256.88"), Decimal("8819.60"))
    assert pdf.title == "电子发票（增值税专用发票）"
    assert pdf.page_mm == ((210.0, 140.0),) and pdf.pages == (0,)
    checked = check_file("a.pdf", (REAL / "sdp_zp_2025_jiangsu_3items.pdf").read_bytes(), ctx)
    assert checked.valid and checked.entries[0].key == "25322000000337005189"


def test_oversized_converted_pdf_is_read_and_refused(ctx: Context) -> None:
    name = "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf"
    pdf = one(name).asis
    assert (pdf.code, pdf.number, pdf.total) == ("052002100113", "00008006", Decimal("25254.62"))
    checked = check_file(name, (REAL / name).read_bytes(), ctx)
    (problem,) = checked.entries[0].problems
    assert problem.code == "pdf.page_size"
    # Its ink, not its page, is what must fit; the paper is A4.
    assert "553.7 × 337.4" in problem.en and "210 × 297" in problem.en


@pytest.mark.parametrize(("name", "key", "date", "amount", "tax", "total"), [
    ("ofd_sdp_2024_jiangsu.ofd", "24322000000489101796", dt.date(2024, 12, 5), "17699.12",
     "2300.88",
     "20000.00"),
    ("ofd_legacy_zp_2022_guizhou.ofd", "052002100113-00008006", dt.date(2022, 5, 5),
     "24519.05", "735.57", "25254.62"),
])
def test_ofd_is_read_field_by_field(ctx: Context, name: str, key: str, date: dt.date,
                                    amount: str, tax: str, total: str) -> None:
    ofd = one(name).asis
    assert (ofd.format, ofd.key, ofd.date, ofd.page_mm) == ("ofd", key, date, ((210.0, 140.0),))
    assert (ofd.total_amount, ofd.total_tax, ofd.total) == \
        (Decimal(amount), Decimal(tax), Decimal(total))
    checked = check_file(name, (REAL / name).read_bytes(), ctx)
    assert checked.valid and checked.entries[0].key == key


def test_every_fixture_is_covered() -> None:
    tested = {"sdxml_zp_2026_jiangsu_anyuan.xml", "sdxml_pp_2025_jiangsu_training.xml",
              "xml_legacy_eInvoice_zp_2022_guizhou.xml", "sdp_zp_2025_jiangsu_3items.pdf",
              "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf", "ofd_sdp_2024_jiangsu.ofd",
              "ofd_legacy_zp_2022_guizhou.ofd"}
    assert {p.name for p in Path(REAL).iterdir() if p.name != "SOURCES.md"} == tested
