"""Which names the intake leaves alone, and when content proves a file complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from printstation.daemon.stage_intake import complete_by_content, ignored


@pytest.mark.parametrize("name", [".hidden.json", "a.tmp", "a.json.part", "A.JSON.TMP",
                                  "x.crdownload", "~lock.json"])
def test_ignored(name: str) -> None:
    assert ignored(name)


@pytest.mark.parametrize("name", ["a.json", "B.XML", "c.Pdf", "d.ofd", "e.txt"])
def test_not_ignored(name: str) -> None:
    assert not ignored(name)


@pytest.mark.parametrize(("name", "data", "complete"), [
    ("a.json", b'{"a": 1}', True),
    ("a.json", b'{"a": ', False),
    ("a.json", '{"名": "值"}'.encode("gb18030"), True),
    ("a.pdf", b"%PDF-1.4\n...\n%%EOF\n", True),
    ("a.pdf", b"%PDF-1.4\n...", False),
    ("a.xml", b'<?xml version="1.0"?>\n<EInvoice><A/></EInvoice>\n', True),
    ("a.xml", b'<?xml version="1.0"?>\n<EInvoice><A/>', False),
    ("a.ofd", b"PK\x03\x04", False),
])
def test_complete_by_content(tmp_path: Path, name: str, data: bytes, complete: bool) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert complete_by_content(path, name) is complete
