"""The hostile-input corpus: files that must each be refused with one specific code.

`build(folder)` writes them and returns {file name: expected code}. Names are part of the
attack too (path-like, very long, not UTF-8).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .bundles import hostile_bundles
from .docs import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    broken_xref_pdf,
    encrypted_pdf,
    framed_pdf,
    js,
    line,
    pdf,
    special,
    with_lines,
)
from .kit import ROOT
from .ofd_maker import hostile_ofds

REAL = ROOT / "tests" / "fixtures" / "real"
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><EInvoice/>"""


def corpus() -> dict[str, tuple[bytes, str]]:
    good = js(special())
    many_lines = with_lines([line("1.00")] * 10_000)
    ten_mb_name = special(buyer={**special()["buyer"], "name": "名" * (5 * 1024 * 1024)})
    return {
        "truncated.json": (good[: len(good) // 2], "parse.json"),
        "empty.json": (b"", "parse.json"),
        "whitespace.json": (b" \n\t ", "parse.json"),
        "utf16.json": (json.dumps(special(), ensure_ascii=False).encode("utf-16"),
                       "file.encoding"),
        "utf32.json": (json.dumps(special()).encode("utf-32"), "file.encoding"),
        "not-text.json": (b'{"kind": "\xff\xff\xff"}', "file.encoding"),
        "nested.json": (b"[" * 200_000 + b"]" * 200_000, "parse.json"),
        "nested-objects.json": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "parse.json"),
        "nan.json": (good.replace(b'"1413.00"', b"NaN"), "parse.json"),
        "infinity.json": (good.replace(b'"1413.00"', b"-Infinity"), "parse.json"),
        "1e400.json": (good.replace(b'"1413.00"', b"1e400"), "schema.type"),
        "many-decimals.json": (good.replace(b'"1413.00"', b'"1413.' + b"0" * 40 + b'1"'),
                               "schema.type"),
        "nul-in-string.json": (good.replace("北京样例".encode(), b"\x00"), "parse.json"),
        "nul-prefix.json": (b"\x00" + good, "parse.json"),
        "duplicate-keys.json": (b'{"kind": "vat-special", "kind": "einvoice"}', "parse.json"),
        "array.json": (b"[]", "schema.type"),
        "string.json": (b'"an invoice"', "schema.type"),
        "empty-object.json": (b"{}", "schema.missing"),
        "empty-batch.json": (b'{"invoices": []}', "schema.type"),
        "batch-object.json": (b'{"invoices": {"a": 1}}', "schema.type"),
        "lines-object.json": (js(special(lines={"0": line("1.00")})), "schema.type"),
        "kind-number.json": (js(special(kind=5)), "schema.type"),
        "10000-lines.json": (js(many_lines), "line.count"),
        "10mb-name.json": (js(ten_mb_name), "text.too_long"),
        "25mb.json": (b'{"pad": "' + b"x" * (25 * 1024 * 1024) + b'"}', "file.too_large"),
        "billion-laughs.xml": (BILLION_LAUGHS, "parse.xml"),
        "external-entity.xml": (EXTERNAL_ENTITY, "parse.xml"),
        "parameter-entity.xml": (PARAMETER_ENTITY, "parse.xml"),
        "broken.xml": (b"<EInvoice><Header><EIid>1</Header>", "parse.xml"),
        "wrong-root.xml": (b"<Invoice><Number>1</Number></Invoice>", "file.not_invoice"),
        "empty.xml": (b"", "parse.xml"),
        "gbk-declared-utf8.xml": ('<?xml version="1.0" encoding="utf-8"?><EInvoice>发票'
                                  "</EInvoice>".encode("gbk"), "file.encoding"),
        "unknown-encoding.xml": (b'<?xml version="1.0" encoding="x-none"?><EInvoice/>',
                                 "file.encoding"),
        "deep.xml": (b"<a>" * 100_000 + b"</a>" * 100_000, "file.not_invoice"),
        "encrypted.pdf": (encrypted_pdf(), "pdf.encrypted"),
        "broken-xref.pdf": (broken_xref_pdf(), "parse.pdf"),
        "garbage.pdf": (b"%PDF-1.7\n" + os.urandom(4096) + b"\n%%EOF\n", "parse.pdf"),
        "json-named.pdf": (good, "parse.pdf"),
        "empty.pdf": (b"", "parse.pdf"),
        "eleven-pages.pdf": (pdf(pages=11), "pdf.pages"),
        "a3-ink.pdf": (framed_pdf((420, 297)), "pdf.page_size"),
        "receipt.pdf": (pdf(text="Receipt 2026-11 No. 123 total 88.00"), "file.not_invoice"),
        "ofd-named.xml": ((REAL / "ofd_sdp_2024_jiangsu.ofd").read_bytes(), "file.type"),
        "program.exe": (b"MZ\x90\x00", "file.type"),
        "no-extension": (good, "file.type"),
        # Path-like and odd names, with bad content so that they are rejected.
        "-rf.json": (b"{", "parse.json"),
        "$(touch pwned).json": (b"{", "parse.json"),
        "C:\\..\\..\\Windows\\x.json": (b"{", "parse.json"),
        "line\nbreak.json": (b"{", "parse.json"),
        "发票 2026 年.json": (b"{", "parse.json"),
        "x" * 246 + ".json": (b"{", "parse.json"),
        os.fsdecode(b"gbk-\xb7\xa2\xc6\xb1.json"): (b"{", "parse.json"),
        # The new formats (issue 13): zips and OFDs.
        **hostile_bundles(),
        **hostile_ofds(),
    }


def build(folder: Path) -> dict[str, str]:
    """Write the corpus into `folder` (plus a 1 GB sparse file, a FIFO and a symlink)."""
    expected = {}
    for name, (data, code) in corpus().items():
        (folder / name).write_bytes(data)
        expected[name] = code
    with open(folder / "sparse-1gb.json", "wb") as fh:
        fh.truncate(1 << 30)
    expected["sparse-1gb.json"] = "file.too_large"
    os.mkfifo(folder / "fifo.json")
    expected["fifo.json"] = "file.not_regular"
    os.symlink("/etc/passwd", folder / "symlink.json")
    expected["symlink.json"] = "file.not_regular"
    return expected
