"""Placing an e-invoice's pages on plain paper: at 100 %, centred on the ink, upright when
the ink fits that way, turned a quarter when only that way fits.

E-invoice PDFs come in every page size (210 × 140, 215.2 × 139 with uneven margins, a 数电
invoice drawn at the top of an A4 page, 210 × 180), so a page is never printed as its
MediaBox says: its ink box (measured when the file was read, `invoice.ink`) is centred
on the paper, and nothing is ever scaled, so what prints measures what the issuer drew.
Each output page is exactly the paper's size with no /Rotate, so the CUPS options that
keep geometry (no auto-rotate, no scaling) have nothing left to decide.

The source page is drawn through one matrix: its displayed page (CropBox, /Rotate) moved
so the ink's centre lands on the paper's centre, turned when needed. pypdf's
`merge_transformed_page` keeps fonts and images as they are and clips to the source's
CropBox; annotations that print (the Suwell seal stamps on 数电 files) are drawn into the
page through the same matrix, because a printer's filter chain may drop annotations.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from pypdf import PageObject, PdfReader, PdfWriter, Transformation
from pypdf.generic import (
    ArrayObject,
    ContentStream,
    DictionaryObject,
    FloatObject,
    NameObject,
    StreamObject,
)

from printstation.base.units import MM_PT
from printstation.invoice.asis import Box
from printstation.invoice.pdf_read import Matrix, page_view

# Converters round page and ink sizes; a millimetre of slack keeps a 210.4 mm ink on
# 210 mm paper (the 0.2 mm it overhangs on each side is blank margin on any printer).
SLACK_MM = 1.0
# Annotation flags (PDF 32000 12.5.3): hidden, and printed.
_HIDDEN, _PRINT = 2, 4


class DoesNotFit(ValueError):
    """A page's ink fits the paper neither upright nor turned (the reader's check refuses
    such files first: this guards against printing one cropped)."""


def fits(ink_w: float, ink_h: float, paper: tuple[float, float]) -> str | None:
    """How ink of `ink_w` × `ink_h` mm fits the paper (mm): "upright" as it is, "turned"
    only a quarter turned, None neither way."""
    width, height = paper
    if ink_w <= width + SLACK_MM and ink_h <= height + SLACK_MM:
        return "upright"
    if ink_h <= width + SLACK_MM and ink_w <= height + SLACK_MM:
        return "turned"
    return None


def place_pages(pdf: bytes, pages: Sequence[int], ink_mm: Sequence[Box],
                paper_mm: tuple[float, float]) -> bytes:
    """A PDF with one paper-sized page per listed page (0-based) of `pdf`, each drawn at
    100 % with its ink (left, top, right, bottom in mm, as displayed) centred."""
    reader = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter()
    paper_w, paper_h = paper_mm[0] * MM_PT, paper_mm[1] * MM_PT
    # Annotations are taken off the source pages (merging would copy them as annotations)
    # and drawn as content instead; kept per page for a page listed twice.
    annotations: dict[int, object] = {}
    for index, box in zip(pages, ink_mm, strict=True):
        source = reader.pages[index]
        matrix = _matrix(source, box, paper_mm)
        if index not in annotations:
            annotations[index] = source.pop(NameObject("/Annots"), None)
        annots = annotations[index]
        target = writer.add_blank_page(paper_w, paper_h)
        target.merge_transformed_page(source, Transformation(matrix))
        _draw_annotations(writer, target, source, annots, matrix)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _matrix(source: PageObject, box: Box, paper_mm: tuple[float, float]) -> Matrix:
    """Source user space → paper: displayed, then the ink's centre moved to the paper's
    centre, turned a quarter (counter-clockwise) when only that way fits."""
    view = page_view(source)
    left, top, right, bottom = box
    if right <= left or bottom <= top:
        # A blank page has no ink: centre the page itself.
        left, top, (right, bottom) = 0.0, 0.0, view.mm
    way = fits(right - left, bottom - top, paper_mm)
    if way is None:
        raise DoesNotFit(f"ink {right - left:.1f} × {bottom - top:.1f} mm does not fit "
                         f"{paper_mm[0]:g} × {paper_mm[1]:g} mm either way round")
    # The ink's centre on the displayed page, in points from its bottom-left.
    cx = (left + right) / 2 * MM_PT
    cy = view.height - (top + bottom) / 2 * MM_PT
    a, b, c, d, e, f = view.matrix
    if way == "turned":
        # (x, y) → (−y, x): a quarter turn counter-clockwise about the origin.
        a, b, c, d, e, f = -b, a, -d, c, -f, e
        cx, cy = -cy, cx
    move_x, move_y = paper_mm[0] * MM_PT / 2 - cx, paper_mm[1] * MM_PT / 2 - cy
    return (a, b, c, d, e + move_x, f + move_y)


def _draw_annotations(writer: PdfWriter, target: PageObject, source: PageObject,
                      annots: object, matrix: Matrix) -> None:
    """Draw each printing annotation's normal appearance into `target`, clipped to the
    source's CropBox like the page content, so the seal prints with the page."""
    annots = annots.get_object() if annots is not None else None
    if not isinstance(annots, ArrayObject):
        return
    drawn: list[tuple[NameObject, Matrix]] = []
    for ref in annots:
        try:
            annot = ref.get_object()
            flags = int(annot.get("/F", 0) or 0)
            appearance = _appearance(annot)
            placed = _fit_appearance(appearance, annot.get("/Rect")) if appearance else None
        except (AttributeError, KeyError, TypeError, ValueError):
            continue  # a malformed annotation is not drawn; the page still prints
        if placed is None or flags & _HIDDEN or not flags & _PRINT:
            continue
        name = NameObject(f"/PsAnnot{len(drawn)}")
        # A clone into the writer is registered there, with its resources (fonts, images).
        _xobjects(target)[name] = appearance.clone(writer).indirect_reference
        drawn.append((name, placed))
    if not drawn:
        return
    crop = source.cropbox
    clip = _floats((crop.left, crop.bottom, crop.width, crop.height))
    ops: list[tuple[list[object], bytes]] = [
        ([], b"q"), (_floats(matrix), b"cm"), (clip, b"re"), ([], b"W"), ([], b"n")]
    for name, placed in drawn:
        ops += [([], b"q"), (_floats(placed), b"cm"), ([name], b"Do"), ([], b"Q")]
    ops.append(([], b"Q"))
    # A ContentStream is a (possibly empty) dictionary: test it against None, not falsy.
    content = target.get_contents()
    if content is None:
        content = ContentStream(None, writer)
    content.operations = content.operations + ops
    target.replace_contents(content)


