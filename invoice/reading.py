"""Read a dropped file into invoices, by its name's extension (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from .json_format import build_invoice, parse_document
from .model import Invoice
from .problems import Problem, problem

# Names the intake picks up; other extensions are taken and refused with `file.type`.
SUPPORTED = (".json",)
KNOWN_LATER = {".xml": "数电 XML", ".pdf": "e-invoice PDF", ".ofd": "OFD"}


@dataclass(frozen=True)
class Item:
    """One invoice of a file: the model when it could be built, and its problems."""

    index: int
    invoice: Invoice | None
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class FileRead:
    """What a file held: file-level problems (then no items), or one item per invoice."""

    problems: tuple[Problem, ...]
    items: tuple[Item, ...]


def read_file(name: str, data: bytes) -> FileRead:
    ext = PurePath(name).suffix.lower()
    if ext != ".json":
        detail = (f"{KNOWN_LATER[ext]} is not supported by this version"
                  if ext in KNOWN_LATER else "expected .json, .xml or .pdf")
        return FileRead((problem("file.type", ext=ext or name, detail=detail),), ())
    objects, file_problem = parse_document(data)
    if file_problem:
        return FileRead((file_problem,), ())
    items = []
    for index, obj in enumerate(objects):
        invoice, problems = build_invoice(obj)
        items.append(Item(index, invoice, tuple(problems)))
    return FileRead((), tuple(items))
