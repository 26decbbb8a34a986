"""Read a dropped file into invoices, by its name's extension (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from .json_format import build_invoice, parse_document
from .model import Invoice
from .pdf_format import PdfInvoice, read_pdf
from .problems import Problem, problem
from .xml_format import read_xml

SUPPORTED = (".json", ".xml", ".pdf")
_ZIP = b"PK\x03\x04"


@dataclass(frozen=True)
class Item:
    """One invoice of a file: the model (or, for a PDF, what it says), and its problems."""

    index: int
    invoice: Invoice | None
    problems: tuple[Problem, ...]
    pdf: PdfInvoice | None = None


@dataclass(frozen=True)
class FileRead:
    """What a file held: file-level problems (then no items), or one item per invoice."""

    problems: tuple[Problem, ...]
    items: tuple[Item, ...]


def _refuse(found: Problem) -> FileRead:
    return FileRead((found,), ())


def read_file(name: str, data: bytes) -> FileRead:
    ext = PurePath(name).suffix.lower()
    if ext == ".ofd" or (ext in (".xml", ".pdf") and data.startswith(_ZIP)):
        return _refuse(problem(
            "file.type", ext=ext, detail="OFD (a zip of XML) is not supported; send the "
            "invoice's XML or PDF instead", detail_zh="不支持 OFD 版式文件，请改用 XML 或 PDF"))
    if ext not in SUPPORTED:
        return _refuse(problem("file.type", ext=ext or name,
                               detail="expected .json, .xml or .pdf",
                               detail_zh="应为 .json、.xml 或 .pdf"))
    if ext == ".xml":
        invoice, problems = read_xml(data)
        if invoice is None and problems and problems[0].code in ("parse.xml", "file.encoding"):
            return _refuse(problems[0])
        return FileRead((), (Item(0, invoice, tuple(problems)),))
    if ext == ".pdf":
        pdf, problems = read_pdf(data)
        if pdf is None:
            return _refuse(problems[0])
        return FileRead((), (Item(0, None, (), pdf),))
    objects, file_problem = parse_document(data)
    if file_problem:
        return _refuse(file_problem)
    return FileRead((), tuple(Item(i, *_built(obj)) for i, obj in enumerate(objects)))


def _built(obj: object) -> tuple[Invoice | None, tuple[Problem, ...]]:
    invoice, problems = build_invoice(obj)
    return invoice, tuple(problems)
