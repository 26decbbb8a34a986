"""Poison files: small files that cost a reader hours, gigabytes or its stack.

Each is a few KB at most, and each is built here rather than stored, so the recipe is
readable: nested PDF form XObjects that pypdf parses again at every invocation, a stream
whose /Length claims gigabytes, objects nested ten thousand deep, a zip bomb and an XML
billion laughs. `corpus()` gives {file name: (bytes, codes a reader may refuse it with)}.
"""

from __future__ import annotations

import io
import zipfile
import zlib

_OBJECT_FORMAT = b"%d 0 obj\n%s\nendobj\n"


def build_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF whose objects are numbered from 1 in the order given, with a correct xref
    table (pypdf reads in strict mode: a poison file must get past the parser's checks)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += _OBJECT_FORMAT % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, root, xref)
    return bytes(out)


def _stream(dictionary: bytes, data: bytes, compress: bool = True) -> bytes:
    if compress:
        data = zlib.compress(data, 9)
        dictionary += b" /Filter /FlateDecode"
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (dictionary, len(data), data)


def nested_forms_pdf(fanout: int = 80, ops: int = 400_000) -> bytes:
    """A page that invokes form A `fanout` times, A invokes form B `fanout` times, and B
    is a text operator followed by `ops` empty operators, compressed about 1000:1.

    pypdf's text extraction parses a form's content again at every invocation (capped at
    5,000 invocations per page, which is what it stops at): 5,000 parses of B's
    `ops` operators take hours, from a file of a few KB.
    """
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    form_b = _stream(b"/Type /XObject /Subtype /Form /BBox [0 0 10 10]"
                     b" /Resources << /Font << /F1 6 0 R >> >>",
                     b"BT /F1 1 Tf (x) Tj ET\n" + b"q Q\n" * ops)
    form_a = _stream(b"/Type /XObject /Subtype /Form /BBox [0 0 10 10]"
                     b" /Resources << /Font << /F1 6 0 R >> /XObject << /B 5 0 R >> >>",
                     b"BT /F1 1 Tf (a) Tj ET\n" + b"/B Do\n" * fanout)
    content = _stream(b"", b"BT /F1 10 Tf 20 20 Td (page) Tj ET\n" + b"/A Do\n" * fanout)
    return build_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 397] /Contents 7 0 R"
        b" /Resources << /Font << /F1 6 0 R >> /XObject << /A 4 0 R >> >> >>",
        form_a, form_b, font, content])


def huge_length_pdf(length: int = 1 << 32) -> bytes:
    """A PDF whose cross-reference stream, the first thing a reader must read, says its
    /Length is 4 GB while the whole file is a few hundred bytes: a reader that trusts the
    length allocates or reads that much."""
    body = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, obj in enumerate([b"<< /Type /Catalog /Pages 2 0 R >>",
                                  b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                  b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 397] >>"],
                                 start=1):
        offsets.append(len(body))
        body += _OBJECT_FORMAT % (number, obj)
    xref = len(body)
    rows = b"\x00\x00\x00\x00\x00\xff\xff" + b"".join(
        b"\x01" + offset.to_bytes(4, "big") + b"\x00\x00" for offset in [*offsets, xref])
    body += _OBJECT_FORMAT % (4, b"<< /Type /XRef /Size 5 /W [1 4 2] /Root 1 0 R /Length %d >>"
                              b"\nstream\n%s\nendstream" % (length, rows))
    return bytes(body + b"startxref\n%d\n%%%%EOF\n" % xref)


def deep_nesting_pdf(depth: int = 20_000) -> bytes:
    """A page whose /Annots is an array nested `depth` deep: a recursive parser's stack."""
    return build_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 397] /Annots "
        + b"[" * depth + b"]" * depth + b" >>"])


def zip_bomb(megabytes: int = 1024) -> bytes:
    """A zip holding one XML member of `megabytes` MB of zeros (a few hundred KB deflated
    per GB would be too large here: the member is written by streaming 1 MB chunks)."""
    out = io.BytesIO()
    chunk = b"0" * (1 << 20)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive, \
            archive.open("invoice.xml", "w", force_zip64=True) as member:
        for _ in range(megabytes):
            member.write(chunk)
    return out.getvalue()


# Ten levels of ten: 10^9 "lol"s, the classic. Refused by defusedxml before any expansion.
BILLION_LAUGHS = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol0 "lol">' + b"".join(
    b'<!ENTITY lol%d "%s">' % (i, b"".join(b"&lol%d;" % (i - 1) for _ in range(10)))
    for i in range(1, 10)) + b"]>\n<EInvoice><Header><EIid>&lol9;</EIid></Header></EInvoice>"


NAMES = ("nested-forms.pdf", "huge-length.pdf", "deep-nesting.pdf", "billion-laughs.xml",
         "zip-bomb.zip", "zip-bomb.xml")


def corpus() -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """{name: (bytes, codes it may be refused with)}: file.too_complex when a limit stops
    it, or its format's own code when the reader itself refuses it within the limits."""
    bomb = zip_bomb(256)
    return {
        "nested-forms.pdf": (nested_forms_pdf(), ("file.too_complex",)),
        "huge-length.pdf": (huge_length_pdf(), ("file.too_complex", "parse.pdf")),
        "deep-nesting.pdf": (deep_nesting_pdf(), ("file.too_complex", "parse.pdf")),
        "billion-laughs.xml": (BILLION_LAUGHS, ("parse.xml",)),
        "zip-bomb.zip": (bomb, ("file.too_complex", "file.type")),
        "zip-bomb.xml": (bomb, ("file.too_complex", "file.type")),
    }
