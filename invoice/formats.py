"""Read a dropped file into invoices, by its name's extension (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from .asis import AsIs
from .json_format import build_invoice, parse_document
from .model import Invoice
from .problems import Problem, problem
from .xml_format import read_xml

SUPPORTED = (".json", ".xml", ".pdf", ".ofd", ".zip")
_ZIP = b"PK\x03\x04"
# XML problems that mean the file as a whole is not an invoice to validate.
_XML_FILE_LEVEL = ("parse.xml", "file.encoding", "file.not_invoice")


@dataclass(frozen=True)
class Item:
    """One invoice of a file: the model (data to render), what prints as it looks (a PDF or
    OFD's pages), or both (a bundle: data from its XML, printed from its PDF); and its
    problems."""

    index: int
    invoice: Invoice | None
    problems: tuple[Problem, ...]
    asis: AsIs | None = None


@dataclass(frozen=True)
class FileRead:
    """What a file held: file-level problems (then no items), or one item per invoice."""

    problems: tuple[Problem, ...]
    items: tuple[Item, ...]


def _refuse(found: Problem) -> FileRead:
    return FileRead((found,), ())


def read_file(name: str, data: bytes) -> FileRead:
    ext = suffix(name).lower()
    if ext not in SUPPORTED:
        return _refuse(problem("file.type", ext=ext or name,
                               detail="expected .json, .xml, .pdf, .ofd or .zip",
                               detail_zh="应为 .json、.xml、.pdf、.ofd 或 .zip"))
    if ext in (".xml", ".pdf", ".json") and data.startswith(_ZIP):
        return _refuse(problem(
            "file.type", ext=ext, detail="the file is a zip (an OFD or a bundle?); name it "
            ".ofd or .zip as it is", detail_zh="文件实为 zip 压缩格式（OFD 或压缩包？），"
            "请按实际类型命名为 .ofd 或 .zip"))
    if ext == ".xml":
        invoice, problems = read_xml(data)
        if invoice is None and problems and problems[0].code in _XML_FILE_LEVEL:
            return _refuse(problems[0])
        return FileRead((), (Item(0, invoice, tuple(problems)),))
    if ext in (".pdf", ".ofd"):
        found, problems = _read_asis(ext, data)
        if not found:
            return _refuse(problems[0])
        return FileRead((), tuple(Item(i, None, (), asis) for i, asis in enumerate(found)))
    if ext == ".zip":
        from .bundle import read_bundle

        invoice, asis, problems = read_bundle(data)
        if invoice is None and asis is None:
            return _refuse(problems[0])
        return FileRead((), (Item(0, invoice, tuple(problems), asis),))
    objects, file_problem = parse_document(data)
    if file_problem:
        return _refuse(file_problem)
    return FileRead((), tuple(Item(i, *_built(obj)) for i, obj in enumerate(objects)))


def suffix(name: str) -> str:
    """`PurePath(name).suffix`, without building a path for a bare file name (the reader
    asks it of every file)."""
    if "/" in name:
        return PurePath(name).suffix
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _read_asis(ext: str, data: bytes) -> tuple[list[AsIs], list[Problem]]:
    # Imported here: each pulls in a large library (pypdf, fontTools) that a JSON-only
    # backlog never needs.
    if ext == ".pdf":
        from .pdf_read import read_pdf

        return read_pdf(data)
    from .ofd_read import read_ofd

    return read_ofd(data)


def _built(obj: object) -> tuple[Invoice | None, tuple[Problem, ...]]:
    invoice, problems = build_invoice(obj)
    return invoice, tuple(problems)
