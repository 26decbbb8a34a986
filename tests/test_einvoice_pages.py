"""The e-invoice on plain paper: A4 portrait by default (A5 landscape by config), and an
invoice with more lines than one page holds continues on further pages, every page at the
layout's geometry, 共N页 第M页 on each, the totals on the last page only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from printstation.config import Stock, load_stocks
from printstation.drivers import TextDoesNotFit, ensure_font, layout_problems, render_invoice
from printstation.drivers.fit import fit_text
from printstation.drivers.render_pages import paginate, placements
from printstation.harness.docs import js, line, with_lines
from printstation.harness.kit import ROOT
from printstation.harness.pdfpos import MM
from printstation.invoice import Invoice, Rules, read_file, validate

STOCKS, _ = load_stocks()
EINVOICE = STOCKS["einvoice"]
A4 = (210.0, 297.0)
OFFSET = (1.5, -0.7)
ISSUED = "电子发票（增值税普通发票）"


def einvoice(count: int, **changes: str) -> Invoice:
    """A valid 数电 invoice with `count` lines, each text unique to its line."""
    lines = [line(f"{100 + i}.00", "0.13" if i % 2 else "0.06", name=f"*货物*第{i + 1}行品名",
                  spec=f"S-{i + 1}", unit=f"件{i + 1}") for i in range(count)]
    doc = with_lines(lines, kind="einvoice", number="26112000000012345678",
                     remarks="购方开户银行：江苏银行天惠支行", drawer="杨建清", **changes)
    del doc["code"]
    read = read_file("a.json", js(doc))
    assert read.problems == () and read.items[0].problems == (), read
    invoice = read.items[0].invoice
    assert validate(invoice, Rules(), dt.date(2026, 11, 28)) == []
    return invoice


def pages_of(pdf: bytes) -> list[tuple[tuple[float, float], int,
                                       dict[str, list[tuple[float, float, float]]]]]:
    """Each page's size in mm, its /Rotate, and text -> every (x, y mm from top-left, size)."""
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        texts: dict[str, list[tuple[float, float, float]]] = {}

        def visit(text, cm, tm, font, size, texts=texts, height=height):
            if text.strip():
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                texts.setdefault(text.strip(), []).append((x / MM, (height - y) / MM, size))

        page.extract_text(visitor_text=visit)
        found.append(((width / MM, height / MM), int(page.get("/Rotate", 0)), texts))
    return found


def assert_at_anchors(invoice: Invoice, stock: Stock, pdf: bytes,
                      offset: tuple[float, float]) -> list[dict]:
    """Every text of every page within 0.1 mm of its anchor + offset; the pages' texts."""
    font = ensure_font()
    rendered = pages_of(pdf)
    pages = paginate(invoice, stock)
    assert len(rendered) == len(pages)
    for page, (size, rotate, found) in zip(pages, rendered, strict=True):
        assert size == (pytest.approx(stock.width_mm, abs=0.01),
                        pytest.approx(stock.height_mm, abs=0.01))
        assert rotate == 0
        checked = 0
        for name, spec, text, y in placements(invoice, stock, page):
            if not text:
                continue
            fitted = fit_text(text, spec, font)
            assert fitted is not None and len(fitted.lines) == 1, (name, text)
            assert text in found, f"page {page.number}: {name}: {text!r} not on the page"
            places = []
            for x0, y0, drawn in found[text]:
                width = stringWidth(text, font, drawn) / mm
                start = {"left": spec.x, "right": spec.x - width,
                         "centre": spec.x - width / 2}[spec.align]
                places.append((x0 - start - offset[0], y0 - y - offset[1]))
            # The same text may stand in several rows (a rate); one of them must be this one.
            assert any(abs(dx) <= 0.1 and abs(dy) <= 0.1 for dx, dy in places), \
                (page.number, name, places)
            checked += 1
        assert checked >= 10
    return [found for _, _, found in rendered]


