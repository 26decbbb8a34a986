"""E-invoice PDFs, printed as they look: which invoices a PDF holds, on which pages, with
what identity, and where each page's ink lies.

A PDF must open (pypdf, strict), must not be encrypted, and may have at most 10 pages.
Each page's text is read with its positions (`pdf_identity`); a page with an invoice
number of its own starts an invoice, and a page without one, or repeating the number of
the page before (a continued page 共2页 第2页, a 销货清单), belongs to the invoice before
it. So three invoices merged into one PDF are three invoices, each with its own key,
duplicate check and printed pages, and a PDF in which no page names an invoice number
(a receipt) is not an invoice at all.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

from pypdf import PageObject, PdfReader

from printstation.base.units import PT_MM

from .asis import AsIs, Box
from .ink import InkUnavailable, ink_boxes
from .pdf_identity import Facts, Run, normalise, page_facts
from .problems import Problem, problem

MAX_PAGES = 10
Matrix = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class View:
    """How a page is displayed: `matrix` maps its user space to the displayed page (points,
    origin at the bottom-left, /Rotate applied), `width` × `height` points."""

    matrix: Matrix
    width: float
    height: float

    @property
    def mm(self) -> tuple[float, float]:
        return round(self.width * PT_MM, 2), round(self.height * PT_MM, 2)


def page_view(page: PageObject) -> View:
    """The displayed page: the MediaBox, cut to the CropBox when that is smaller (what a
    viewer and pdftoppm show), turned by /Rotate (clockwise, in quarter turns)."""
    media, crop = page.mediabox, page.cropbox
    left, bottom = max(float(media.left), float(crop.left)), max(float(media.bottom),
                                                                    float(crop.bottom))
    right, top = min(float(media.right), float(crop.right)), min(float(media.top),
                                                                float(crop.top))
    if right <= left or top <= bottom:
        left, bottom, right, top = (float(media.left), float(media.bottom),
                                    float(media.right), float(media.top))
    width, height = right - left, top - bottom
    turn = round(float(page.get("/Rotate", 0) or 0) / 90) % 4
    # x' = a·x + c·y + e, y' = b·x + d·y + f, on the box moved to the origin.
    a, b, c, d, e, f = ((1, 0, 0, 1, 0, 0), (0, -1, 1, 0, 0, width),
                        (-1, 0, 0, -1, width, height), (0, 1, -1, 0, height, 0))[turn]
    matrix = (a, b, c, d, e - a * left - c * bottom, f - b * left - d * bottom)
    shown = (width, height) if turn % 2 == 0 else (height, width)
    return View(tuple(float(v) for v in matrix), *shown)  # type: ignore[arg-type]


# 共2页 第1页, 第2页/共2页, 销货清单 / 销售货物或者提供应税劳务清单.
_CONTINUED = re.compile(r"共[0-9]+页|第[0-9]+页|清单")


def read_pdf(data: bytes, member: str = "") -> tuple[list[AsIs], list[Problem]]:
    """One `AsIs` per invoice in the PDF `data` (from zip member `member`, if any), or the
    problem that refuses the whole file."""
    if not data.startswith(b"%PDF-"):
        return [], [problem("parse.pdf", detail="it does not start with %PDF-",
                            detail_zh="文件不以 %PDF- 开头")]
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            return [], [problem("pdf.encrypted")]
        count = len(reader.pages)
        if count == 0:
            raise ValueError("it has no pages")
        if count > MAX_PAGES:
            return [], [problem("pdf.pages", found=count, expected=MAX_PAGES)]
        views = [page_view(page) for page in reader.pages]
    except MemoryError:
        raise  # the reader's memory limit was hit: the jail reports file.too_complex
    except Exception as exc:
        # pypdf raises many types on damaged input; each means the same to a clerk.
        detail = f"{type(exc).__name__}: {exc}"[:200]
        return [], [problem("parse.pdf", detail=detail, detail_zh=f"文件损坏（{detail}）")]
    runs = [_runs(page, view) for page, view in zip(reader.pages, views, strict=True)]
    facts = [page_facts(found) for found in runs]
    groups = _invoices(facts, [_continued(found) for found in runs])
    if not groups:
        return [], [problem("file.not_invoice",
                            detail="no invoice number was found; a receipt or other document?",
                            detail_zh="未找到发票号码；是收据或其他文件？")]
    inks, note = _inks(data, views)
    found = []
    for pages in groups:
        known = _merge([facts[p] for p in pages])
        found.append(AsIs(
            format="pdf", pages=tuple(pages), page_mm=tuple(views[p].mm for p in pages),
            ink_mm=tuple(inks[p] for p in pages), member=member, number=known.number,
            code=known.code, date=known.date, title=known.title,
            total_amount=known.total_amount, total_tax=known.total_tax, total=known.total,
            source=known.source + note))
    return found, []


def _runs(page: PageObject, view: View) -> list[Run]:
    """The page's text runs placed on the displayed page; text drawn outside it (some
    producers park a copy far off the page) is not read."""
    runs: list[Run] = []
    a, b, c, d, e, f = view.matrix

    def visit(text: str, cm: list[float], tm: list[float], _font: object,
              size: float) -> None:
        text = " ".join(normalise(text).split())
        if not text:
            return
        # The text's origin and axes: the text matrix, then the CTM, then the display.
        ux = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        uy = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        x, y = a * ux + c * uy + e, b * ux + d * uy + f
        xa, xb = tm[0] * cm[0] + tm[1] * cm[2], tm[0] * cm[1] + tm[1] * cm[3]
        ya, yb = tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3]
        dx, dy = a * xa + c * xb, b * xa + d * xb
        scale = math.hypot(ya, yb) or math.hypot(xa, xb) or 1.0
        if not (-1 <= x <= view.width + 1 and -1 <= y <= view.height + 1):
            return
        upright = dx > 0 and abs(dy) <= 0.2 * dx
        runs.append(Run(text, x, view.height - y, abs(size * scale), upright, len(runs)))

    try:
        page.extract_text(visitor_text=visit)
    except MemoryError:
        raise
    except Exception:
        pass  # text that cannot be read is no reason to refuse a printable page
    return runs


def _continued(runs: list[Run]) -> bool:
    """Whether a page says it is one of several (共2页 第2页) or a 销货清单: only such a page
    repeating the number before it continues that invoice."""
    return bool(_CONTINUED.search("".join(run.text for run in runs).replace(" ", "")))


def _invoices(facts: list[Facts], continued: list[bool]) -> list[list[int]]:
    """Pages grouped by invoice: a page with a new number starts one, and so does a page
    repeating the number before it without saying it is continued (the same invoice merged
    twice is two invoices, the second a duplicate); any other page belongs to the invoice
    before it (pages before the first number, to the first)."""
    groups: list[list[int]] = []
    lead: list[int] = []
    current = ("", "")
    for index, page in enumerate(facts):
        repeated = page.number == current[0] and not (continued[index] or
                                                      continued[max(index - 1, 0)])
        # A continued page whose code could not be read still repeats the number.
        if page.number and (page.number != current[0] or repeated or
                            (page.code and current[1] and page.code != current[1])):
            current = (page.number, page.code)
            groups.append([*lead, index])
            lead = []
        elif groups:
            groups[-1].append(index)
        else:
            lead.append(index)
    return groups


def _merge(pages: list[Facts]) -> Facts:
    """One invoice's facts from its pages: identity from the first page, totals from the
    first page whose totals add up (a continued invoice states them on its last page)."""
    first = pages[0] if pages[0].number else next(p for p in pages if p.number)
    whole = [p for p in pages if None not in (p.total_amount, p.total_tax, p.total)]
    sums = whole[0] if whole else next((p for p in pages if p.total is not None), first)
    return Facts(first.number, first.code,
                 first.date or next((p.date for p in pages if p.date), None),
                 first.title or next((p.title for p in pages if p.title), ""),
                 sums.total_amount, sums.total_tax, sums.total, first.source)


def _inks(data: bytes, views: list[View]) -> tuple[list[Box], str]:
    """Each page's ink; the whole page when it cannot be measured (then said in `source`)."""
    try:
        return ink_boxes(data, range(len(views)), [view.mm for view in views]), ""
    except InkUnavailable:
        return [(0.0, 0.0, *view.mm) for view in views], "; ink not measured: whole page"
