"""OFD invoices (issue 13, SPEC §6.4): read right in the jail's reader, drawn as they look.

Real files (tests/fixtures/real/SOURCES.md) are read field by field against their truth,
also with the document's own data taken out, so each source of identity (CustomData, the
attached XML, the page's text) is held to the same answer. Synthetic files
(`harness/ofd_maker.py`) carry each trait of the platform's files; hostile ones are each
refused with their own code within bounded memory. Painting is checked on the PDF it
makes: every character where the OFD puts it (within 0.5 mm, read back from the PDF's
content stream), pictures present, every font embedded, ink where the reader said.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import tracemalloc
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics

from printstation.drivers.ofd_paint import OfdPaintError, ofd_to_pdf
from printstation.harness.kit import ROOT
from printstation.harness.ofd_maker import (
    HOSTILE_NAMES,
    Truth,
    hostile_ofd,
    make_ofd,
    ofd_members,
    zip_members,
)
from printstation.invoice.ink import ink_boxes
from printstation.invoice.ofd_media import jbig2_page, seal_picture, sniff
from printstation.invoice.ofd_page import TextItem, deltas, path_ops
from printstation.invoice.ofd_read import read_ofd
from printstation.invoice.ofd_xml import OfdRefused, Package
from printstation.invoice.xml_format import read_xml

REAL = ROOT / "tests" / "fixtures" / "real"
SDP = "ofd_sdp_2024_jiangsu.ofd"
LEGACY = "ofd_legacy_zp_2022_guizhou.ofd"
MM = 72 / 25.4
TOLERANCE_MM = 0.5


def real(name: str) -> bytes:
    return (REAL / name).read_bytes()


def only(data: bytes, member: str = ""):
    found, problems = read_ofd(data, member)
    assert problems == [] and len(found) == 1, problems
    return found[0]


def edited(data: bytes, **changes: bytes | None) -> bytes:
    """The zip with members replaced (bytes) or removed (None); `__` stands for `/`."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {name: z.read(name) for name in z.namelist()}
    for name, value in changes.items():
        name = name.replace("__", "/")
        if value is None:
            members.pop(name)
        else:
            members[name] = value
    return zip_members(members)


# --- reading the real files ---------------------------------------------------------------

SDP_TRUTH = dict(number="24322000000489101796", code="", date=dt.date(2024, 12, 5),
                 total_amount=Decimal("17699.12"), total_tax=Decimal("2300.88"),
                 total=Decimal("20000.00"), title="电子发票（增值税专用发票）")
LEGACY_TRUTH = dict(number="00008006", code="052002100113", date=dt.date(2022, 5, 5),
                    total_amount=Decimal("24519.05"), total_tax=Decimal("735.57"),
                    total=Decimal("25254.62"), title="贵州增值税电子专用发票")


def fields(asis) -> dict:
    return {name: getattr(asis, name) for name in SDP_TRUTH}


@pytest.mark.parametrize(("name", "truth"), [(SDP, SDP_TRUTH), (LEGACY, LEGACY_TRUTH)])
def test_real_ofd_reads_right(name: str, truth: dict) -> None:
    asis = only(real(name), member="dzfp.ofd")
    assert fields(asis) == truth
    assert (asis.format, asis.pages, asis.page_mm, asis.source, asis.member) == \
        ("ofd", (0,), ((210.0, 140.0),), "customdata", "dzfp.ofd")
    assert asis.key == (f"{truth['code']}-{truth['number']}" if truth["code"] else
                        truth["number"])


def test_legacy_reads_the_same_from_each_source() -> None:
    # Without CustomData the attached original_invoice.xml says it; without that too, the
    # page's text (labels next to values, ¥ amounts that add up, 年月日 date).
    data = real(LEGACY)
    ofd_xml = zipfile.ZipFile(io.BytesIO(data)).read("OFD.xml")
    bare = re.sub(rb"<ofd:CustomDatas>.*</ofd:CustomDatas>", b"", ofd_xml)
    attached = only(edited(data, **{"OFD.xml": bare}))
    assert (fields(attached), attached.source) == (LEGACY_TRUTH, "attachment")
    text_only = only(edited(data, **{"OFD.xml": bare,
                                     "Doc_0__Attachs__original_invoice.xml": None,
                                     "Doc_0__Attachs__Attachments.xml": None},
                            **{"Doc_0__Document.xml": zipfile.ZipFile(io.BytesIO(data)).read(
                                "Doc_0/Document.xml").replace(
                                b"<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>",
                                b"")}))
    assert (fields(text_only), text_only.source) == (LEGACY_TRUTH, "text")


