"""The layout-fit check made fast (issue 19) says what it said before: a text decided
without measuring, a text answered from the cache and a text measured afresh get the same
answer; the caches stay bounded; a stock reloaded with a narrower box is never answered
from the old one; and validation's quick layout check reports what rendering's full one
does, invoice by invoice."""

from __future__ import annotations

import dataclasses
import random
import textwrap
from importlib import resources
from pathlib import Path

import pytest
from reportlab.pdfbase.pdfmetrics import stringWidth

from printstation.config import FieldSpec, Stock, load_settings, load_stocks
from printstation.daemon.checks import check_file
from printstation.daemon.context import Context
from printstation.drivers import ensure_font, fit, layout_problems
from printstation.drivers.layout_check import check_layout
from printstation.harness.docs import js, line, special, with_lines
from printstation.invoice import Invoice, read_file
from printstation.invoice.tin import uscc_problem

STOCKS, _ = load_stocks()
FONT = ensure_font()
NAME = STOCKS["vat-special"].fields["buyer.name"]  # 90 mm, 9 pt, one line
REMARKS = STOCKS["vat-special"].fields["remarks"]  # 79 × 15 mm, 8 pt, wraps
AMOUNT = STOCKS["vat-special"].items.columns["amount"]  # 28 mm, 8 pt
# Texts on every path: plainly fitting (ASCII and not), measured and fitting, shrunk,
# wrapped, and not fitting at all; with line breaks and empty.
TEXTS = ["", "1302.72", "¥1302.72", "91110108MA00AB124B", "北京样例网络科技有限公司",
         "北京市海淀区知春路63号 010-62001111", "招商银行北京分行 110912345610101",
         "名" * 30, "名" * 45, "名" * 60, "W" * 40, "W" * 70, "1" * 200, "第一行\n第二行",
         "备注：合同号 HT-2026-0001\r\n" * 3, "甲乙丙丁" * 40, "甲乙丙丁" * 100]


def reference(text: str, spec: FieldSpec) -> fit.Fitted | None:
    """The full algorithm, measured, without the bound and without the cache."""
    return fit._fitted.__wrapped__(text, spec.width, spec.size, spec.height, FONT)


@pytest.mark.parametrize("spec", [NAME, REMARKS, AMOUNT], ids=["name", "remarks", "amount"])
def test_a_cache_hit_answers_as_a_miss_and_as_the_full_measurement(spec: FieldSpec) -> None:
    fit.memo_clear()
    missed = [fit.fit_text(text, spec, FONT) for text in TEXTS]
    hits_before = fit.memo_info()[0]
    hit = [fit.fit_text(text, spec, FONT) for text in TEXTS]
    assert fit.memo_info()[0] > hits_before  # the second round was answered from the cache
    assert hit == missed == [reference(text, spec) for text in TEXTS]
    assert [fit.fits(text, spec, FONT) for text in TEXTS] == [r is not None for r in missed]
    # The texts meet both verdicts in every box, shrunk texts in the wider two, wrapped
    # ones in the box that wraps: the comparison could fail on each path.
    assert None in missed and any(r is not None for r in missed)
    shrunk = [r for r in missed if r is not None and r.size < spec.size]
    assert shrunk or spec is AMOUNT
    assert any(len(r.lines) > 1 for r in shrunk) == (spec is REMARKS)


def test_the_bound_never_says_fits_where_measuring_says_otherwise() -> None:
    # Random texts of the characters invoices carry (and the font's widest ones), at every
    # length around each box's bound, on every field of every stock.
    rng = random.Random(19)
    alphabet = "0123456789.¥%-*() abcWM信息技术服务有限公司北京市海淀区　ぁ℅\n"
    specs = [spec for stock in STOCKS.values() for name, spec in stock.fields.items()
             if name != "cipher"]
    specs += [spec for stock in STOCKS.values() if stock.items
              for spec in stock.items.columns.values()]
    for _ in range(5000):
        spec = rng.choice(specs)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 50)))
        assert fit.fit_text(text, spec, FONT) == reference(text, spec), (text, spec)


def test_the_caches_stay_bounded() -> None:
    fit.memo_clear()
    # Texts that must be measured and kept: CJK, longer than the box's bound.
    for n in range(fit.MEMO_SIZE + 500):
        fit.fits(f"名称{n:06d}" * 6, NAME, FONT)
    _, misses, entries = fit.memo_info()
    assert misses == fit.MEMO_SIZE + 500 and entries == fit.MEMO_SIZE
    # A text too long to keep is measured, and answered alike.
    long_text = "名" * (fit.MEMO_MAX_CHARS + 1)
    assert fit.fit_text(long_text, REMARKS, FONT) == reference(long_text, REMARKS)
    assert fit.memo_info()[2] == fit.MEMO_SIZE and fit.memo_info()[1] == misses
    uscc_problem.cache_clear()
    for n in range(uscc_problem.cache_info().maxsize + 100):
        uscc_problem(f"{n:018d}")
    assert uscc_problem.cache_info().currsize == uscc_problem.cache_info().maxsize == 2048


