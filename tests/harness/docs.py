"""Generated test documents: invoices as bytes, PDFs of chosen size, pages and damage."""

from __future__ import annotations

import io
import json
from typing import Any

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from .kit import SAMPLES, consistent, line


def special(**changes: Any) -> dict:
    doc = json.loads((SAMPLES / "vat-special.json").read_text(encoding="utf-8"))
    doc.update(changes)
    return doc


def with_lines(lines: list[dict], **changes: Any) -> dict:
    return consistent(special(lines=lines, **changes))


def js(doc: Any, encoding: str = "utf-8") -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode(encoding)


def pdf(pages: int = 1, size_mm: tuple[float, float] = (210, 140),
        text: str = "发票号码：26112000000012345678") -> bytes:
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(size_mm[0] * mm, size_mm[1] * mm))
    for page in range(pages):
        # The number on the first page; the others are the invoice's further pages (a
        # page repeating it would be the same invoice again, unless it says 共N页).
        shown = text if page == 0 else f"page {page + 1}"
        canvas.drawString(20, 20, shown.encode("ascii", "ignore").decode() or "x")
        canvas.showPage()
    canvas.save()
    return buf.getvalue()


def framed_pdf(size_mm: tuple[float, float]) -> bytes:
    """A page of `size_mm` whose ink (a frame 5 mm in from its edges) fills it."""
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(size_mm[0] * mm, size_mm[1] * mm))
    canvas.rect(5 * mm, 5 * mm, (size_mm[0] - 10) * mm, (size_mm[1] - 10) * mm)
    canvas.drawString(30 * mm, 30 * mm, "26112000000012345678")
    canvas.save()
    return buf.getvalue()


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf())))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def broken_xref_pdf() -> bytes:
    head = pdf().rpartition(b"startxref")[0]
    return head + b"startxref\n999999\n%%EOF\n"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<EInvoice><Header><EIid>&lol3;</EIid></Header></EInvoice>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<EInvoice><Header><EIid>&xxe;</EIid></Header></EInvoice>"""

__all__ = ["BILLION_LAUGHS", "EXTERNAL_ENTITY", "broken_xref_pdf", "encrypted_pdf", "js", "line",
           "pdf", "special", "with_lines"]
