"""The tax platform's download bundle (`dzfp_<number>_<time>.zip`): one invoice, as XML
and/or PDF and/or OFD (SPEC §6.5).

The bundle is one job: the invoice's data comes from its XML (exact, no reading of page
text), and what prints is its PDF, or else its OFD, as it looks; with only an XML the
invoice is rendered from the data. A zip is a stranger's file, so it is opened through
`SafeZip` (member count, expansion, traversal, encryption) and may hold nothing but those
three documents, at most one of each, in its root: anything else is refused, never
skipped, so that a clerk never prints half of what was sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from pathlib import PurePosixPath

from .asis import AsIs
from .model import Invoice
from .problems import Problem, problem
from .xml_format import read_xml
from .zip_safe import SafeZip, ZipRefused

KINDS = (".xml", ".pdf", ".ofd")
# An issued invoice's XML is small (the 3-line real one is 7 KB; 1,000 lines, the reader's
# bound, about 1 MB): a member expanding past this is refused before it takes more memory.
MAX_XML_BYTES = 8 << 20
Reader = Callable[..., tuple[list[AsIs], list[Problem]]]
Read = tuple[Invoice | None, AsIs | None, list[Problem]]


def _contents(detail: str, detail_zh: str) -> Problem:
    return problem("zip.contents", detail=detail, detail_zh=detail_zh)


def _members(names: list[str]) -> tuple[dict[str, str], Problem | None]:
    """{extension: member name} of the bundle, or the `zip.contents` problem with it."""
    if not names:
        return {}, _contents("the zip is empty", "压缩文件是空的")
    found: dict[str, str] = {}
    for name in sorted(names):
        shown = name[:80]
        ext = PurePosixPath(name).suffix.lower()
        if "/" in name:
            return {}, _contents(f"member {shown!r} is in a folder; the invoice's files must "
                                 "be in the zip's root", f"成员 {shown!r} 位于文件夹中；"
                                 "发票文件应直接位于压缩文件根目录")
        if ext == ".zip":
            return {}, _contents(f"member {shown!r} is a zip inside the zip",
                                 f"成员 {shown!r} 是嵌套的压缩文件")
        if ext not in KINDS:
            return {}, _contents(f"member {shown!r} is not an XML, PDF or OFD file",
                                 f"成员 {shown!r} 不是 XML、PDF 或 OFD 文件")
        if ext in found:
            kind = ext[1:].upper()
            return {}, _contents(f"two {kind} files, {found[ext][:80]!r} and {shown!r}",
                                 f"有两个 {kind} 文件：{found[ext][:80]!r} 和 {shown!r}")
        found[ext] = name
    return found, None


def _document_reader(ext: str) -> Reader:
    # Imported when needed: each pulls in a large library (pypdf, fontTools) that an
    # XML-only bundle never needs.
    if ext == ".pdf":
        from .pdf_read import read_pdf

        return read_pdf
    from .ofd_read import read_ofd

    return read_ofd


def _document(box: SafeZip, ext: str, name: str) -> tuple[AsIs | None, list[Problem]]:
    """The one invoice the bundle's PDF or OFD shows, or why it cannot be printed."""
    found, problems = _document_reader(ext)(box.read(name), member=name)
    if problems:
        return None, problems
    if len(found) != 1:
        kind = ext[1:].upper()
        return None, [_contents(f"the {kind} {name[:80]!r} shows {len(found)} invoices, a "
                                "bundle holds one", f"{kind} 文件 {name[:80]!r} 含 {len(found)} "
                                "张发票，压缩包应只含一张")]
    return found[0], []