def test_a_narrower_box_is_never_answered_from_the_old_one(tmp_path: Path) -> None:
    """A config reload that narrows a field: the same text, fitted a moment before (and so
    in the cache), no longer fits, in the fit check and in validation."""
    name = "北京市海淀区中关村南大街科技园区第十二号楼网络技术有限公司"
    doc = special()
    doc["buyer"]["name"] = name
    data = js(doc)
    old = _context(tmp_path, STOCKS)
    assert check_file("a.json", data, old).valid
    assert fit.fits(name, STOCKS["vat-special"].fields["buyer.name"], FONT)

    # The same stock read again from a file, its buyer's name box 40 mm wide.
    source = resources.files("printstation.config").joinpath("stocks/vat-special.toml")
    text = source.read_text("utf-8").replace(
        '"buyer.name" = { x = 47.6, y = 27.3, width = 90 }',
        '"buyer.name" = { x = 47.6, y = 27.3, width = 40 }')
    assert "width = 40 }" in text
    (tmp_path / "stocks").mkdir()
    (tmp_path / "stocks" / "vat-special.toml").write_text(text, "utf-8")
    reloaded, problems = load_stocks(tmp_path / "stocks")
    assert not problems
    narrow = reloaded["vat-special"].fields["buyer.name"]
    assert narrow.width == 40
    assert not fit.fits(name, narrow, FONT) and fit.fit_text(name, narrow, FONT) is None
    found = check_file("a.json", data, _context(tmp_path, reloaded)).entries[0].problems
    assert [(p.code, p.field) for p in found] == [("text.too_long", "buyer.name")]
    # A new Stock object built in code (not read from a file) alike; the old stock still
    # fits: each geometry its own answer.
    stock = STOCKS["vat-special"]
    fields = {**stock.fields, "buyer.name": dataclasses.replace(NAME, width=40.0)}
    assert not fit.fits(name, dataclasses.replace(NAME, width=40.0), FONT)
    invoice = read_file("a.json", data).items[0].invoice
    assert check_layout(invoice, dataclasses.replace(stock, fields=fields))
    assert check_layout(invoice, stock) == []


def _context(tmp_path: Path, stocks: dict[str, Stock]) -> Context:
    return Context(load_settings(None, cwd=tmp_path), stocks)


def _invoices() -> list[Invoice]:
    """Invoices on every path of the layout check: texts that fit as they are, shrunk or
    wrapped; more lines than the form's rows; several pages; and in half of them one text
    too long for its box, in a header field or in any line's cell (the last one's too)."""
    rng = random.Random(7)
    docs = []
    for kind in ("vat-special", "vat-ordinary", "vat-roll-76", "einvoice"):
        for n in range(60):
            count = rng.choice([1, 2, 5, 8, 9, 14, 30]) if kind == "einvoice" else \
                rng.choice([1, 2, 3, 5, 8, 8, 8, 9])
            lines = [line(f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}",
                          rng.choice(["0.13", "0.06", "0"]),
                          name=rng.choice(["*货物*复印纸", "*信息技术服务*软件维护" + "品" * 8]),
                          spec=rng.choice(["", "V2", "规格型号" * 2]))
                     for _ in range(count)]
            doc = with_lines(lines, kind=kind, remarks=rng.choice(
                ["", "合同号 HT-2026-0001", textwrap.fill("备注" * 40, 30)]))
            doc["buyer"]["name"] = "公司" * rng.randint(2, 20)
            if rng.random() < 0.5:
                where = rng.choice(["buyer", "seller", "remarks", "line", "line"])
                if where == "remarks":
                    doc["remarks"] = "注" * 400
                elif where == "line":
                    doc["lines"][rng.randrange(count)][rng.choice(["name", "spec"])] = "品" * 60
                else:
                    doc[where]["address_phone"] = "址" * 70
            if kind == "einvoice":
                del doc["code"]
                doc["number"] = f"2611200000{n:010d}"
            invoice = read_file("a.json", js(doc)).items[0].invoice
            assert invoice is not None
            docs.append(invoice)
    return docs


def test_the_quick_layout_check_reports_what_rendering_does() -> None:
    fit.memo_clear()
    verdicts = []
    for invoice in _invoices():
        stock = STOCKS[invoice.kind]
        full = layout_problems(invoice, stock)
        assert check_layout(invoice, stock) == full, invoice.kind
        assert check_layout(invoice, stock) == full  # and again, from the cache
        verdicts.append(bool(full))
    # Both verdicts were met, so the comparison could fail either way.
    assert 20 < sum(verdicts) < len(verdicts) - 20


def test_a_text_of_the_widest_characters_at_the_plain_length_fits_unshrunk() -> None:
    """`plain_lengths` (what the quick layout check uses without a call) at its edge: the
    most characters it allows, each the font's widest, fit at the field's own size."""
    widths = {char: stringWidth(char, FONT, 1) for char in map(chr, range(32, 0x3100))}
    widest = max(widths, key=widths.get)
    widest_ascii = max((c for c in widths if c.isascii()), key=widths.get)
    for stock in STOCKS.values():
        specs = [*stock.fields.values(), *(stock.items.columns.values() if stock.items else ())]
        for spec in specs:
            most, most_ascii = fit.plain_lengths(spec, FONT)
            for char, count in ((widest, most), (widest_ascii, most_ascii)):
                assert count > 0
                assert reference(char * count, spec) == fit.Fitted(spec.size, (char * count,))
