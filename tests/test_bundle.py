"""The tax platform's zip bundle: one invoice, data from its XML, printed from its PDF or
OFD; hostile zips each refused with their own code, reading bounded in memory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import tracemalloc
from decimal import Decimal

import pytest
from pypdf import PdfReader, PdfWriter

from printstation.harness.bundles import (
    NUMBER,
    REAL,
    einvoice_xml,
    hostile_bundles,
    item,
    real_bundle,
    zip_bomb,
    zip_of,
)
from printstation.harness.kit import Station, drop_by_rename, wait_for
from printstation.invoice import read_file
from printstation.invoice.bundle import read_bundle

HOSTILE = hostile_bundles()
LEGACY_XML = "xml_legacy_eInvoice_zp_2022_guizhou.xml"
LEGACY_PDF = "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf"
LEGACY_OFD = "ofd_legacy_zp_2022_guizhou.ofd"
LEGACY_KEY = "052002100113-00008006"


def needs(module: str) -> None:
    # The PDF and OFD readers are written alongside; their bundle paths are tested once
    # they exist.
    pytest.importorskip(f"printstation.invoice.{module}")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_zip_is_refused_with_its_code(name: str) -> None:
    data, code = HOSTILE[name]
    invoice, asis, problems = read_bundle(data)
    assert (invoice, asis) == (None, None)
    assert [p.code for p in problems] == [code]
    assert problems[0].zh and problems[0].en and problems[0].zh != problems[0].en
    # Through the format dispatch too: the zip as a whole is refused.
    assert [p.code for p in read_file(f"dzfp_{name}", data).problems] == [code]


def test_the_bomb_is_stopped_before_it_expands() -> None:
    data = zip_bomb()
    assert len(data) < 1 << 20  # 200 MB of zeros in well under 1 MB
    tracemalloc.start()
    try:
        _, _, problems = read_bundle(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [p.code for p in problems] == ["file.too_complex"]
    assert peak < 16 << 20, peak  # refused after 8 MB (MAX_XML_BYTES), never 200


def test_a_member_in_a_folder_is_named() -> None:
    _, _, (found,) = read_bundle(HOSTILE["folder.zip"][0])
    assert "dzfp/dzfp.xml" in found.en and "dzfp/dzfp.xml" in found.zh


def test_xml_alone_is_rendered_from_its_data() -> None:
    invoice, asis, problems = read_bundle(real_bundle("sdxml_zp_2026_jiangsu_anyuan.xml"))
    assert (asis, problems) == (None, [])
    assert (invoice.key, invoice.kind, invoice.title) == \
        ("26322000004478296111", "einvoice", "电子发票（增值税专用发票）")
    assert (invoice.total_amount, invoice.total_tax, invoice.total) == \
        (Decimal("18876.44"), Decimal("1793.56"), Decimal("20670.00"))
    assert invoice.total_words == "贰万零陆佰柒拾圆整" and len(invoice.lines) == 3
    assert invoice.seller.tin == "91320106751253359F"
    assert invoice.date == dt.date(2026, 6, 4)


def test_any_name_and_any_case_of_extension() -> None:
    data = zip_of({"DZFP_26322000000012345678_20260604093846.XML":
                   einvoice_xml([item("19.00", "*", "*")])})
    invoice, asis, problems = read_bundle(data)
    assert (invoice.number, invoice.total, asis, problems) == (NUMBER, Decimal("19.00"), None, [])
    (read,) = read_file("anything.zip", data).items
    assert (read.invoice.key, read.asis, read.problems) == (NUMBER, None, ())


def test_problems_of_the_xml_are_the_bundle_s() -> None:
    data = zip_of({"dzfp.xml": einvoice_xml([item("100.00", "abc", "13.00")])})
    invoice, asis, problems = read_bundle(data)
    assert (invoice, asis) == (None, None)
    assert {(p.code, p.field) for p in problems} == {("schema.type", "lines[0].rate")}


def test_xml_and_pdf_of_one_invoice() -> None:
    needs("pdf_read")
    invoice, asis, problems = read_bundle(real_bundle(LEGACY_XML, LEGACY_PDF))
    assert problems == []
    assert (invoice.key, invoice.kind, invoice.total) == \
        (LEGACY_KEY, "einvoice", Decimal("25254.62"))
    # Printed from the PDF, with the identity the XML gives.
    assert (asis.format, asis.member, asis.pages) == \
        ("pdf", "dzfp_edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf", (0,))
    assert (asis.key, asis.date, asis.source) == (LEGACY_KEY, dt.date(2022, 5, 5), "xml")
    assert (asis.total_amount, asis.total_tax, asis.total) == \
        (Decimal("24519.05"), Decimal("735.57"), Decimal("25254.62"))
    assert "增值税电子专用发票" in asis.title


def test_pdf_alone_prints_as_it_looks() -> None:
    needs("pdf_read")
    invoice, asis, problems = read_bundle(real_bundle("sdp_zp_2025_jiangsu_3items.pdf"))
    assert (invoice, problems) == (None, [])
    assert (asis.key, asis.total, asis.member) == \
        ("25322000000337005189", Decimal("8819.60"), "dzfp_sdp_zp_2025_jiangsu_3items.pdf")


def test_xml_and_pdf_of_different_invoices_are_a_mismatch() -> None:
    needs("pdf_read")
    data = real_bundle("sdxml_pp_2025_jiangsu_training.xml", LEGACY_PDF)
    invoice, asis, (found, *more) = read_bundle(data)
    assert (invoice, asis, found.code, more) == (None, None, "bundle.mismatch", [])
    for text in (found.en, found.zh):
        assert "25322000000365404822" in text and LEGACY_KEY in text


def test_a_pdf_of_two_invoices_is_not_one_bundle() -> None:
    needs("pdf_read")
    writer = PdfWriter()
    for name in ("sdp_zp_2025_jiangsu_3items.pdf", LEGACY_PDF):
        writer.append(PdfReader(REAL / name))
    merged = io.BytesIO()
    writer.write(merged)
    _, _, problems = read_bundle(zip_of({"dzfp.pdf": merged.getvalue()}))
    assert [p.code for p in problems] == ["zip.contents"]
    assert "2 invoices" in problems[0].en and "2 张发票" in problems[0].zh


def test_a_broken_pdf_is_the_pdf_reader_s_problem() -> None:
    needs("pdf_read")
    data = zip_of({"dzfp.xml": (REAL / LEGACY_XML).read_bytes(),
                   "dzfp.pdf": b"%PDF-1.4\nnot really\n%%EOF"})
    assert [p.code for p in read_bundle(data)[2]] == ["parse.pdf"]


def test_xml_and_ofd_of_one_invoice() -> None:
    needs("ofd_read")
    invoice, asis, problems = read_bundle(real_bundle(LEGACY_XML, LEGACY_OFD))
    assert problems == []
    assert (invoice.key, asis.key, asis.format, asis.source) == \
        (LEGACY_KEY, LEGACY_KEY, "ofd", "xml")
    assert (asis.member, asis.pages, asis.date) == \
        ("dzfp_ofd_legacy_zp_2022_guizhou.ofd", (0,), dt.date(2022, 5, 5))
    assert (asis.total_amount, asis.total_tax, asis.total) == \
        (Decimal("24519.05"), Decimal("735.57"), Decimal("25254.62"))
    assert invoice.lines[0].rate == Decimal("0.03") and invoice.title == "增值税电子专用发票"


def test_ofd_alone_and_the_pdf_preferred_to_it() -> None:
    needs("ofd_read")
    needs("pdf_read")
    _, alone, problems = read_bundle(real_bundle(LEGACY_OFD))
    assert (alone.key, alone.format, problems) == (LEGACY_KEY, "ofd", [])
    invoice, digital, problems = read_bundle(real_bundle("ofd_sdp_2024_jiangsu.ofd"))
    assert (invoice, problems) == (None, [])
    assert (digital.key, digital.code, digital.total_amount, digital.total_tax) == \
        ("24322000000489101796", "", Decimal("17699.12"), Decimal("2300.88"))
    invoice, asis, problems = read_bundle(real_bundle(LEGACY_XML, LEGACY_PDF, LEGACY_OFD))
    assert (invoice.key, asis.key, asis.format, problems) == (LEGACY_KEY, LEGACY_KEY, "pdf", [])


def test_xml_and_ofd_of_different_invoices_are_a_mismatch() -> None:
    needs("ofd_read")
    data = real_bundle("sdxml_pp_2025_jiangsu_training.xml", LEGACY_OFD)
    _, _, (found,) = read_bundle(data)
    assert found.code == "bundle.mismatch"
    assert "25322000000365404822" in found.en and LEGACY_KEY in found.en


def test_a_pdf_and_an_ofd_of_different_invoices_are_a_mismatch() -> None:
    needs("ofd_read")
    needs("pdf_read")
    data = real_bundle("sdp_zp_2025_jiangsu_3items.pdf", LEGACY_OFD)
    _, _, (found,) = read_bundle(data)
    assert found.code == "bundle.mismatch"
    assert "25322000000337005189" in found.en and LEGACY_KEY in found.en


@pytest.mark.e2e
def test_the_daemon_rejects_hostile_zips_and_prints_a_bundle(station: Station) -> None:
    staging = station.folder / "zips"
    staging.mkdir()
    for name, (data, _) in HOSTILE.items():
        (staging / name).write_bytes(data)
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    good = zip_of({"dzfp.xml": einvoice_xml([item("100.00")], issue_time=yesterday)})
    station.start()
    for name in HOSTILE:
        os.rename(staging / name, station.inbox / name)
    drop_by_rename(station, "dzfp_good.zip", good)
    wait_for(lambda: all(station.result(n) for n in [*HOSTILE, "dzfp_good.zip"]), timeout=60,
             what="every zip's result")
    assert station.proc.poll() is None, "the daemon died"
    printed = station.result("dzfp_good.zip")
    assert (printed["state"], printed["invoice"]) == ("printed", NUMBER), printed
    wrong = {}
    for name, (data, code) in HOSTILE.items():
        result = station.result(name)
        if result["state"] != "rejected" or result["errors"][0]["code"] != code:
            wrong[name] = (code, result["state"], [e["code"] for e in result["errors"]][:2])
        elif (station.rejected / name).read_bytes() != data:
            wrong[name] = "not byte-identical in rejected/"
    assert wrong == {}
    assert "Traceback" not in station.log_text()


# --- the documents of one invoice must agree on its totals and date --------------------------

XML_DAY, OTHER_DAY = dt.date(2026, 6, 4), dt.date(2025, 7, 22)


def pdf_of(day: dt.date = XML_DAY, amount: str = "100.00", tax: str = "13.00",
           total: str = "113.00") -> bytes:
    """A 数电 PDF numbered as the XML (`NUMBER`) showing `day` and these totals."""
    from printstation.harness import einvoice_pdfs as made

    return made.digital(truth=dataclasses.replace(
        made.DIGITAL, number=NUMBER, date=day, total_amount=Decimal(amount),
        total_tax=Decimal(tax), total=Decimal(total))).data


def test_a_pdf_that_agrees_with_the_xml_prints_with_its_data() -> None:
    needs("pdf_read")
    _, asis, problems = read_bundle(zip_of({"dzfp.xml": einvoice_xml(), "dzfp.pdf": pdf_of()}))
    assert problems == [] and (asis.key, asis.total, asis.date, asis.source) == \
        (NUMBER, Decimal("113.00"), XML_DAY, "xml")


@pytest.mark.parametrize(("shown", "differs"), [
    (dict(day=OTHER_DAY, amount="8562.72", tax="256.88", total="8819.60"), ("totals", "date")),
    (dict(day=OTHER_DAY), ("date",)),
    (dict(amount="200.00", tax="26.00", total="226.00"), ("totals",)),
])
def test_a_pdf_showing_other_totals_or_another_date_is_a_mismatch(
        shown: dict, differs: tuple[str, ...]) -> None:
    # The same number on both (the red team's dzfp_x1.zip): the journal would record the
    # XML's 113.00 while the paper shows another invoice's amounts.
    needs("pdf_read")
    _, _, problems = read_bundle(zip_of({"dzfp.xml": einvoice_xml(), "dzfp.pdf": pdf_of(**shown)}))
    assert [p.code for p in problems] == ["bundle.mismatch"]
    en, zh = problems[0].en, problems[0].zh
    assert NUMBER in en and NUMBER in zh
    said = {"totals": ("100.00 + 13.00 = 113.00", "金额合计"), "date": ("2026-06-04", "开票日期")}
    seen = {"totals": f"{shown.get('amount')} + {shown.get('tax')} = {shown.get('total')}",
            "date": str(shown.get("day"))}
    for what in ("totals", "date"):
        named = what in differs
        assert (said[what][0] in en, said[what][0] in zh, said[what][1] in zh) == (named,) * 3
        assert (seen[what] in en and seen[what] in zh) == named


def test_page_totals_that_do_not_add_up_are_no_mismatch() -> None:
    # A misread total (118.00 for 113.00) breaks amount + tax = total: the page's totals
    # are not taken as what it shows, and the exact XML stands.
    needs("pdf_read")
    _, asis, problems = read_bundle(zip_of({"dzfp.xml": einvoice_xml(),
                                            "dzfp.pdf": pdf_of(total="118.00")}))
    assert problems == [] and (asis.total_tax, asis.total) == (Decimal("13.00"),
                                                               Decimal("113.00"))


def test_an_ofd_with_other_totals_than_the_xml_is_a_mismatch() -> None:
    needs("ofd_read")
    from printstation.harness.ofd_maker import make_ofd

    agreeing, _ = make_ofd(number=NUMBER, date=XML_DAY, amount="100.00", tax="13.00")
    _, asis, problems = read_bundle(zip_of({"dzfp.xml": einvoice_xml(), "dzfp.ofd": agreeing}))
    assert problems == [] and (asis.format, asis.total) == ("ofd", Decimal("113.00"))
    other, _ = make_ofd(number=NUMBER, date=XML_DAY)  # 17699.12 + 2300.88 = 20000.00
    _, _, problems = read_bundle(zip_of({"dzfp.xml": einvoice_xml(), "dzfp.ofd": other}))
    assert [p.code for p in problems] == ["bundle.mismatch"]
    assert "17699.12 + 2300.88 = 20000.00" in problems[0].en
    assert "开票日期" not in problems[0].zh


def test_a_merged_ofd_is_not_one_bundle() -> None:
    needs("ofd_read")
    from printstation.harness.ofd_maker import make_ofd

    merged, _ = make_ofd(pages=2, page_numbers=("24322000000489101796", "24322000000489102222"))
    _, _, problems = read_bundle(zip_of({"dzfp.ofd": merged}))
    assert [p.code for p in problems] == ["zip.contents"]
    assert "2 invoices" in problems[0].en and "2 张发票" in problems[0].zh
