"""E-invoice PDFs and OFDs through a real (private) cupsd: the page that comes out of the
CUPS filter chain is A4, at 100 %, its ink the size of the original's, inside the paper
(issue 13: no auto-rotate, no scaling)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from printstation.drivers.ofd_paint import ofd_to_pdf
from printstation.harness import einvoice_pdfs
from printstation.harness.kit import ROOT, Station, drop_by_rename, running, wait_for, write_config
from printstation.invoice.ink import ink_boxes

pytestmark = pytest.mark.e2e
REAL = ROOT / "tests" / "fixtures" / "real"
PRINTER = """
[printers.plain]
driver = "cups"
queue = "ps-pdf"
stocks = ["einvoice"]
"""


def size(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return box[2] - box[0], box[3] - box[1]


@pytest.mark.parametrize("name", ["sdp.pdf", "didi.pdf", "travel.pdf", "sdp.ofd"])
def test_page_prints_at_full_size_inside_a4_through_cups(tmp_path: Path, cupsd,
                                                         name: str) -> None:
    cupsd.lp("cupsenable", "ps-pdf")
    for old in cupsd.out("ps-pdf").iterdir():
        old.unlink()
    data = {
        "sdp.pdf": lambda: (REAL / "sdp_zp_2025_jiangsu_3items.pdf").read_bytes(),
        "didi.pdf": lambda: einvoice_pdfs.legacy_didi().data,
        "travel.pdf": lambda: einvoice_pdfs.travel().data,
        "sdp.ofd": lambda: (REAL / "ofd_sdp_2024_jiangsu.ofd").read_bytes(),
    }[name]()
    original = ofd_to_pdf(data) if name.endswith(".ofd") else data
    station = Station(tmp_path, write_config(tmp_path, printers=PRINTER,
                                             cups_server=cupsd.server))
    with running(station):
        drop_by_rename(station, name, data)
        wait_for(lambda: (station.result(name) or {}).get("state") == "printed",
                 timeout=60, what="printed through CUPS")
        (out,) = wait_for(lambda: cupsd.outputs("ps-pdf"), what="the output file")
    page = PdfReader(out).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    printed = ink_boxes(out.read_bytes(), [0])[0]
    expected = size(ink_boxes(original, [0])[0])
    found = size(printed)
    # Either way round: a page is turned only when that is the way it fits.
    assert (abs(found[0] - expected[0]) <= 0.5 and abs(found[1] - expected[1]) <= 0.5) or \
        (abs(found[0] - expected[1]) <= 0.5 and abs(found[1] - expected[0]) <= 0.5), \
        (found, expected)
    assert printed[0] >= 0 and printed[1] >= 0 and printed[2] <= 210.5 and printed[3] <= 297.5