def test_the_builtin_einvoice_is_a4_portrait_with_the_digital_invoice_layout() -> None:
    assert (EINVOICE.width_mm, EINVOICE.height_mm) == A4 and EINVOICE.plain_paper
    # The 数电 arrangement: header, parties, table, totals, 备注 and 开票人 in the top part.
    labels = {label.text for label in EINVOICE.form.labels}
    assert {"发票号码：", "开票日期：", "名称：", "统一社会信用代码/纳税人识别号：", "项目名称",
            "规格型号", "单位", "数量", "单价", "金额", "税率/征收率", "税额", "价税合计（大写）",
            "（小写）", "备", "注", "开票人："} <= labels
    assert max(spec.y for spec in EINVOICE.fields.values()) < 140
    assert {"page", "total_label", "title", "number", "date", "buyer.name", "buyer.tin",
            "seller.name", "seller.tin", "total", "total_words", "remarks", "drawer"} <= \
        set(EINVOICE.fields)


def test_thirty_lines_continue_on_further_a4_pages_every_field_at_its_anchor() -> None:
    invoice = einvoice(30, title=ISSUED)
    rows = EINVOICE.items.rows
    count = -(-30 // rows)
    assert count >= 3
    pdf = render_invoice(invoice, EINVOICE, OFFSET)
    pages = assert_at_anchors(invoice, EINVOICE, pdf, OFFSET)
    assert len(pages) == count
    page_spec = EINVOICE.fields["page"]
    for number, found in enumerate(pages, start=1):
        # 共N页 第M页 at its anchor on every page, and the header repeated as issued.
        label = f"共{count}页 第{number}页"
        (x, y, _), = found[label]
        assert (x, y) == (pytest.approx(page_spec.x + OFFSET[0], abs=0.1),
                          pytest.approx(page_spec.y + OFFSET[1], abs=0.1))
        assert [t for t in found if t.startswith("共")] == [label]
        assert {ISSUED, invoice.number, "2026年11月20日", invoice.buyer.name, invoice.seller.name,
                invoice.buyer.tin, invoice.seller.tin} <= set(found)
        # This page's lines and no other page's.
        names = {t for t in found if t.startswith("*货物*")}
        assert names == {f"*货物*第{i + 1}行品名"
                         for i in range((number - 1) * rows, min(number * rows, 30))}


def test_totals_print_on_the_last_page_and_earlier_pages_show_their_subtotal() -> None:
    invoice = einvoice(30, title=ISSUED)
    rows = EINVOICE.items.rows
    pages = pages_of(render_invoice(invoice, EINVOICE))
    totals = {f"¥{invoice.total:.2f}", invoice.total_words, invoice.remarks, invoice.drawer,
              f"¥{invoice.total_amount:.2f}", f"¥{invoice.total_tax:.2f}"}
    *earlier, (_, _, last) = pages
    assert totals <= set(last) and "合计" in last and "小计" not in last
    for number, (_, _, found) in enumerate(earlier, start=1):
        assert not totals & set(found), number
        assert "小计" in found and "合计" not in found
        mine = invoice.lines[(number - 1) * rows: number * rows]
        amount = sum((li.amount for li in mine), Decimal(0))
        tax = sum((li.tax for li in mine), Decimal(0))
        spec = EINVOICE.fields["total_amount"]
        (x, y, size), = found[f"¥{amount:.2f}"]
        assert x + stringWidth(f"¥{amount:.2f}", ensure_font(), size) / mm == \
            pytest.approx(spec.x, abs=0.1) and y == pytest.approx(spec.y, abs=0.1)
        assert f"¥{tax:.2f}" in found


def test_one_line_is_one_page_with_no_page_label_and_the_stock_title_when_none_issued(
        ) -> None:
    invoice = einvoice(1)
    assert invoice.title == ""
    pdf = render_invoice(invoice, EINVOICE, OFFSET)
    (found,) = assert_at_anchors(invoice, EINVOICE, pdf, OFFSET)
    assert not [t for t in found if "页" in t]
    assert EINVOICE.title in found and "合计" in found
    assert {f"¥{invoice.total:.2f}", invoice.total_words, invoice.drawer} <= set(found)
    # Exactly a full page of lines is still one page.
    full = einvoice(EINVOICE.items.rows, title=ISSUED)
    ((_, _, found),) = pages_of(render_invoice(full, EINVOICE))
    assert ISSUED in found and "合计" in found and not [t for t in found if "页" in t]


def test_the_a5_sample_renders_one_page_at_210_by_148(tmp_path: Path) -> None:
    sample = ROOT / "config" / "samples" / "einvoice-a5.toml"
    assert "/etc/printstation/stocks/einvoice.toml" in sample.read_text(encoding="utf-8")
    (tmp_path / "stocks").mkdir()
    shutil.copy(sample, tmp_path / "stocks" / "einvoice.toml")
    stocks, problems = load_stocks(tmp_path / "stocks")
    assert problems == []
    a5 = stocks["einvoice"]
    assert (a5.width_mm, a5.height_mm) == (210.0, 148.0)
    invoice = einvoice(1, title=ISSUED)
    (found,) = assert_at_anchors(invoice, a5, render_invoice(invoice, a5, OFFSET), OFFSET)
    assert ISSUED in found and not [t for t in found if "页" in t]
    # It continues like the A4 layout when the lines need it.
    long = einvoice(a5.items.rows + 1)
    pages = assert_at_anchors(long, a5, render_invoice(long, a5, OFFSET), OFFSET)
    assert len(pages) == 2 and "共2页 第2页" in pages[1]


def test_layout_problems_check_every_line_on_every_page() -> None:
    invoice = einvoice(30)
    assert layout_problems(invoice, EINVOICE) == []
    # A narrow name column (as IT might configure): only lines whose names are too wide for
    # it even at 5 pt are refused, each named by its index in the whole invoice.
    items = EINVOICE.items
    narrow = dataclasses.replace(items.columns["name"], width=18, height=0)
    stock = dataclasses.replace(EINVOICE, items=dataclasses.replace(
        items, columns={**items.columns, "name": narrow}))
    wide = {3, 17, 28}
    lines = list(invoice.lines)
    for i in wide:
        lines[i] = dataclasses.replace(lines[i], name="*货物*" + "长" * 12)
    found = layout_problems(dataclasses.replace(invoice, lines=tuple(lines)), stock)
    assert [(p.code, p.field) for p in found] == [
        ("text.too_long", f"lines[{i}].name") for i in sorted(wide)]


def test_paper_stock_stays_one_page_and_never_drops_a_line() -> None:
    stock = STOCKS["vat-special"]
    doc = with_lines([line(f"{10 + i}.00") for i in range(8)])
    invoice = read_file("a.json", js(doc)).items[0].invoice
    assert len(pages_of(render_invoice(invoice, stock))) == 1
    # A ninth line has no row on the numbered sheet: refused, never printed without it.
    nine = dataclasses.replace(invoice, lines=(*invoice.lines, invoice.lines[0]))
    assert [(p.code, p.field) for p in layout_problems(nine, stock)] == [("line.count", "lines")]
    with pytest.raises(TextDoesNotFit):
        render_invoice(nine, stock)


def test_the_longest_texts_the_rules_allow_fit_the_a4_layout_inside_their_rows() -> None:
    long_name = "*货物*" + "长" * 42  # 90 GBK bytes, the most validation allows
    lines = [line("33.35", name=long_name, spec="规" * 20, unit="单" * 10,
                  quantity="1.00000000000000", unit_price="33.3495145631068")] + \
        [line("1.00", name=f"*货物*{i}") for i in range(EINVOICE.items.rows)]
    doc = with_lines(lines, kind="einvoice", number="26112000000012345678", title=ISSUED,
                     remarks="备" * 115, drawer="杨建清")
    doc["buyer"]["name"] = doc["seller"]["name"] = "国" * 50
    del doc["code"]
    invoice = read_file("a.json", js(doc)).items[0].invoice
    assert validate(invoice, Rules(), dt.date(2026, 11, 28)) == []
    assert layout_problems(invoice, EINVOICE) == []
    pages = pages_of(render_invoice(invoice, EINVOICE))
    assert len(pages) == 2
    found = pages[0][2]
    rows = EINVOICE.items
    # The name wraps to two lines, both inside the first row: the second ends above where
    # the second row's text begins.
    parts = sorted((y, size) for t, places in found.items() for _, y, size in places
                   if t.startswith("*货物*长") or set(t) == {"长"})
    assert len(parts) == 2 and parts[0][0] == pytest.approx(rows.y, abs=0.1)
    second_row_top = rows.y + rows.pitch - rows.columns["name"].size * 0.8 / MM
    assert parts[1][0] + parts[1][1] * 0.2 / MM < second_row_top
    assert {"1.00000000000000", "33.3495145631068"} <= set(found)
