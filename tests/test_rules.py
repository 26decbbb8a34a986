"""Every error code of SPEC §7: failing cases report it, passing cases are entirely valid.

Documents go through `check_file`, which both the daemon and `printstation validate` use.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from stdnum.cn import uscc

from printstation.config import load_settings, load_stocks
from printstation.daemon.checks import check_file, read_limited
from printstation.daemon.context import Context
from printstation.harness.bundles import einvoice_xml, real_bundle, zip_of
from printstation.harness.docs import (
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
from printstation.harness.kit import ROOT
from printstation.harness.ofd_maker import hostile_ofd
from printstation.invoice import problem

REAL = ROOT / "tests" / "fixtures" / "real"
NOW = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)


def make_ctx(tmp: Path, seller_tin: str = "", **validation: Decimal) -> Context:
    settings = load_settings(None, cwd=tmp)
    if seller_tin:
        settings = dataclasses.replace(
            settings, station=dataclasses.replace(settings.station, seller_tin=seller_tin))
    if validation:
        settings = dataclasses.replace(
            settings, validation=dataclasses.replace(settings.validation, **validation))
    return Context(settings, load_stocks()[0], clock=lambda: NOW)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    return make_ctx(tmp_path_factory.mktemp("ctx"))


def found(ctx: Context, name: str, data: bytes) -> set[tuple[str, str]]:
    checked = check_file(name, data, ctx)
    problems = checked.file_problems + [p for e in checked.entries for p in e.problems]
    for p in problems:
        assert p.zh and p.en and p.zh != p.en, p  # every message in both languages
    return {(p.code, p.field) for p in problems}


def codes(ctx: Context, name: str, data: bytes) -> set[str]:
    return {code for code, _ in found(ctx, name, data)}


def tin_with_bad_org_check() -> str:
    # A valid USCC check character over an organisation code whose own check is wrong.
    good = "91110105102938470R"
    body = good[:16] + ("1" if good[16] != "1" else "2")
    return body + uscc.calc_check_digit(body)


def ordinary(**changes) -> dict:
    return special(kind="vat-ordinary", code="011002400111", **changes)


def einvoice(lines: list[dict]) -> dict:
    doc = with_lines(lines, kind="einvoice", number="26112000000012345678")
    del doc["code"]
    return doc


# (expected code, field or None, file name, document bytes)
FAILING: list[tuple[str, str | None, str, Callable[[], bytes]]] = [
    ("file.encoding", None, "a.json", lambda: js(special(), "utf-16")),
    ("file.encoding", None, "a.json", lambda: b'{"kind": "\xff\xfe\x80"}'),
    ("file.encoding", None, "a.xml", lambda: b'<?xml version="1.0" encoding="klingon"?><a/>'),
    ("file.type", None, "a.txt", lambda: js(special())),
    ("file.type", None, "a.xml", lambda: (REAL / "ofd_legacy_zp_2022_guizhou.ofd").read_bytes()),
    ("parse.json", None, "a.json", lambda: js(special())[:-20]),
    ("parse.json", None, "a.json", lambda: js(special()).replace(b'"1413.00"', b"NaN")),
    ("parse.json", None, "a.json", lambda: b"[" * 50_000 + b"]" * 50_000),
    ("parse.xml", None, "a.xml", lambda: b"<EInvoice><Header></EInvoice>"),
    ("parse.xml", None, "a.xml", lambda: BILLION_LAUGHS),
    ("parse.xml", None, "a.xml", lambda: EXTERNAL_ENTITY),
    ("file.not_invoice", None, "a.xml", lambda: b"<Invoice/>"),
    ("parse.pdf", None, "a.pdf", lambda: b"%PDF-1.4\nnot really\n%%EOF"),
    ("parse.pdf", None, "a.pdf", broken_xref_pdf),
    ("parse.pdf", None, "a.pdf", lambda: b"hello"),
    ("parse.zip", None, "a.zip", lambda: zip_of({"a.xml": einvoice_xml()})[:100]),
    ("zip.unsafe", None, "a.zip", lambda: zip_of({"../../etc/cron.d/x": b"x"})),
    ("zip.contents", None, "a.zip", lambda: zip_of({"a.xml": einvoice_xml(), "b.txt": b""})),
    ("bundle.mismatch", None, "a.zip", lambda: real_bundle(
        "sdxml_pp_2025_jiangsu_training.xml", "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf")),
    ("parse.ofd", None, "a.ofd", lambda: hostile_ofd("no-document.ofd")[0]),
    ("ofd.external", None, "a.ofd", lambda: hostile_ofd("media-etc-passwd.ofd")[0]),
    ("pdf.encrypted", None, "a.pdf", encrypted_pdf),
    ("pdf.pages", None, "a.pdf", lambda: pdf(pages=11)),
    ("pdf.page_size", None, "a.pdf",
     lambda: (REAL / "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf").read_bytes()),
    ("pdf.page_size", None, "a.pdf", lambda: framed_pdf((320, 250))),
    ("schema.missing", "number", "a.json",
     lambda: js({k: v for k, v in special().items() if k != "number"})),
    ("schema.missing", "buyer.address_phone", "a.json",
     lambda: js(special(buyer={**special()["buyer"], "address_phone": ""}))),
    ("schema.missing", "number", "a.xml",
     lambda: b"<EInvoice><EInvoiceData><IssuItemInformation/></EInvoiceData></EInvoice>"),
    ("schema.type", "lines[0].amount", "a.json",
     lambda: js(special()).replace(b'"500.00"', b"[500]")),
    ("schema.type", "total", "a.json", lambda: js(special()).replace(b'"1413.00"', b"1e400")),
    ("schema.type", "", "a.json", lambda: b'{"invoices": [42]}'),
    ("invoice.kind", "kind", "a.json", lambda: js(special(kind="vat-blue"))),
    ("invoice.code", "code", "a.json", lambda: js(special(code="12345"))),
    ("invoice.number", "number", "a.json", lambda: js(special(number="1234567"))),
    ("invoice.number", "number", "a.json",
     lambda: js({**einvoice([line("100.00")]), "number": "2611200000001234567"})),
    ("invoice.date", "date", "a.json", lambda: js(special(date="2026-11-30"))),
    ("invoice.date", "date", "a.json", lambda: js(special(date="2026-02-30"))),
    ("party.name", "buyer.name", "a.json",
     lambda: js(special(buyer={**special()["buyer"], "name": " "}))),
    ("party.tin", "buyer.tin", "a.json",
     lambda: js(special(buyer={**special()["buyer"], "tin": "91110108MA00AB124C"}))),
    ("party.tin", "seller.tin", "a.json",
     lambda: js(special(seller={**special()["seller"], "tin": tin_with_bad_org_check()}))),
    ("party.tin", "buyer.tin", "a.json",
     lambda: js(special(buyer={**special()["buyer"], "tin": ""}))),
    ("party.tin", "buyer.tin", "a.json",
     lambda: js(ordinary(buyer={**special()["buyer"], "tin": "1234567890ABCDEF"}))),
    ("line.count", "lines", "a.json", lambda: js(special(lines=[]))),
    ("line.count", "lines", "a.json", lambda: js(with_lines([line("1.00")] * 9))),
    ("line.amount", "lines[0].amount", "a.json",
     lambda: js(with_lines([line("1.00", quantity="3", unit_price="0.335")]))),
    ("line.rate", "lines[0].rate", "a.json", lambda: js(with_lines([line("100.00", "0.17")]))),
    ("line.tax", "lines[0].tax", "a.json",
     lambda: js(with_lines([line("100.00", "0.13", tax="13.07")]))),
    ("line.tax", "lines[0].tax", "a.json",
     lambda: js(with_lines([line("100.00", "0", tax="0.01")]))),
    ("total.amount", "total_amount", "a.json", lambda: js(special(total_amount="1300.01"))),
    ("total.tax", "total_tax", "a.json", lambda: js(special(total_tax="113.01"))),
    ("total.sum", "total", "a.json",
     lambda: js(special(total="1413.01", total_words="壹仟肆佰壹拾叁圆零壹分"))),
    ("total.words", "total_words", "a.json", lambda: js(special(total_words="壹仟肆佰壹拾叁圆"))),
    ("total.words", "total_words", "a.json",
     lambda: js(special(total_words="壹仟肆佰壹拾肆圆整"))),
    ("total.limit", "total_amount", "a.json",
     lambda: js(with_lines([line("100000.01", "0.06")]))),
    ("text.too_long", "buyer.name", "a.json",
     lambda: js(special(buyer={**special()["buyer"], "name": "国" * 51}))),
    ("text.too_long", "lines[0].name", "a.json",
     lambda: js(with_lines([line("1.00", name="*货物*" + "长" * 43)]))),  # 92 bytes
    ("text.too_long", "remarks", "a.json", lambda: js(special(remarks="备" * 116))),
    ("text.too_long", "drawer", "a.json", lambda: js(special(drawer="欧阳修文"[:4] + "x"))),
    ("invoice.duplicate", "number", "a.json",
     lambda: js({"invoices": [special(), special()]})),
]

# Valid documents, each at or near the boundary of one rule.
PASSING: list[tuple[str, str, Callable[[], bytes]]] = [
    ("sample special", "a.json", lambda: js(special())),
    ("utf-8 with BOM", "a.json", lambda: b"\xef\xbb\xbf" + js(special())),
    ("gb18030", "a.JSON", lambda: js(special(), "gb18030")),
    ("exact JSON numbers", "a.json", lambda: js(special()).replace(b'"1413.00"', b"1413.00")),
    ("12-digit code, ordinary, no buyer TIN", "a.json",
     lambda: js(ordinary(buyer={"name": "张三", "tin": ""}))),
    ("20-digit 数电 number without code", "a.json", lambda: js(einvoice([line("100.00")]))),
    ("legacy 15-char TIN", "a.json",
     lambda: js(special(buyer={**special()["buyer"], "tin": "110105123456789"}))),
    ("today's date", "a.json", lambda: js(special(date="2026-11-28"))),
    ("8 lines on paper", "a.json", lambda: js(with_lines([line("1.00")] * 8))),
    ("30 lines on an e-invoice continue on further pages", "a.json",
     lambda: js(einvoice([line("1.00")] * 30))),
    ("an A4 page of ink fits the A4 paper", "a.pdf", lambda: framed_pdf((210, 297))),
    ("ink 290 × 200 fits the paper turned", "a.pdf", lambda: framed_pdf((300, 210))),
    ("quantity × price rounds half away from zero", "a.json",
     lambda: js(with_lines([line("1.01", quantity="3", unit_price="0.335")]))),
    ("negative line rounds half away from zero", "a.json",
     lambda: js(with_lines([line("100.00"), line("-1.01", quantity="-3",
                                                   unit_price="0.335")]))),
    ("tax off by exactly the tolerance", "a.json",
     lambda: js(with_lines([line("100.00", "0.13", tax="13.06")]))),
    ("tax-free line", "a.json", lambda: js(with_lines([line("100.00", "0", tax="0.00")]))),
    ("capitals with 元", "a.json", lambda: js(special(total_words="壹仟肆佰壹拾叁元整"))),
    ("capitals with 整 after 角", "a.json",
     lambda: js(with_lines([line("1409.50", "0", tax="0.00")]) | {
         "total_words": "壹仟肆佰零玖圆伍角整"})),
    ("item name of exactly 90 bytes", "a.json",
     lambda: js(with_lines([line("1.00", name="*货物*" + "长" * 42)]))),
    ("total at the limit", "a.json", lambda: js(with_lines([line("100000.00", "0.06")]))),
    ("names of exactly 100 GBK bytes", "a.json",
     lambda: js(special(buyer={**special()["buyer"], "name": "国" * 50}))),
    ("drawer of 8 bytes", "a.json", lambda: js(special(drawer="欧阳修文"))),
    ("batch of two", "a.json",
     lambda: js({"invoices": [special(), special(number="00045002")]})),
    ("数电 XML", "a.xml", lambda: (REAL / "sdxml_zp_2026_jiangsu_anyuan.xml").read_bytes()),
    ("数电 XML declared GBK", "a.xml",
     lambda: (REAL / "sdxml_pp_2025_jiangsu_training.xml").read_text(encoding="utf-8")
     .replace('encoding="utf-8"', 'encoding="GBK"').encode("gbk")),
    ("legacy XML", "a.xml",
     lambda: (REAL / "xml_legacy_eInvoice_zp_2022_guizhou.xml").read_bytes()),
    ("数电 PDF", "a.pdf", lambda: (REAL / "sdp_zp_2025_jiangsu_3items.pdf").read_bytes()),
    ("PDF of 10 pages", "a.pdf", lambda: pdf(pages=10)),
]


@pytest.mark.parametrize(("code", "field", "name", "make"), FAILING,
                         ids=[f"{c}-{i}" for i, (c, *_) in enumerate(FAILING)])
def test_failing_case_reports_its_code(ctx: Context, code: str, field: str | None, name: str,
                                       make: Callable[[], bytes]) -> None:
    result = found(ctx, name, make())
    assert code in {c for c, _ in result}, result
    if field is not None:
        assert (code, field) in result, result


@pytest.mark.parametrize(("label", "name", "make"), PASSING, ids=[p[0] for p in PASSING])
def test_passing_case_is_valid(ctx: Context, label: str, name: str,
                               make: Callable[[], bytes]) -> None:
    assert found(ctx, name, make()) == set()


def test_every_spec_code_has_a_failing_case() -> None:
    daemon_level = {"file.not_regular", "file.too_large", "file.duplicate", "seller.mismatch",
                    "total.tax_tolerance",  # tested below and end to end
                    # The reader's jail and the intake: tests/test_jail.py, test_names.py.
                    "file.unreadable", "file.too_complex",
                    # Reasons to wait, not to reject: tests/test_paper.py, tests/test_sync.py.
                    "paper.mismatch", "offline.limit",
                    # A job that cannot go on at its printer: tests/test_failures.py.
                    "render.failed", "printer.refused", "printer.error"}
    spec = (ROOT.parent / "shared" / "SPEC.md")
    listed = set(__import__("re").findall(r"`([a-z]+\.[a-z_]+)`", spec.read_text("utf-8"))) \
        if spec.exists() else set()
    from printstation.invoice import MESSAGES

    covered = {c for c, *_ in FAILING} | daemon_level
    assert set(MESSAGES) <= covered
    assert {c for c in listed if c in MESSAGES} <= covered


def test_seller_mismatch(tmp_path: Path) -> None:
    strict = make_ctx(tmp_path, seller_tin="91110105102938470R")
    assert codes(strict, "a.json", js(special())) == set()
    other = special(seller={**special()["seller"], "tin": "91110108MA00AB124B"})
    assert found(strict, "a.json", js(other)) == {("seller.mismatch", "seller.tin")}


def test_invoice_tax_tolerance(tmp_path: Path) -> None:
    # With at most 8 lines and 0.06 each, 1.27 is out of reach; a looser line tolerance
    # (a config value) brings it in: 8 × 0.17 = 1.36 > 1.27, 7 × 0.18 = 1.26 within.
    loose = make_ctx(tmp_path, line_tax_tolerance=Decimal("0.20"))
    over = with_lines([line("100.00", "0.13", tax="13.17")] * 8)
    assert found(loose, "a.json", js(over)) == {("total.tax_tolerance", "total_tax")}
    within = with_lines([line("100.00", "0.13", tax="13.18")] * 7)
    assert found(loose, "a.json", js(within)) == set()


def test_size_and_kind_of_file_are_checked_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(1 << 30)  # a 1 GB sparse file: must not be read
    assert read_limited(big, 20) == problem("file.too_large", size_mb="1024.0", max_mb=20)
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert read_limited(fifo, 20).code == "file.not_regular"
    os.symlink(big, tmp_path / "link.json")
    assert read_limited(tmp_path / "link.json", 20).code == "file.not_regular"


def test_duplicate_key_reported_by_the_journal_callback(ctx: Context) -> None:
    taken = problem("invoice.duplicate", "number", key="k", at="2026-11-27T00:00:00Z", job="J1")
    checked = check_file("a.json", js(special()), ctx, lambda key: taken)
    assert checked.entries[0].problems == [taken]
    assert "J1" in taken.zh and "J1" in taken.en


def test_all_problems_of_a_file_at_once(ctx: Context) -> None:
    doc = special(kind="vat-blue", code="12", date="2027-01-01",
                  buyer={**special()["buyer"], "tin": "X"})
    doc["lines"][1]["rate"] = "0.5"
    result = codes(ctx, "a.json", js(doc))
    assert {"invoice.kind", "invoice.code", "invoice.date", "party.tin", "line.rate",
            "line.tax"} <= result


def test_only_ascii_digits_make_an_invoice_key(tmp_path: Path) -> None:
    # Python's \d and Decimal accept any Unicode digit: full-width or Arabic-Indic digits
    # would make another key for the same invoice, which would then print again.
    ctx = make_ctx(tmp_path)
    for number in ("００１２３００１", "٠٠١٢٣٠٠١"):
        assert ("invoice.number", "number") in found(ctx, "a.json", js(special(number=number)))
    wide_code = special(code="１１００２３１１３０")
    assert ("invoice.code", "code") in found(ctx, "a.json", js(wide_code))
    doc = special()
    doc["lines"][0]["amount"] = "１０００.00"
    assert "schema.type" in codes(ctx, "a.json", js(doc))


def test_the_shortcuts_of_validation_say_what_the_full_checks_say(ctx: Context) -> None:
    """Issue 19 made validation faster by not doing work whose answer is known; each
    shortcut is checked here at its edge against the verdict the full work gives."""
    from pathlib import PurePath

    from printstation.invoice.formats import suffix
    from printstation.invoice.tin import tin_problem, uscc_problem

    # A document is walked for lone surrogates only when it has a \u escape: an escaped
    # backslash before "udc80" is text, a real escape anywhere (a key too) is found.
    plain = js(special()).replace(b'"remarks": ""', b'"remarks": "\\\\udc80 \\u4e2d"')
    assert plain != js(special()) and check_file("a.json", plain, ctx).valid
    for where in (b'"remarks": "\\udc80"', b'"x\\udc80": 1, "remarks": ""'):
        hostile = js(special()).replace(b'"remarks": ""', where)
        assert codes(ctx, "a.json", hostile) == {"file.encoding"}
    # Duplicate keys: the first key written twice is named, at any depth.
    twice = js(special()).replace(b'"remarks": ""', b'"remarks": "", "payee": "a"')
    found_twice = check_file("a.json", twice, ctx).file_problems
    assert [p.code for p in found_twice] == ["parse.json"] and 'key "payee"' in found_twice[0].en
    nested = js(special()).replace(b'"spec": "70g"', b'"spec": "70g", "unit": "x"')
    assert 'key "unit"' in check_file("a.json", nested, ctx).file_problems[0].en
    # A text of at most limit / 4 characters is not encoded: 4 bytes a character at most.
    assert check_file("a.json", js(special(drawer="𠀀𠀀")), ctx).valid
    assert ("text.too_long", "drawer") in found(ctx, "a.json", js(special(drawer="𠀀𠀀x")))
    # A file's type by its name, as pathlib says it.
    for name in ("a.json", "a.JSON", ".json", "a.", "a..json", "...", "", "d/a.xml", "a.b.zip"):
        assert suffix(name) == PurePath(name).suffix, name
    # TINs answered from the cache as when checked afresh; only 18 characters are kept.
    for tin in ("91110108MA00AB124B", "91110108MA00AB124C", "91110108MA00AB1241"):
        assert tin_problem(tin) == tin_problem(tin) == uscc_problem.__wrapped__(tin)
    assert tin_problem("91110108MA00AB124B") is None
    assert tin_problem("91110108MA00AB124C") and tin_problem("91110108MA00AB1241")
    kept = uscc_problem.cache_info().currsize
    for tin in ("110108MA00AB124", "abc", "9" * 100_000):
        assert tin_problem(tin) == tin_problem(tin)
    assert tin_problem("110108MA00AB124") is None and tin_problem("abc")
    assert uscc_problem.cache_info().currsize == kept
