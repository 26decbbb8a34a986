"""PDF to PNG for previews, through poppler's pdftoppm (already a system dependency)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from printstation.base.errors import Unavailable


class PreviewUnavailable(Unavailable):
    """pdftoppm is not installed (Debian package poppler-utils)."""


def pdf_to_png(pdf: bytes, out: Path, dpi: int = 150) -> None:
    """The first page of `pdf` as a PNG at `dpi`, written to `out`."""
    out.write_bytes(png_of(pdf, dpi))


def png_of(pdf: bytes, dpi: int = 150) -> bytes:
    """The first page of `pdf` as PNG bytes at `dpi` (the web console's pictures)."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise PreviewUnavailable("PNG previews need pdftoppm: apt-get install poppler-utils")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "page.pdf"
        source.write_bytes(pdf)
        subprocess.run([exe, "-png", "-r", str(dpi), "-singlefile", str(source),
                        str(Path(tmp) / "page")], check=True, capture_output=True, timeout=60)
        return (Path(tmp) / "page.png").read_bytes()
