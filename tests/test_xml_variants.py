"""The XML invoices platforms issue, read alike: 乐企 `*` for 不征税, empty and unknown
elements, schema versions 0.2–0.37, any declared encoding, the title as issued; and
well-formed XML that is not an issued invoice named as such (`file.not_invoice`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from printstation.harness.bundles import (
    BUYER_TIN,
    FPKJ_REQUEST,
    KP_REQUEST,
    NUMBER,
    REAL,
    einvoice_xml,
    item,
    legacy_xml,
)
from printstation.harness.docs import BILLION_LAUGHS, EXTERNAL_ENTITY
from printstation.invoice import Invoice, Rules, read_file, validate
from printstation.invoice.xml_format import read_xml

TODAY = dt.date(2026, 11, 28)


def read(data: bytes) -> Invoice:
    invoice, problems = read_xml(data)
    assert problems == [] and invoice is not None, problems
    return invoice


def valid(invoice: Invoice) -> None:
    assert validate(invoice, Rules(), TODAY) == []


@pytest.mark.parametrize(("name", "title"), [
    ("sdxml_zp_2026_jiangsu_anyuan.xml", "电子发票（增值税专用发票）"),
    ("sdxml_pp_2025_jiangsu_training.xml", "电子发票（普通发票）"),
    ("xml_legacy_eInvoice_zp_2022_guizhou.xml", "增值税电子专用发票"),
])
def test_real_files_carry_the_title_they_were_issued_under(name: str, title: str) -> None:
    invoice = read((REAL / name).read_bytes())
    assert invoice.title == title
    assert invoice.kind == "einvoice"
    valid(invoice)


@pytest.mark.parametrize("marker", ["*", "***", "不征税", "免税"])
def test_not_taxed_lines_read_as_rate_0_tax_0(marker: str) -> None:
    # 乐企 writes 不征税 as `*` in both TaxRate and ComTaxAm; others `***` or the words.
    invoice = read(einvoice_xml([item("19.00", marker, marker),
                                 item("100.00", "0.13", "13.00")]))
    free, taxed = invoice.lines
    assert (free.rate, free.tax) == (Decimal(0), Decimal(0))
    assert (taxed.rate, taxed.tax) == (Decimal("0.13"), Decimal("13.00"))
    assert (invoice.total_amount, invoice.total_tax, invoice.total) == \
        (Decimal("119.00"), Decimal("13.00"), Decimal("132.00"))
    valid(invoice)  # rate 0 is in the default rates; tax 0 matches it exactly


def test_the_le_qi_telecom_bill_reads_and_validates() -> None:
    # The traits of a real 乐企 bill (中国联通, version 0.36): an ordinary invoice to a
    # person without a TIN, one 不征税 line with `*`, empty elements, a <ptbh> of its own.
    data = einvoice_xml([item("19.00", "*", "*", ItemName="*电信服务*通信服务费",
                              Quantity="1", UnPrice="19")],
                        version="0.36", vat=("02", "普通发票"), extra=True)
    data = data.replace(f"<BuyerIdNum>{BUYER_TIN}</BuyerIdNum>".encode(), b"<BuyerIdNum/>")
    invoice = read(data)
    assert (invoice.number, invoice.buyer.tin, invoice.total, invoice.total_words) == \
        (NUMBER, "", Decimal("19.00"), "壹拾玖圆整")
    assert invoice.title == "电子发票（普通发票）"
    valid(invoice)


def test_an_empty_rate_beside_a_star_tax_is_not_taxed() -> None:
    invoice = read(einvoice_xml([item("19.00", "", "*")]))
    assert (invoice.lines[0].rate, invoice.lines[0].tax) == (Decimal(0), Decimal(0))


@pytest.mark.parametrize("empty", ["self", "pair", "omit"])
def test_empty_elements_are_absent_values(empty: str) -> None:
    # <SpecMod/>, <Quantity></Quantity>, <UnPrice/> … or no element at all: the same.
    invoice = read(einvoice_xml([item("100.00")], empty=empty))
    line = invoice.lines[0]
    assert (line.spec, line.quantity, line.unit_price) == ("", None, None)
    assert invoice.buyer.address_phone == "" and invoice.remarks == ""
    valid(invoice)


def test_unknown_elements_are_ignored() -> None:
    plain = read(einvoice_xml([item("100.00"), item("19.00", "*", "*")]))
    odd = read(einvoice_xml([item("100.00"), item("19.00", "*", "*")], extra=True))
    assert odd == plain


@pytest.mark.parametrize("version", ["0.2", "0.21", "0.29", "0.3", "0.31", "0.35", "0.36",
                                     "0.37"])
def test_every_schema_version_reads_alike(version: str) -> None:
    base = read(einvoice_xml([item("100.00")]))
    assert read(einvoice_xml([item("100.00")], version=version)) == base


@pytest.mark.parametrize("changes", [
    {"total_tag": "TotalTaxIncludedAmount"},   # the total named without the hyphen
    {"total_tag": "TotalTaxincludedAmount"},
])
def test_other_names_of_the_invoice_total(changes: dict) -> None:
    invoice = read(einvoice_xml([item("100.00")], **changes))
    assert invoice.total == Decimal("113.00")
    valid(invoice)


def test_number_and_date_found_where_older_documents_put_them() -> None:
    # No TaxSupervisionInfo: the number from Header/EIid, the date from RequestTime.
    data = einvoice_xml([item("100.00")], issue_time="2026-06-03")
    head, _, rest = data.partition(b"<TaxSupervisionInfo>")
    invoice = read(head + rest.partition(b"</TaxSupervisionInfo>")[2])
    assert (invoice.number, invoice.date) == (NUMBER, dt.date(2026, 6, 3))


@pytest.mark.parametrize(("written", "date"), [
    ("2026-06-04", dt.date(2026, 6, 4)), ("2026/6/4", dt.date(2026, 6, 4)),
    ("20260604", dt.date(2026, 6, 4)), ("2026年06月04日", dt.date(2026, 6, 4)),
])
def test_date_forms(written: str, date: dt.date) -> None:
    assert read(einvoice_xml([item("1.00")], issue_time=written)).date == date


@pytest.mark.parametrize("encoding", ["utf-8", "UTF-8", "GBK", "gb18030", "GB2312"])
def test_any_declared_encoding(encoding: str) -> None:
    data = einvoice_xml([item("100.00")], encoding=encoding)
    assert ("安元".encode() in data) == (encoding.lower() == "utf-8")
    assert read(data) == read(einvoice_xml([item("100.00")]))


@pytest.mark.parametrize(("vat", "kind", "title"), [
    (("01", "增值税专用发票"), ("01", "电子发票"), "电子发票（增值税专用发票）"),
    (("02", "普通发票"), ("01", "电子发票"), "电子发票（普通发票）"),
    (("", "普通发票"), ("", "电子发票"), "电子发票（普通发票）"),  # by name alone
    (("01", "增值税专用发票"), None, "电子发票（增值税专用发票）"),  # an EInvoice is electronic
    (None, ("01", "电子发票"), ""),  # special or ordinary unknown: the stock's title
    (("01", "增值税专用发票"), ("02", "纸质发票"), ""),  # not a title the station may invent
    (("09", "其他"), ("01", "电子发票"), ""),
])
def test_the_digital_title(vat: tuple | None, kind: tuple | None, title: str) -> None:
    assert read(einvoice_xml([item("1.00")], vat=vat, kind=kind)).title == title


@pytest.mark.parametrize(("code", "title"), [
    ("052002100113", "增值税电子专用发票"), ("052002100111", "增值税电子普通发票"),
    ("052002100104", ""), ("1100231130", ""),
])
def test_the_legacy_title_follows_the_code(code: str, title: str) -> None:
    assert read(legacy_xml(code)).title == title


@pytest.mark.parametrize(("data", "root", "asking"), [
    (FPKJ_REQUEST, '<business id="FPKJ">', True),
    (KP_REQUEST, "<Kp>", True),
    (b"<Invoice><Number>1</Number></Invoice>", "<Invoice>", False),
    (b'<?xml version="1.0"?><ns:Fapiao xmlns:ns="urn:x"/>', "<Fapiao>", False),
    (b"<a>" * 10_000 + b"</a>" * 10_000, "<a>", False),
])
def test_well_formed_xml_that_is_no_invoice(data: bytes, root: str, asking: bool) -> None:
    invoice, problems = read_xml(data)
    assert invoice is None and [p.code for p in problems] == ["file.not_invoice"]
    (found,) = problems
    assert root in found.en and root in found.zh and found.zh != found.en
    assert ("invoicing request" in found.en) == asking == ("开票请求" in found.zh)
    # A whole-file refusal: the file as a whole is not something to validate.
    assert [p.code for p in read_file("a.xml", data).problems] == ["file.not_invoice"]


@pytest.mark.parametrize(("data", "code"), [
    (b"<EInvoice><Header></EInvoice>", "parse.xml"),
    (b"", "parse.xml"),
    (BILLION_LAUGHS, "parse.xml"),
    (EXTERNAL_ENTITY, "parse.xml"),
    (b'<?xml version="1.0" encoding="klingon"?><EInvoice/>', "file.encoding"),
    ('<?xml version="1.0" encoding="utf-8"?><EInvoice>发票</EInvoice>'.encode("gbk"),
     "file.encoding"),
])
def test_what_cannot_be_read_is_still_a_reading_problem(data: bytes, code: str) -> None:
    invoice, problems = read_xml(data)
    assert invoice is None and [p.code for p in problems] == [code]


@pytest.mark.parametrize(("line", "code", "field"), [
    (item("100.00", "abc", "13.00"), "schema.type", "lines[0].rate"),
    (item("100.00", "0.13", "abc"), "schema.type", "lines[0].tax"),
    (item("100.00", "0.13", ""), "schema.missing", "lines[0].tax"),
    (item("", "0.13", "13.00"), "schema.missing", "lines[0].amount"),
    (item("100.00", "", "13.00"), "schema.missing", "lines[0].rate"),
])
def test_values_that_are_wrong_stay_wrong(line: dict, code: str, field: str) -> None:
    invoice, problems = read_xml(einvoice_xml([line]))
    assert invoice is None and (code, field) in {(p.code, p.field) for p in problems}


def test_a_star_tax_on_a_taxed_line_fails_validation() -> None:
    # `*` means no tax: beside a 13% rate the line tax is wrong, and validation says so.
    invoice = read(einvoice_xml([item("100.00", "0.13", "*")], words="壹佰圆整"))
    assert {p.code for p in validate(invoice, Rules(), TODAY)} >= {"line.tax"}


def test_not_taxed_needs_rate_0_in_the_configured_rates() -> None:
    invoice = read(einvoice_xml([item("19.00", "*", "*")]))
    strict = dataclasses.replace(Rules(), rates=(Decimal("0.13"),))
    assert [p.code for p in validate(invoice, strict, TODAY)] == ["line.rate"]