def test_sdp_reads_the_same_from_its_page_text() -> None:
    data = real(SDP)
    ofd_xml = zipfile.ZipFile(io.BytesIO(data)).read("OFD.xml")
    asis = only(edited(data, **{"OFD.xml": re.sub(rb"<ofd:CustomDatas>.*</ofd:CustomDatas>",
                                                  b"", ofd_xml, flags=re.S)}))
    assert (fields(asis), asis.source) == (SDP_TRUTH, "text")


def test_legacy_ofd_and_its_xml_twin_are_one_invoice() -> None:
    invoice, problems = read_xml(real("xml_legacy_eInvoice_zp_2022_guizhou.xml"))
    asis = only(real(LEGACY))
    assert problems == [] and invoice is not None
    assert (invoice.key, invoice.total_amount, invoice.total_tax, invoice.total, invoice.date) \
        == (asis.key, asis.total_amount, asis.total_tax, asis.total, asis.date)


def test_off_page_objects_are_not_ink_or_text() -> None:
    # The 数电 file draws a second 开票人 at y = 285.9 mm on its 140 mm page.
    asis = only(real(SDP))
    assert asis.ink_mm[0][3] < 134
    assert all(0 <= v <= 210 for v in asis.ink_mm[0])


# --- synthetic traits ---------------------------------------------------------------------

LEGACY_XML = real("xml_legacy_eInvoice_zp_2022_guizhou.xml")
LEGACY_IDS = dict(number="00008006", code="052002100113", date=dt.date(2022, 5, 5),
                  amount="24519.05", tax="735.57")
TRAITS = {
    "customdata": dict(),
    "attachment-only": dict(custom=False, attachment=LEGACY_XML, **LEGACY_IDS),
    "text-only": dict(custom=False),
    "labels-apart-legacy": dict(custom=False, labels_apart=True, **LEGACY_IDS),
    "labels-apart-digital": dict(custom=False, labels_apart=True),
    "no-namespace": dict(namespace="none"),
    "default-namespace": dict(namespace="default"),
    "three-pages": dict(pages=3),
    "a4-page": dict(page_mm=(210.0, 297.0)),
    "cff-font": dict(font="cff"),
    "named-font": dict(font="named"),
    "broken-font": dict(font="broken"),
    "damaged-font": dict(font="damaged"),
    "signed": dict(signed=True),
    "jpeg-picture": dict(qr_format="JPEG"),
    "bmp-picture": dict(qr_format="BMP"),
    "gif-picture": dict(qr_format="GIF"),
    "tiff-picture": dict(qr_format="TIFF"),
    "ordinary-title": dict(title="电子发票（普通发票）", amount="235.85", tax="14.15"),
}


@pytest.fixture(scope="module", params=sorted(TRAITS))
def synthetic(request: pytest.FixtureRequest) -> tuple[str, bytes, Truth]:
    data, truth = make_ofd(**TRAITS[request.param])
    return request.param, data, truth


def test_synthetic_trait_reads_right(synthetic: tuple[str, bytes, Truth]) -> None:
    _, data, truth = synthetic
    asis = only(data)
    assert (asis.number, asis.code, asis.date, asis.total_amount, asis.total_tax, asis.total,
            asis.title, asis.source) == (truth.number, truth.code, truth.date,
                                         truth.total_amount, truth.total_tax, truth.total,
                                         truth.title, truth.source)
    assert asis.pages == tuple(range(len(truth.page_mm)))
    assert asis.page_mm == truth.page_mm


