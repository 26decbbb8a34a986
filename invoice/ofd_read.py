"""OFD invoices (GB/T 33190), read in the jail: which invoice it is, and where its pages'
ink lies, so the daemon can journal it and print it as it looks.

The identity is taken, in this order, from what the document says about itself
(`OFD.xml` CustomData: 发票号码, 发票代码, 开票日期, 合计金额, 合计税额), from the invoice
XML it may carry as an attachment (legacy e-invoices attach `original_invoice.xml`), or
from its first page's text, read by position as a PDF page's is (`pdf_identity`). Fields
the first source leaves out are filled from the others when they name the same invoice.
When the page shows, next to its label, another number than the document says, the file
is refused (`bundle.mismatch`): the journal would otherwise record one invoice while the
paper shows another.

A file without an invoice number anywhere is `file.not_invoice`. Damage is `parse.ofd`;
a location outside the package `ofd.external`; past a limit (pages, objects, pixels,
zip expansion) `file.too_complex`.

Pages are grouped by invoice as a PDF's are (`pdf_read`): a page whose own text shows,
beside its label, another invoice number than the invoice before it starts another
invoice, with its own `AsIs` (identity from its pages' text, ink per page); any other page
(a continued page, a 销货清单) belongs to the invoice before it. So invoices merged into
one OFD are each journaled, checked for duplicates and printed; the first keeps the
document's own identity (CustomData, attachment), which describes it.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from printstation.base.units import MM_PT

from .asis import AsIs
from .ofd_ink import Inker, runs
from .ofd_model import Document, Page, load
from .ofd_xml import OfdRefused
from .pdf_identity import Run, normalise, page_facts
from .problems import Problem, problem
from .xml_format import read_xml

# An invoice XML is a few KB; a 数电 one with hundreds of lines a few hundred KB.
MAX_ATTACHMENT_BYTES = 4 << 20
# CustomData names producers use (the tax platform writes the Chinese ones).
_CUSTOM = {
    "number": ("发票号码", "InvoiceNo", "invoiceNo"),
    "code": ("发票代码", "InvoiceCode", "invoiceCode"),
    "date": ("开票日期", "IssueDate", "issueDate"),
    "total_amount": ("合计金额", "TaxExclusiveTotalAmount"),
    "total_tax": ("合计税额", "TaxTotalAmount"),
    "total": ("价税合计", "TaxInclusiveTotalAmount"),
}
_DIGITS = re.compile(r"[0-9]+")
_ZH = {"customdata": "自定义数据", "attachment": "附件 XML", "text": "页面文字"}
_DAY = re.compile(r"([0-9]{4})\s*[-年/.]?\s*([0-9]{1,2})\s*[-月/.]?\s*([0-9]{1,2})")


def read_ofd(data: bytes, member: str = "") -> tuple[list[AsIs], list[Problem]]:
    """The invoice in an OFD document (one `AsIs`), or the problems that stop it."""
    try:
        doc = load(data)
        inker = Inker(doc)
        inks = tuple(inker.page(page) for page in doc.pages)
        texts = [_from_text(page) for page in doc.pages]
        found, source, trouble = _identity(doc, texts[0])
    except OfdRefused as exc:
        return [], [exc.problem]
    except (ValueError, ArithmeticError, IndexError, KeyError, struct.error, UnicodeError) as exc:
        # Numbers past float range and the like in a damaged file: damage, not a bug.
        detail = f"{type(exc).__name__}: {exc}"[:200]
        return [], [problem("parse.ofd", detail=detail, detail_zh=f"文件损坏（{detail}）")]
    if trouble is not None:
        return [], [trouble]
    shown = []
    for index, pages in enumerate(_invoices(found, texts)):
        one, how = (found, source) if index == 0 else (_merged([texts[p] for p in pages]), "text")
        shown.append(AsIs(
            "ofd", tuple(pages), tuple((doc.pages[p].width, doc.pages[p].height) for p in pages),
            tuple(inks[p] for p in pages), member=member, number=one.number, code=one.code,
            date=one.date, title=one.title, total_amount=one.total_amount,
            total_tax=one.total_tax, total=one.total, source=how))
    return shown, []


def _invoices(first: Identity, texts: list[Identity]) -> list[list[int]]:
    """The document's pages grouped by invoice: the first invoice is the document's own;
    a later page whose text shows another number beside its label starts the next."""
    groups, current = [[0]], first
    for index, text in enumerate(texts[1:], start=1):
        if text.labelled and not _same(text, current):
            groups.append([])
            current = text
        groups[-1].append(index)
    return groups


def _merged(pages: list[Identity]) -> Identity:
    """A later invoice's identity from its pages' text: its first page's, with the totals
    of the first page that states all three (a continued invoice states them on its last)
    and any date or title it lacks from its other pages."""
    whole = next((p for p in pages if None not in (p.total_amount, p.total_tax, p.total)),
                 pages[0])
    found = replace(pages[0], total_amount=whole.total_amount, total_tax=whole.total_tax,
                    total=whole.total)
    for other in pages[1:]:
        if other.number in ("", found.number):
            found = _filled(found, other)
    return found


def _identity(doc: Document, text: Identity) -> tuple[Identity, str, Problem | None]:
    """The first invoice's identity from the document's data, its attachment and `text`
    (its first page's), or the problem when none names a number or two disagree."""
    custom = _from_custom(doc.custom)
    attached = _from_attachments(doc)
    sources = [(name, found) for name, found in (("customdata", custom),
                                                 ("attachment", attached), ("text", text))
               if found is not None and found.number]
    if not sources:
        return Identity(), "", problem(
            "file.not_invoice", detail="no invoice number in the document's data, an "
            "attached invoice XML or the page's text", detail_zh="文件数据、附带的发票 XML "
            "和页面文字中都没有发票号码")
    source, chosen = sources[0]
    for name, other in sources[1:]:
        if not _same(other, chosen):
            # Text read by the fallback may be some other number on the page; text read
            # next to its label is what the paper shows.
            if name == "text" and not other.labelled:
                continue
            return chosen, source, problem(
                "bundle.mismatch", detail=f"the OFD's {source} says invoice {_key(chosen)} "
                f"but its {name} says {_key(other)}", detail_zh=f"OFD 的{_ZH[source]}为发票 "
                f"{_key(chosen)}，{_ZH[name]}却为 {_key(other)}")
        chosen = _filled(chosen, other)
    # The title is what the page shows (it is printed as it looks), else what the XML says.
    return replace(chosen, title=text.title or chosen.title), source, None


@dataclass(frozen=True)
class Identity:
    number: str = ""
    code: str = ""
    date: dt.date | None = None
    total_amount: Decimal | None = None
    total_tax: Decimal | None = None
    total: Decimal | None = None
    title: str = ""
    # True when the number was read beside its label (not by the checked fallback).
    labelled: bool = False


def _from_text(page: Page) -> Identity:
    """What a page's text says, read by the same rules as a PDF page's: OFD places text
    in mm from the page's top-left, the PDF reader's runs are in points."""
    placed = [Run(normalise(run.text), run.x * MM_PT, run.y * MM_PT, run.size * MM_PT,
                  run.horizontal, order)
              for order, run in enumerate(runs(page)) if run.text.strip()]
    facts = page_facts(placed)
    return Identity(facts.number, facts.code, facts.date, facts.total_amount,
                    facts.total_tax, facts.total, facts.title,
                    facts.source in ("labels", "positions"))


def _same(one: Identity, other: Identity) -> bool:
    """The same invoice: the same number, and the same code where both have one."""
    return one.number == other.number and (not one.code or not other.code
                                           or one.code == other.code)


def _key(found: Identity) -> str:
    return f"{found.code}-{found.number}" if found.code else found.number


def _filled(chosen: Identity, other: Identity) -> Identity:
    """`chosen` with the fields it lacks taken from `other` (the same invoice)."""
    changes = {}
    for name in ("code", "date", "total_amount", "total_tax", "total", "title"):
        if getattr(chosen, name) in ("", None) and getattr(other, name) not in ("", None):
            changes[name] = getattr(other, name)
    return replace(chosen, **changes) if changes else chosen


def _from_custom(custom: dict[str, str]) -> Identity | None:
    def value(field: str) -> str:
        return next((custom[n].strip() for n in _CUSTOM[field] if custom.get(n)), "")

    number, code = value("number"), value("code")
    # A value that is not an invoice number (a producer's own id) does not identify it.
    if len(number) not in (8, 20) or not _DIGITS.fullmatch(number) or \
            (code and (len(code) not in (10, 12) or not _DIGITS.fullmatch(code))):
        return None
    amount, tax, total = (_money(value(f)) for f in ("total_amount", "total_tax", "total"))
    if total is None and amount is not None and tax is not None:
        total = amount + tax  # 价税合计 = 合计金额 + 合计税额, exactly
    return Identity(number, code, _day(value("date")), amount, tax, total)


def _from_attachments(doc: Document) -> Identity | None:
    for path in doc.attachments:
        invoice, _ = read_xml(doc.package.read(path, MAX_ATTACHMENT_BYTES))
        if invoice is not None and invoice.number:
            return Identity(invoice.number, invoice.code, invoice.date, invoice.total_amount,
                            invoice.total_tax, invoice.total, invoice.title)
    return None


def _money(text: str) -> Decimal | None:
    cleaned = text.replace("¥", "").replace("￥", "").replace(",", "").strip()
    try:
        found = Decimal(cleaned) if cleaned else None
    except InvalidOperation:
        return None
    return found if found is not None and found.is_finite() else None


def _day(text: str) -> dt.date | None:
    match = _DAY.match(text.strip())
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
