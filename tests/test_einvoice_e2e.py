"""Real-world e-invoices through the real daemon (issue 13): the same invoice as PDF, OFD,
XML and zip bundle prints once; merged PDFs print one job per invoice; pages print at
100 % inside the A4 paper; what is not an invoice, or is hostile, is refused with its code.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from printstation.drivers.ofd_paint import ofd_to_pdf
from printstation.harness import einvoice_pdfs
from printstation.harness.kit import (
    ROOT,
    Station,
    consistent,
    drop_by_rename,
    invoice,
    line,
    running,
    station_at,
    wait_for,
)
from printstation.invoice.ink import ink_boxes

pytestmark = pytest.mark.e2e

REAL = ROOT / "tests" / "fixtures" / "real"
LEGACY_KEY = "052002100113-00008006"
FINAL = ("printed", "rejected", "failed", "cancelled")


def bundle(**members: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def legacy_forms() -> dict[str, bytes]:
    """One invoice (052002100113-00008006) as each format delivers it."""
    xml = (REAL / "xml_legacy_eInvoice_zp_2022_guizhou.xml").read_bytes()
    ofd = (REAL / "ofd_legacy_zp_2022_guizhou.ofd").read_bytes()
    return {"legacy.xml": xml, "legacy.ofd": ofd, "legacy.pdf": ofd_to_pdf(ofd),
            "dzfp_00008006_20220505.zip": bundle(**{"invoice.xml": xml, "invoice.ofd": ofd})}


def settle(station: Station, count: int) -> list:
    return wait_for(lambda: (jobs := station.jobs()) and len(jobs) == count and all(
        j["state"] in FINAL for j in jobs) and jobs, timeout=60, what=f"{count} final jobs")


@pytest.mark.parametrize("order", [
    ["legacy.xml", "legacy.ofd", "legacy.pdf", "dzfp_00008006_20220505.zip"],
    ["dzfp_00008006_20220505.zip", "legacy.pdf", "legacy.ofd", "legacy.xml"],
])
def test_one_invoice_in_four_formats_prints_once(tmp_path: Path, order: list[str]) -> None:
    forms = legacy_forms()
    station = station_at(tmp_path)
    with running(station):
        for name in order:
            drop_by_rename(station, name, forms[name])
            # One at a time: "first" is the order of arrival, not of a rescan's listing.
            wait_for(lambda name=name: station.result(name), timeout=60, what=name)
        jobs = settle(station, len(order))
    printed = [j for j in jobs if j["state"] == "printed"]
    assert [j["source_name"] for j in printed] == [order[0]]
    assert printed[0]["invoice_key"] == LEGACY_KEY
    for name in order[1:]:
        result = station.result(name)
        assert result["state"] == "rejected"
        (error,) = result["errors"]
        assert error["code"] == "invoice.duplicate" and printed[0]["id"] in error["en"], error
        assert (station.rejected / name).read_bytes() == forms[name]
    assert len(list(station.printed.glob("*.pdf"))) == 1


def test_ofd_prints_on_a4_inside_the_paper_at_full_size(tmp_path: Path) -> None:
    data = (REAL / "ofd_sdp_2024_jiangsu.ofd").read_bytes()
    station = station_at(tmp_path)
    # `validate --json` shows what the journal will keep of it.
    done = station.cli("validate", "--json", str(REAL / "ofd_sdp_2024_jiangsu.ofd"))
    (report,) = json.loads(done.stdout)
    (row,) = report["invoices"]
    assert (row["number"], row["date"], row["total_amount"], row["total_tax"], row["total"]) \
        == ("24322000000489101796", "2024-12-05", "17699.12", "2300.88", "20000.00"), done
    assert row["errors"] == [] and report["valid"]
    with running(station):
        drop_by_rename(station, "sdp.ofd", data)
        (job,) = settle(station, 1)
    assert job["state"] == "printed" and job["invoice_key"] == "24322000000489101796"
    (out,) = station.printed.glob("*.pdf")
    page = PdfReader(out).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    printed = ink_boxes(out.read_bytes(), [0])[0]
    drawn = ink_boxes(ofd_to_pdf(data), [0])[0]
    size = (printed[2] - printed[0], printed[3] - printed[1])
    assert abs(size[0] - (drawn[2] - drawn[0])) <= 0.5
    assert abs(size[1] - (drawn[3] - drawn[1])) <= 0.5
    assert printed[0] >= 0 and printed[1] >= 0 and printed[2] <= 210 and printed[3] <= 297


def test_merged_pdf_prints_one_job_per_invoice_each_its_own_page(tmp_path: Path) -> None:
    made = einvoice_pdfs.merged_three()
    station = station_at(tmp_path)
    with running(station):
        drop_by_rename(station, "merged.pdf", made.data)
        jobs = settle(station, 3)
    assert [j["state"] for j in jobs] == ["printed"] * 3
    assert sorted(j["invoice_key"] for j in jobs) == sorted(t.key for t in made.invoices)
    result = station.result("merged.pdf")
    assert result["state"] == "printed" and len(result["jobs"]) == 3
    outputs = sorted(station.printed.glob("*.pdf"))
    assert len(outputs) == 3
    # Each job printed one page: its own invoice's number, and no other's.
    for out in outputs:
        (page,) = PdfReader(out).pages
        text = page.extract_text()
        assert sum(t.number in text for t in made.invoices) == 1, out.name


def test_many_line_einvoice_prints_on_continued_pages(tmp_path: Path) -> None:
    lines = [line("10.00", "0.13") for _ in range(30)]
    doc = consistent(invoice(kind="einvoice", number="26112000000012345678", lines=lines))
    del doc["code"]
    station = station_at(tmp_path)
    with running(station):
        drop_by_rename(station, "thirty.json", json.dumps(doc, ensure_ascii=False).encode())
        (job,) = settle(station, 1)
    assert job["state"] == "printed", job["errors"]
    (out,) = station.printed.glob("*.pdf")
    pages = PdfReader(out).pages
    assert len(pages) >= 4
    assert all(round(float(p.mediabox.height)) == 842 for p in pages)
    assert f"共{len(pages)}页" in pages[-1].extract_text().replace(" ", "")


def test_a_pdf_invoice_reprints_the_page_it_printed(tmp_path: Path) -> None:
    data = (REAL / "sdp_zp_2025_jiangsu_3items.pdf").read_bytes()
    station = station_at(tmp_path)
    with running(station):
        drop_by_rename(station, "sdp.pdf", data)
        settle(station, 1)
        done = station.cli("reprint", "25322000000337005189", "--reason", "卡纸 jammed")
        assert done.returncode == 0, done.stderr
        jobs = settle(station, 2)
    assert [j["state"] for j in jobs] == ["printed", "printed"], [j["errors"] for j in jobs]
    first, again = sorted(station.printed.glob("*.pdf"), key=lambda p: p.stat().st_mtime)
    # The same page, placed the same way: not the file's bytes, which are archived.
    assert PdfReader(again).pages[0].extract_text() == PdfReader(first).pages[0].extract_text()
    assert ink_boxes(again.read_bytes(), [0]) == ink_boxes(first.read_bytes(), [0])
