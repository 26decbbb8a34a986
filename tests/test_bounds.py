"""What one file may ask of the reader is bounded (red-team findings on issue 14).

A lone-surrogate escape blocked the reader for ever (the journal refused to store the
text, and the reader retried the file before every other); 0.57 MB of empty item lines
cost 2.7 GB; a file rewritten while it was copied into the spool printed a mix of both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from printstation.base.durable import copy_new
from printstation.harness.kit import Station, drop_by_rename, invoice, running, wait_for
from printstation.invoice.json_format import parse_document
from printstation.invoice.limits import MAX_INVOICES, MAX_LINES


def codes(result: dict) -> list[str]:
    return [e["code"] for e in result.get("errors", [])] + [
        e["code"] for job in result.get("jobs", []) for e in job.get("errors", [])]


def test_parse_refuses_what_cannot_be_stored_or_is_too_many() -> None:
    _, found = parse_document(json.dumps({**invoice(), "check_code": "\udc80"}).encode())
    assert found is not None and found.code == "file.encoding" and found.field == "check_code"
    _, found = parse_document(b'{"total": 1e999999999999999999999}')
    assert found is not None and found.code == "parse.json"
    _, found = parse_document(json.dumps({"invoices": [{}] * (MAX_INVOICES + 1)}).encode())
    assert found is not None and found.code == "file.too_complex"


def test_a_copy_of_a_file_rewritten_meanwhile_is_given_up(tmp_path: Path) -> None:
    src, dst = tmp_path / "src.json", tmp_path / "dst.json"
    src.write_bytes(b"a" * (3 << 20))
    written = []

    def writer_meanwhile() -> bool:
        if not written:
            with open(src, "r+b") as fh:
                fh.write(b"b" * 10)
            written.append(True)
        return False

    with pytest.raises(FileNotFoundError):
        copy_new(src, dst, writer_meanwhile)
    assert not dst.exists() and [p.name for p in tmp_path.iterdir()] == ["src.json"]
    copy_new(src, dst)  # settled: it copies
    assert dst.read_bytes() == src.read_bytes()


def test_hostile_json_is_rejected_and_the_reader_goes_on(station: Station) -> None:
    surrogate = json.dumps({**invoice("00078001"), "check_code": "\udc80"}).encode()
    many_lines = json.dumps({**invoice("00078002"),
                             "lines": [{}] * (MAX_LINES * 50)}).encode()
    with running(station):
        drop_by_rename(station, "surrogate.json", surrogate)
        drop_by_rename(station, "lines.json", many_lines)
        drop_by_rename(station, "good.json", json.dumps(invoice("00078003")).encode())
        wait_for(lambda: all(station.result(n) for n in
                             ("surrogate.json", "lines.json", "good.json")),
                 timeout=30, what="all three settled")
        assert station.proc is not None and station.proc.poll() is None
    assert station.result("good.json")["state"] == "printed"
    assert set(codes(station.result("surrogate.json"))) == {"file.encoding"}
    assert "line.count" in codes(station.result("lines.json"))
    # Reports stay small: the first problems only, not one per line.
    for name, data in (("surrogate.json", surrogate), ("lines.json", many_lines)):
        assert (station.rejected / name).read_bytes() == data
        report = station.rejected / f"{name}.error.txt"
        assert report.stat().st_size < 20_000
