"""Placing e-invoice pages on plain paper (`drivers.place`): every page shape met in the
wild, and the real PDFs, print at 100 % with their ink centred, turned only when that is
the way it fits; the ink is measured on the result independently (Pillow at 300 dpi)."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from pypdf import PdfReader

from printstation.base.units import PT_MM
from printstation.drivers.place import DoesNotFit, fits, place_pages
from printstation.harness import einvoice_pdfs as made
from printstation.harness.kit import ROOT
from printstation.invoice.pdf_read import read_pdf

REAL = ROOT / "tests" / "fixtures" / "real"
A4 = (210.0, 297.0)
A5_LANDSCAPE = (210.0, 148.0)
A5 = (148.0, 210.0)
TRAITS = made.every_trait()


def size(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return box[2] - box[0], box[3] - box[1]


def assert_placed(source: bytes, page: int, ink: tuple[float, float, float, float],
                  out: bytes, index: int, paper: tuple[float, float], way: str,
                  cropped: str = "") -> None:
    """Page `index` of `out` is the paper's size, unrotated, and shows page `page` of
    `source` at 100 % with its ink (`ink`, as the reader measured it) centred."""
    placed = PdfReader(io.BytesIO(out)).pages[index]
    assert placed.get("/Rotate", 0) == 0 and "/Annots" not in placed
    assert (round(float(placed.mediabox.width) * PT_MM, 2),
            round(float(placed.mediabox.height) * PT_MM, 2)) == paper
    assert tuple(placed.mediabox.lower_left) == (0, 0)
    original = made.measure_ink(source, page)
    printed = made.measure_ink(out, index)
    width, height = size(original)
    if way == "turned":
        width, height = height, width
    # 100 %: the same ink, either way round, to half a millimetre.
    assert abs(size(printed)[0] - width) <= 0.5 and abs(size(printed)[1] - height) <= 0.5, \
        (original, printed)
    # Inside the paper and centred on it.
    left, top, right, bottom = printed
    assert left >= 0 and top >= 0 and right <= paper[0] and bottom <= paper[1]
    assert abs(left - (paper[0] - right)) <= 0.5 and abs(top - (paper[1] - bottom)) <= 0.5, \
        printed
    # The reader's ink box is the one that was centred.
    assert abs(size(ink)[0] - size(original)[0]) <= 0.5
    # The same text: nothing lost, nothing added (text cut away by a CropBox does not
    # print, but extraction ignores clipping: it is left out on both sides).
    before = Counter(c for c in made.page_text(source, page) if not c.isspace()
                     and c not in cropped)
    after = Counter(c for c in made.page_text(out, index) if not c.isspace()
                    and c not in cropped)
    assert before == after


@pytest.mark.parametrize("trait", sorted(TRAITS))
def test_every_page_shape_prints_at_full_size_centred_on_a4(trait: str) -> None:
    sample = TRAITS[trait]
    pages = list(range(len(sample.page_mm)))
    out = place_pages(sample.data, pages, sample.ink_mm, A4)
    assert len(PdfReader(io.BytesIO(out)).pages) == len(pages)
    for index, page in enumerate(pages):
        assert_placed(sample.data, page, sample.ink_mm[page], out, index, A4, "upright",
                      sample.cropped)


@pytest.mark.parametrize("trait", ["didi", "rotated", "shenzhen", "rerender", "offset"])
def test_invoice_sized_ink_fits_a5_landscape_and_turns_on_a5_portrait(trait: str) -> None:
    sample = TRAITS[trait]
    for paper, way in ((A5_LANDSCAPE, "upright"), (A5, "turned")):
        out = place_pages(sample.data, [0], sample.ink_mm[:1], paper)
        assert_placed(sample.data, 0, sample.ink_mm[0], out, 0, paper, way, sample.cropped)


@pytest.mark.parametrize("paper", [A4, A5_LANDSCAPE, A5])
def test_the_real_digital_invoice_prints_with_its_seal_stamps(paper: tuple[float, float]) -> None:
    # The Suwell file's stamps are annotations (one at the page's right edge): they are
    # drawn into the page, so the printed ink is as wide as the page shows.
    data = (REAL / "sdp_zp_2025_jiangsu_3items.pdf").read_bytes()
    [found], _ = read_pdf(data)
    out = place_pages(data, found.pages, found.ink_mm, paper)
    way = "turned" if paper == A5 else "upright"
    assert_placed(data, 0, found.ink_mm[0], out, 0, paper, way)


def test_fonts_and_images_are_kept_as_they_are() -> None:
    data = (REAL / "sdp_zp_2025_jiangsu_3items.pdf").read_bytes()
    [found], _ = read_pdf(data)
    before = PdfReader(io.BytesIO(data)).pages[0]["/Resources"]
    after = PdfReader(io.BytesIO(place_pages(data, found.pages, found.ink_mm, A4))).pages[0][
        "/Resources"]

    def fonts(resources: dict) -> set[str]:
        return {str(f.get_object()["/BaseFont"]) for f in resources["/Font"].values()}

    assert fonts(after) == fonts(before)
    # The embedded font programs and the image travel byte for byte.
    assert after["/XObject"]["/Im1"].get_object().get_data() == \
        before["/XObject"]["/Im1"].get_object().get_data()
    assert {f.get_object()["/BaseFont"]: f.get_object()["/DescendantFonts"][0].get_object()[
        "/FontDescriptor"]["/FontFile2"].get_object().get_data() for f in
        after["/Font"].values()} == {f.get_object()["/BaseFont"]: f.get_object()[
            "/DescendantFonts"][0].get_object()["/FontDescriptor"]["/FontFile2"].get_object()
            .get_data() for f in before["/Font"].values()}


def test_the_oversized_converted_file_prints_whole_on_paper_large_enough() -> None:
    # 583.3 × 388.9 mm with 553.7 × 337.4 mm of ink: on A2 landscape it fits, at 100 %.
    data = (REAL / "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf").read_bytes()
    [found], _ = read_pdf(data)
    out = place_pages(data, found.pages, found.ink_mm, (594.0, 420.0))
    original, printed = made.measure_ink(data, dpi=200), made.measure_ink(out, dpi=200)
    assert all(abs(a - b) <= 0.5 for a, b in zip(size(original), size(printed), strict=True))
    assert abs(printed[0] - (594 - printed[2])) <= 0.5
    assert abs(printed[1] - (420 - printed[3])) <= 0.5


def test_ink_that_fits_neither_way_is_refused() -> None:
    data = (REAL / "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf").read_bytes()
    [found], _ = read_pdf(data)
    with pytest.raises(DoesNotFit, match="either way round"):
        place_pages(data, found.pages, found.ink_mm, A4)


def test_a_blank_page_is_centred_by_its_page() -> None:
    data = made.receipt().data
    out = place_pages(data, [0], [(0.0, 0.0, 0.0, 0.0)], A4)
    printed = made.measure_ink(out)
    # The receipt page is 180 × 90 mm; its frame starts 5 mm in: centred as a page.
    assert abs(printed[0] - ((210 - 180) / 2 + 5)) <= 0.5
    assert abs(printed[1] - ((297 - 90) / 2 + 5)) <= 0.5


@pytest.mark.parametrize(("ink", "paper", "way"), [
    ((204.96, 126.82), A5_LANDSCAPE, "upright"),
    ((204.96, 126.82), A5, "turned"),
    ((211.0, 148.9), A5_LANDSCAPE, "upright"),   # within the millimetre of slack
    ((211.1, 100.0), A5_LANDSCAPE, None),        # past it, and too long to turn
    ((205.0, 167.0), A5_LANDSCAPE, None),        # 旅客运输 on A5: neither way
    ((205.0, 167.0), A4, "upright"),
    ((553.7, 337.4), A4, None),
])
def test_fits(ink: tuple[float, float], paper: tuple[float, float], way: str | None) -> None:
    assert fits(*ink, paper) == way