def _appearance(annot: DictionaryObject) -> StreamObject | None:
    """The annotation's normal appearance stream (chosen by /AS when there are states)."""
    normal = annot.get("/AP", DictionaryObject()).get_object().get("/N")
    normal = normal.get_object() if normal is not None else None
    if isinstance(normal, DictionaryObject) and not isinstance(normal, StreamObject):
        state = annot.get("/AS")
        normal = normal.get(state).get_object() if state in normal else None
    return normal if isinstance(normal, StreamObject) else None


def _fit_appearance(form: StreamObject, rect: object) -> Matrix | None:
    """The matrix that maps the form's box (after its own /Matrix) onto the annotation's
    /Rect: PDF 32000 12.5.5, which the form's /Matrix completes when it is drawn."""
    try:
        x0, y0, x1, y1 = (float(v) for v in form["/BBox"])
        m = [float(v) for v in form.get("/Matrix", [1, 0, 0, 1, 0, 0])]
        r0, r1, r2, r3 = (float(v) for v in rect)  # type: ignore[union-attr]
    except (KeyError, TypeError, ValueError):
        return None
    corners = [(m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])
               for x in (x0, x1) for y in (y0, y1)]
    left, right = min(p[0] for p in corners), max(p[0] for p in corners)
    low, high = min(p[1] for p in corners), max(p[1] for p in corners)
    if right - left <= 0 or high - low <= 0:
        return None
    sx, sy = (max(r0, r2) - min(r0, r2)) / (right - left), (max(r1, r3) - min(r1, r3)) / (
        high - low)
    return (sx, 0.0, 0.0, sy, min(r0, r2) - sx * left, min(r1, r3) - sy * low)


def _xobjects(page: PageObject) -> DictionaryObject:
    resources = page.setdefault(NameObject("/Resources"), DictionaryObject()).get_object()
    return resources.setdefault(NameObject("/XObject"), DictionaryObject()).get_object()


def _floats(values: Sequence[float]) -> list[FloatObject]:
    return [FloatObject(round(float(v), 6)) for v in values]
