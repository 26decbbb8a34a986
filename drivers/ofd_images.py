"""An OFD's pictures, put on a reportlab page: decoded with Pillow, or JBIG2 as it is.

The picture's header was checked against the pixel limit when the document was read
(`invoice.ofd_media.sniff`), so decoding here is bounded. JBIG2 (the QR code of legacy
tax-platform OFDs) is not decoded: PDF's JBIG2Decode filter takes its segments, which
poppler and ghostscript (what CUPS runs) both draw.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfdoc import PDFImageXObject
from reportlab.pdfgen.canvas import Canvas

from printstation.invoice.ofd_media import jbig2_page
from printstation.invoice.ofd_model import Document


class Pictures:
    """The pictures of one document, each decoded once however often it is drawn."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._readers: dict[str, Any] = {}

    def draw(self, canvas: Canvas, key: str) -> None:
        """Draw picture `key` into the unit square, its first row at the top (y = 1)."""
        media = self.doc.media(key)
        data = self.doc.data(media)
        if media.picture.format == "jbig2":
            _jbig2(canvas, key, data)
            return
        reader = self._readers.get(key)
        if reader is None:
            reader = self._readers[key] = ImageReader(_decoded(data))
        canvas.drawImage(reader, 0, 0, 1, 1, mask="auto")


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if image.mode == "1":
        return image.convert("L")
    if has_alpha:
        return image.convert("RGBA")
    return image.convert("RGB") if image.mode not in ("RGB", "L") else image


def _jbig2(canvas: Canvas, key: str, data: bytes) -> None:
    # reportlab has no JBIG2 image: the image XObject is made here and registered the
    # way `Canvas.drawImage` registers its own (reportlab 4–5).
    width, height, stream = jbig2_page(data)
    name = "ofdjbig2" + hashlib.sha1(data).hexdigest()[:16]
    doc = canvas._doc
    registered = doc.getXObjectName(name)
    if registered not in doc.idToObject:
        image = PDFImageXObject(name)
        image.width, image.height = width, height
        image.bitsPerComponent = 1
        image.colorSpace = "DeviceGray"
        image._filters = ("JBIG2Decode",)
        image.streamContent = stream
        image.mask = None
        canvas._setXObjects(image)
        doc.Reference(image, registered)
        doc.addForm(name, image)
    canvas._currentPageHasImages = 1
    canvas._code.append(f"/{registered} Do")
    canvas._formsinuse.append(name)