def _same_invoice(first: Invoice | AsIs, other: AsIs) -> Problem | None:
    """`bundle.mismatch` unless both documents name the same invoice, with the same totals
    and date where both show them.

    The number decides first (and the code, when both carry one). Totals read from a page
    count only when all three are read and add up (amount + tax = total): a misread digit
    breaks that sum and must not refuse a bundle whose XML is exact, but a page that adds
    up to another total, or shows another date, prints another invoice than the journal
    records.
    """
    what = "XML" if isinstance(first, Invoice) else f"{first.format.upper()} {first.member[:80]!r}"
    shown = f"{other.format.upper()} {other.member[:80]!r}"
    if other.number != first.number or (other.code and first.code and other.code != first.code):
        return problem("bundle.mismatch",
                       detail=f"the {what} is invoice {first.key or '(none)'}, the {shown} is "
                       f"invoice {other.key or '(none)'}",
                       detail_zh=f"{what} 是发票 {first.key or '（无）'}，{shown} 是发票 "
                       f"{other.key or '（无）'}")
    differ: list[tuple[str, str]] = []
    said, seen = _sums(first), _sums(other)
    if said and seen and said != seen:
        said_text, seen_text = (" + ".join(map(str, sums[:2])) + f" = {sums[2]}"
                                for sums in (said, seen))
        differ.append((f"the {what} gives the totals {said_text}, the {shown} shows {seen_text}",
                       f"{what} 的金额合计为 {said_text}，{shown} 显示 {seen_text}"))
    if first.date and other.date and first.date != other.date:
        differ.append((f"the {what} gives the date {first.date}, the {shown} shows {other.date}",
                       f"{what} 的开票日期为 {first.date}，{shown} 显示 {other.date}"))
    if not differ:
        return None
    return problem("bundle.mismatch", detail=f"invoice {first.key}: " + "; ".join(
        en for en, _ in differ), detail_zh=f"发票 {first.key}：" + "；".join(
        zh for _, zh in differ))


def _sums(found: Invoice | AsIs) -> tuple[Decimal, Decimal, Decimal] | None:
    """(amount, tax, total) when all three are known and add up, else None."""
    amount, tax, total = found.total_amount, found.total_tax, found.total
    if amount is None or tax is None or total is None or amount + tax != total:
        return None
    return amount, tax, total


def read_bundle(data: bytes) -> Read:
    """(invoice from the XML, what prints as it looks, problems) for a `.zip` bundle.

    On any problem both are None and the problems say why. The PDF prints if there is
    one, else the OFD; when both are there the OFD is read too and must be the same
    invoice, so that nothing in the bundle goes unprinted without a word. Each document
    must agree with the XML (`_same_invoice`): number and code, and the totals and date
    it shows. With an XML, the AsIs carries the XML's identity (number, code, date,
    totals; `source` "xml"), so the journal records what the tax platform issued, not what
    a reading of page text made of it; its title stays as the page prints it (with the
    province, on legacy invoices).
    """
    try:
        box = SafeZip(data, "parse.zip")
        members, wrong = _members(box.names)
        if wrong:
            return None, None, [wrong]
        invoice = None
        if ".xml" in members:
            invoice, problems = read_xml(box.read(members[".xml"], MAX_XML_BYTES))
            if invoice is None:
                return None, None, problems
            # Issued e-invoice data prints on plain paper, whatever the XML said.
            invoice = dataclasses.replace(invoice, kind="einvoice")
        shown: list[AsIs] = []
        for ext in (".pdf", ".ofd"):
            if ext in members:
                asis, problems = _document(box, ext, members[ext])
                if asis is None:
                    return None, None, problems
                shown.append(asis)
    except ZipRefused as exc:
        return None, None, [exc.problem]
    if not shown:
        return invoice, None, []
    first: Invoice | AsIs = invoice if invoice is not None else shown[0]
    for other in shown:
        mismatch = None if other is first else _same_invoice(first, other)
        if mismatch:
            return None, None, [mismatch]
    printed = shown[0]
    if invoice is None:
        return None, printed, []
    printed = dataclasses.replace(
        printed, number=invoice.number, code=invoice.code, date=invoice.date,
        title=printed.title or invoice.title, total_amount=invoice.total_amount,
        total_tax=invoice.total_tax, total=invoice.total, source="xml")
    return invoice, printed, []
