"""Reading the SPEC §6 JSON format: encodings, batches, exact decimals, clear problems."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from printstation.harness.kit import SAMPLES, invoice
from printstation.invoice import Rules, read_file, validate

TODAY = dt.date(2026, 11, 28)


def codes(read) -> list[str]:
    return [p.code for p in read.problems] + [p.code for i in read.items for p in i.problems]


@pytest.mark.parametrize("name", ["vat-special.json", "vat-ordinary.json",
                                  "einvoice-20-digit.json", "batch.json"])
def test_shared_samples_read_and_validate_clean(name: str) -> None:
    read = read_file(name, (SAMPLES / name).read_bytes())
    assert codes(read) == []
    for item in read.items:
        assert validate(item.invoice, Rules(), TODAY) == []
    assert len(read.items) == (2 if name == "batch.json" else 1)


def test_money_is_decimal_exactly_as_written() -> None:
    read = read_file("a.json", (SAMPLES / "vat-special.json").read_bytes())
    inv = read.items[0].invoice
    assert inv.total == Decimal("1413.00") and isinstance(inv.lines[0].amount, Decimal)
    assert inv.key == "1100243130-00045001"
    assert str(inv.lines[0].unit_price) == "25.00"


def test_encodings() -> None:
    doc = json.dumps(invoice(), ensure_ascii=False)
    for data in (doc.encode("utf-8"), b"\xef\xbb\xbf" + doc.encode("utf-8"),
                 doc.encode("gb18030")):
        read = read_file("a.json", data)
        assert codes(read) == [] and read.items[0].invoice.buyer.name == "北京样例网络科技有限公司"
    assert codes(read_file("a.json", doc.encode("utf-16"))) == ["file.encoding"]
    assert codes(read_file("a.json", b'{"a": "\x80\xff\xfe"}')) == ["file.encoding"]


def test_json_numbers_are_exact_and_constants_refused() -> None:
    doc = json.dumps(invoice()).replace('"1413.00"', "1413.00")
    assert read_file("a.json", doc.encode()).items[0].invoice.total == Decimal("1413.00")
    for bad in ("NaN", "Infinity", "-Infinity"):
        data = json.dumps(invoice()).replace('"1413.00"', bad).encode()
        assert codes(read_file("a.json", data)) == ["parse.json"]


@pytest.mark.parametrize(("data", "code"), [
    (b"", "parse.json"),
    (b'{"kind": "vat-special", "number"', "parse.json"),
    (b"[" * 100_000, "parse.json"),
    (b'{"kind": "a", "kind": "b"}', "parse.json"),
    (b'{"invoices": []}', "schema.type"),
    (b"42", "schema.type"),
])
def test_unreadable_documents(data: bytes, code: str) -> None:
    read = read_file("x.json", data)
    assert codes(read) == [code]
    problem = (read.problems or read.items[0].problems)[0]
    assert problem.zh and problem.en and problem.zh != problem.en


def test_all_shape_problems_of_an_invoice_at_once() -> None:
    doc = invoice()
    del doc["buyer"]
    doc["lines"][0]["amount"] = "12,5"
    doc["total"] = 1.5e3
    doc["date"] = "2026-13-01"
    read = read_file("x.json", json.dumps(doc).encode())
    found = {(p.code, p.field) for p in read.items[0].problems}
    assert found == {("schema.missing", "buyer"), ("schema.type", "lines[0].amount"),
                     ("invoice.date", "date")}
    # 1.5e3 as a JSON number is exactly 1500, so it is accepted as money.


def test_only_known_extensions_are_read() -> None:
    for name in ("c.docx", "d.txt", "noext"):
        assert codes(read_file(name, b"whatever")) == ["file.type"]