def test_malformed_customdata_falls_back_to_the_page() -> None:
    members, truth = ofd_members()
    members["OFD.xml"] = members["OFD.xml"].replace(truth.number.encode(), b"INV-2024-001")
    asis = only(zip_members(members))
    assert (asis.number, asis.source) == (truth.number, "text")
    # The date and totals the page shows come with it.
    assert (asis.date, asis.total) == (truth.date, truth.total)


def test_document_data_and_attached_xml_naming_two_invoices_are_refused() -> None:
    data, _ = make_ofd(attachment=LEGACY_XML)
    found, problems = read_ofd(data)
    assert found == [] and [p.code for p in problems] == ["bundle.mismatch"]
    assert "00008006" in problems[0].en and "24322000000489101796" in problems[0].zh


def test_unlabelled_numbers_on_the_page_do_not_override_the_document() -> None:
    # Labels apart from values: the page's number is only a guess, so the document's own
    # data stands and nothing is taken from a page that may show another invoice.
    data, truth = make_ofd(labels_apart=True, shown_number="24322000000489109999")
    asis = only(data)
    assert (asis.number, asis.source, asis.total) == (truth.number, "customdata", truth.total)


# --- hostile files ------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_ofd_is_refused_with_its_code(name: str) -> None:
    data, code = hostile_ofd(name)
    tracemalloc.start()
    try:
        found, problems = read_ofd(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == [] and [p.code for p in problems] == [code], problems
    assert problems[0].zh and problems[0].en
    # The reader's limits, not the file, bound what it holds (the jail allows 512 MB).
    assert peak < 160 << 20, f"{peak >> 20} MB"
    if code not in ("file.not_invoice", "bundle.mismatch"):
        # The painter, in the daemon, refuses the same file by the same rules.
        with pytest.raises(OfdPaintError):
            ofd_to_pdf(data)


@pytest.mark.parametrize(("location", "code"), [
    ("/etc/passwd", "ofd.external"), ("../../../x.ttf", "ofd.external"),
    ("../missing.ttf", "ofd.external"), ("http://example.com/f.ttf", "ofd.external"),
    ("file:/etc/passwd", "ofd.external"), ("\\\\server\\share\\f.ttf", "ofd.external"),
    ("missing.ttf", "parse.ofd"), ("/Doc_0/missing.ttf", "parse.ofd"),
])
def test_locations_that_leave_the_package(location: str, code: str) -> None:
    members, _ = ofd_members()
    package = Package(zip_members(members))
    with pytest.raises(OfdRefused) as refused:
        package.locate("Doc_0/Res", location, "FontFile")
    assert refused.value.problem.code == code
    assert package.locate("Doc_0/Res", "../Res/./qr.png", "MediaFile") == "Doc_0/Res/qr.png"
    assert package.locate("Doc_0/Pages", "/Doc_0/Res/qr.png", "MediaFile") == "Doc_0/Res/qr.png"
    # Written from the package's root without its leading `/`, as some producers do.
    assert package.locate("Doc_0", "Doc_0/Res/qr.png", "MediaFile") == "Doc_0/Res/qr.png"


def test_picture_headers_are_read_before_decoding() -> None:
    members, _ = ofd_members()
    assert sniff(members["Doc_0/Res/qr.png"], "qr").format == "png"
    width, height, stream = jbig2_page(zipfile.ZipFile(io.BytesIO(real(LEGACY))).read(
        "Doc_0/Res/image_80.jb2"))
    assert (width, height) == (100, 100)
    assert not stream.startswith(b"\x97JB2")  # embedded organisation: no file header
    with pytest.raises(OfdRefused) as refused:
        sniff(b"GIF89a" + (50_000).to_bytes(2, "little") * 2, "gif")
    assert refused.value.problem.code == "file.too_complex"


def test_seal_picture_is_found_in_the_signature_data() -> None:
    der = zipfile.ZipFile(io.BytesIO(real(LEGACY))).read("Doc_0/Signs/Sign_0/SignedValue.dat")
    kind, data = seal_picture(der)
    assert kind == "ofd" and data.startswith(b"PK\x03\x04")
    assert seal_picture(b"\x30\x03\x02\x01\x05") is None


# --- text placement rules -----------------------------------------------------------------

def test_delta_lists_expand_and_repeat_their_last_step() -> None:
    assert deltas("g 3 1.5 2 g 2 0.5", 10) == (1.5, 1.5, 1.5, 2.0, 0.5, 0.5)
    assert deltas("g 900000 1", 4) == (1.0, 1.0, 1.0, 1.0)  # bounded by the text
    style = None
    spaced = TextItem((1, 0, 0, 1, 0, 0), "", 3.175, "单 位", 0.5, 3.0, (3.175,), (), style)
    assert [x for x, _ in spaced.origins(lambda ch: 1.0)] == [0.5, 3.675, 6.85]
    down = TextItem((1, 0, 0, 1, 0, 0), "", 3.175, "购买方", 0.25, 3.15, (), (6.35, 6.35), style)
    assert down.origins(lambda ch: 1.0) == [(0.25, 3.15), (0.25, 9.5), (0.25, 15.85)]


def test_arcs_and_quadratic_curves_become_beziers_ending_where_they_should() -> None:
    ops = path_ops("S 0 0 Q 5 5 10 0 A 5 5 0 0 1 20 0 C")
    assert [op for op, _ in ops][:2] == ["M", "B"]
    assert ops[1][1][-2:] == (10, 0)
    arc_end = [args for op, args in ops if op == "B"][-1][-2:]
    assert arc_end == pytest.approx((20, 0), abs=1e-9)
    assert ops[-1] == ("C", ())


# --- painting -----------------------------------------------------------------------------

def painted_glyphs(pdf: bytes) -> list[tuple[int, str, float, float]]:
    """(page, character, x, y in mm from the top-left) of every string the PDF shows."""
    out = []
    for n, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        height = float(page.mediabox.height)
        maps = {}
        for name, ref in page["/Resources"]["/Font"].items():
            tounicode = ref.get_object()["/ToUnicode"].get_object().get_data().decode("latin-1")
            maps[name] = {int(code, 16): chr(int(uni, 16)) for code, uni in
                          re.findall(r"<([0-9A-Fa-f]{2})>\s*<([0-9A-Fa-f]{4})>", tounicode)}
        font = [""]

        def before(op, args, cm, tm, n=n, height=height, maps=maps, font=font):
            if op == b"Tf":
                font[0] = args[0]
            elif op == b"Tj":
                raw = getattr(args[0], "original_bytes", None) or bytes(args[0])
                text = "".join(maps[font[0]].get(b, "?") for b in raw)
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                out.append((n, text, x / MM, (height - y) / MM))

        page.extract_text(visitor_operand_before=before)
    return out


def misplaced(expected: list[tuple[int, str, float, float]], pdf: bytes) -> list[str]:
    painted = painted_glyphs(pdf)
    wrong = []
    for page, char, x, y in expected:
        near = min((abs(px - x) + abs(py - y) for pn, pc, px, py in painted
                    if pn == page and pc == char), default=None)
        if near is None or near > TOLERANCE_MM:
            wrong.append(f"page {page} {char!r} at ({x:.2f}, {y:.2f}): {near}")
    return wrong


def image_xobjects(pdf: bytes) -> list[str]:
    """The filters of each image stored in the PDF (once, however many pages use it)."""
    found = []
    seen = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for ref in page["/Resources"].get("/XObject", {}).values():
            image = ref.get_object()
            if image["/Subtype"] == "/Image" and ref.idnum not in seen:
                seen.add(ref.idnum)
                filters = image.get("/Filter")
                found.append(" ".join(map(str, filters)) if isinstance(filters, list)
                             else str(filters))
    return found


def image_draws(pdf: bytes) -> int:
    """How many times the PDF paints a picture (`Do` of an image XObject)."""
    count = [0]

    def before(op, args, cm, tm):
        if op == b"Do":
            count[0] += 1

    for page in PdfReader(io.BytesIO(pdf)).pages:
        page.extract_text(visitor_operand_before=before)
    return count[0]


def assert_fonts_embedded(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "painted.pdf"
    path.write_bytes(pdf)
    rows = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                          check=True).stdout.splitlines()[2:]
    assert rows and all(row.split()[-5] == "yes" for row in rows), rows
    return [row.split()[0] for row in rows]


def test_synthetic_paints_every_character_where_the_ofd_puts_it(
        synthetic: tuple[str, bytes, Truth], tmp_path: Path) -> None:
    name, data, truth = synthetic
    pdf = ofd_to_pdf(data)
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert [(round(float(p.mediabox.width) / MM, 2), round(float(p.mediabox.height) / MM, 2))
            for p in pages] == list(truth.page_mm)
    expected = [(g.page, g.char, g.x, g.y) for g in truth.glyphs]
    assert misplaced(expected, pdf) == []
    assert len(painted_glyphs(pdf)) == len(expected)  # each character drawn once
    assert len(image_xobjects(pdf)) == 2  # the QR code and the seal picture, each stored once
    assert image_draws(pdf) == truth.pictures  # drawn on each page, and the signature's seal
    fonts = assert_fonts_embedded(pdf, tmp_path)
    own = any("+OFD" in font for font in fonts)
    assert own == (TRAITS[name].get("font", "embedded") in ("embedded", "cff")), fonts


def xml_glyphs(data: bytes) -> list[tuple[int, str, float, float]]:
    """Each character's page origin computed from the OFD's XML alone (page 0): Boundary
    origin + CTM × (X + ΣDeltaX, Y + ΣDeltaY), annotations inside their Appearance."""
    z = zipfile.ZipFile(io.BytesIO(data))
    contents = [(n, (0.0, 0.0)) for n in z.namelist()
                if n.endswith("Content.xml") and ("Pages/" in n or "Tpls/" in n)]
    for name in z.namelist():
        if "Annots/Page_" in name:
            for look in ET.fromstring(z.read(name)).iter("{http://www.ofdspec.org/2016}"
                                                          "Appearance"):
                box = [float(v) for v in look.get("Boundary").split()]
                contents.append((look, (box[0], box[1])))
    out = []
    for source, (ox, oy) in contents:
        root = ET.fromstring(z.read(source)) if isinstance(source, str) else source
        for obj in root.iter("{http://www.ofdspec.org/2016}TextObject"):
            bx, by = (float(v) for v in obj.get("Boundary").split()[:2])
            a, b, c, d, e, f = (float(v) for v in (obj.get("CTM") or "1 0 0 1 0 0").split())
            for code in obj:
                if not code.tag.endswith("TextCode"):
                    continue
                dx, dy = (deltas(code.get(k), len(code.text)) for k in ("DeltaX", "DeltaY"))
                x, y = float(code.get("X")), float(code.get("Y"))
                for i, ch in enumerate(code.text):
                    if i:
                        x += dx[min(i, len(dx)) - 1] if dx else 0.0
                        y += dy[min(i, len(dy)) - 1] if dy else 0.0
                    if not ch.isspace():
                        out.append((0, ch, ox + bx + a * x + c * y + e,
                                    oy + by + b * x + d * y + f))
    return out


@pytest.mark.parametrize("name", [SDP, LEGACY])
def test_real_ofd_paints_every_character_where_the_ofd_puts_it(name: str,
                                                                tmp_path: Path) -> None:
    data = real(name)
    pdf = ofd_to_pdf(data)
    expected = xml_glyphs(data)
    assert len(expected) > 300
    assert misplaced(expected, pdf) == []
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert (round(float(page.mediabox.width) / MM, 2),
            round(float(page.mediabox.height) / MM, 2)) == (210.0, 140.0)
    assert_fonts_embedded(pdf, tmp_path)
    filters = image_xobjects(pdf)
    if name == LEGACY:
        # The QR code is JBIG2, embedded as it is; the seal is drawn from its own OFD.
        assert filters == ["/JBIG2Decode"]
        seal_glyphs = [g for g in painted_glyphs(pdf) if g[1] in "国家税务总局贵州省"]
        assert any(90 <= x <= 120 and 8 <= y <= 28 for _, _, x, y in seal_glyphs)
    else:
        assert len(filters) == 2  # QR code and seal pictures


@pytest.mark.parametrize("name", [SDP, LEGACY])
def test_reader_ink_matches_the_painted_page(name: str) -> None:
    data = real(name)
    asis = only(data)
    measured = ink_boxes(ofd_to_pdf(data), asis.pages)
    for said, seen in zip(asis.ink_mm, measured, strict=True):
        assert said == pytest.approx(seen, abs=TOLERANCE_MM), (said, seen)


def test_synthetic_ink_matches_the_painted_pages(synthetic: tuple[str, bytes, Truth]) -> None:
    _, data, _ = synthetic
    asis = only(data)
    measured = ink_boxes(ofd_to_pdf(data), asis.pages)
    for said, seen in zip(asis.ink_mm, measured, strict=True):
        assert said == pytest.approx(seen, abs=TOLERANCE_MM), (said, seen)


def test_qr_code_and_seal_show_on_the_painted_page(tmp_path: Path) -> None:
    from printstation.harness.pngio import raster

    pdf = ofd_to_pdf(real(LEGACY))
    width, _, pixels = raster(pdf, tmp_path, dpi=50)
    per_mm = width / 210

    def dark(x0: float, y0: float, x1: float, y1: float) -> float:
        cells = [pixels[int(y * per_mm) * width + int(x * per_mm)]
                 for y in range(int(y0), int(y1)) for x in range(int(x0), int(x1))]
        return sum(1 for v in cells if v < 128) / len(cells)

    assert 0.3 < dark(8.5, 3.5, 28.5, 23.5) < 0.7  # the JBIG2 QR code: modules, not a blank
    assert dark(88, 6, 122, 30) > 0.02  # the seal's red ring and text
    assert dark(60, 62, 78, 85) == 0  # an empty cell of the item table


def test_painting_leaves_no_fonts_registered() -> None:
    data, _ = make_ofd(font="cff")
    ofd_to_pdf(data)  # the station's own font stays registered once it is used
    before = len(pdfmetrics._fonts)
    ofd_to_pdf(data)
    ofd_to_pdf(make_ofd()[0])
    assert len(pdfmetrics._fonts) == before


@pytest.mark.parametrize("font", ["embedded", "cff"])
def test_painting_is_reproducible(font: str) -> None:
    data, _ = make_ofd(font=font, signed=True)
    assert ofd_to_pdf(data) == ofd_to_pdf(data)
    assert ofd_to_pdf(real(LEGACY)) == ofd_to_pdf(real(LEGACY))


# --- invoices merged into one OFD ---------------------------------------------------------

FIRST, SECOND = "24322000000489101796", "24322000000489102222"


@pytest.mark.parametrize("shown", [(FIRST, SECOND), (FIRST, FIRST, SECOND),
                                   (FIRST, SECOND, SECOND), (FIRST, SECOND, FIRST)])
def test_a_merged_ofd_is_one_invoice_per_number_its_pages_show(shown: tuple[str, ...]) -> None:
    data, truth = make_ofd(pages=len(shown), page_numbers=shown)
    found, problems = read_ofd(data, "dzfp.ofd")
    assert problems == []
    assert [(a.number, a.pages) for a in found] == list(truth.invoices)
    assert len(found) == len(truth.invoices) > 1
    # The first keeps the document's own data; the others are read from their pages.
    assert [a.source for a in found] == ["customdata"] + ["text"] * (len(found) - 1)
    painted = ink_boxes(ofd_to_pdf(data), range(len(shown)))
    for asis in found:
        assert (asis.date, asis.total_amount, asis.total_tax, asis.total, asis.title,
                asis.member) == (truth.date, truth.total_amount, truth.total_tax, truth.total,
                                 truth.title, "dzfp.ofd")
        assert asis.page_mm == tuple(truth.page_mm[p] for p in asis.pages)
        for page, box in zip(asis.pages, asis.ink_mm, strict=True):
            assert box == pytest.approx(painted[page], abs=TOLERANCE_MM), (page, box)


def test_a_later_page_splits_only_on_a_number_read_beside_its_label() -> None:
    # Labels drawn apart from values: the second page's number is a guess by the fallback,
    # not what the page says it is; the pages stay one invoice, the document's.
    data, truth = make_ofd(pages=2, page_numbers=(FIRST, SECOND), labels_apart=True)
    asis = only(data)
    assert (asis.number, asis.pages, asis.source) == (truth.number, (0, 1), "customdata")
