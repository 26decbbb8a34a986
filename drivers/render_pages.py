"""Which item lines go on which page, and the text of every field on each page.

Pre-printed stock is one numbered sheet: all of an invoice's lines must fit the form's
rows (validation refuses more, `line.count`), so there is one page. Plain paper (the
e-invoice) has no line limit (SPEC §7): lines that do not fit the item rows continue on
further pages, each with the same frame and header at the same geometry, 共N页 第M页 on
each, and the invoice's totals on the last page only.

The pages before the last print 小计, the sums of their own lines' 金额 and 税额, in the
totals row, and leave 价税合计, 备注 and 开票人 empty. We understand the tax platform's
multi-page 数电 invoices to read so (a 小计 on each page, 合计 and 价税合计 on the last; not
confirmed against a published layout rule, none was at hand), and it serves the clerk: each
sheet can be checked on its own, and no sheet but the last shows an amount that could be
taken for the invoice's total. A layout without a `total_label` field has nothing to label
a 小计 with, so its earlier pages leave the totals row empty rather than print sums under
a pre-printed or drawn 合计.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from printstation.config import FieldSpec, Stock
from printstation.invoice import Invoice, Line

# What the earlier pages of a continued invoice leave empty: the totals are the last page's.
LAST_PAGE_ONLY = ("total_amount", "total_tax", "total_words", "total", "remarks", "payee",
                  "reviewer", "drawer")


@dataclass(frozen=True)
class Page:
    """One page of an invoice: its number (from 1) of `count`, and its item lines."""

    number: int
    count: int
    first: int  # the index in `invoice.lines` of this page's first line
    lines: tuple[Line, ...]

    @property
    def last(self) -> bool:
        return self.number == self.count


def paginate(invoice: Invoice, stock: Stock) -> list[Page]:
    """The invoice's pages on this stock: one, unless plain paper needs more for its lines.

    On pre-printed stock the one page holds every line, even more than the form's rows:
    `overflow` says so, and rendering refuses rather than drop a line.
    """
    rows = stock.items.rows if stock.items is not None else 0
    lines = invoice.lines
    if not stock.plain_paper or rows == 0 or len(lines) <= rows:
        return [Page(1, 1, 0, lines)]
    count = -(-len(lines) // rows)
    return [Page(n + 1, count, n * rows, lines[n * rows:(n + 1) * rows]) for n in range(count)]


def overflow(page: Page, stock: Stock) -> int:
    """How many of the page's lines have no row on the form (pre-printed stock only)."""
    return max(0, len(page.lines) - stock.items.rows) if stock.items is not None else 0


def field_texts(invoice: Invoice, stock: Stock, page: Page | None = None) -> dict[str, str]:
    """The text printed in each named field of the form, on `page` (default: the only one)."""
    d = invoice.date
    texts = {
        "title": invoice.title or stock.title,
        "code": invoice.code, "number": invoice.number,
        "date": f"{d.year}年{d.month:02d}月{d.day:02d}日",
        "check_code": invoice.check_code, "machine_no": invoice.machine_no,
        "cipher": invoice.cipher,
        "buyer.name": invoice.buyer.name, "buyer.tin": invoice.buyer.tin,
        "buyer.address_phone": invoice.buyer.address_phone,
        "buyer.bank_account": invoice.buyer.bank_account,
        "seller.name": invoice.seller.name, "seller.tin": invoice.seller.tin,
        "seller.address_phone": invoice.seller.address_phone,
        "seller.bank_account": invoice.seller.bank_account,
        "total_label": "合计",
        "total_amount": f"¥{invoice.total_amount:.2f}",
        "total_tax": f"¥{invoice.total_tax:.2f}",
        # The ⊗ invoicing software prints before the capitals is drawn by the renderer:
        # the CJK font has no glyph for it.
        "total_words": invoice.total_words,
        "total": f"¥{invoice.total:.2f}",
        "remarks": invoice.remarks,
        "payee": invoice.payee, "reviewer": invoice.reviewer, "drawer": invoice.drawer,
        "page": "",
    }
    if page is None or page.count == 1:
        return texts
    texts["page"] = f"共{page.count}页 第{page.number}页"
    if not page.last:
        for name in LAST_PAGE_ONLY:
            texts[name] = ""
        if "total_label" in stock.fields:
            texts["total_label"] = "小计"
            texts["total_amount"] = f"¥{sum((li.amount for li in page.lines), Decimal(0)):.2f}"
            texts["total_tax"] = f"¥{sum((li.tax for li in page.lines), Decimal(0)):.2f}"
    return texts


def line_texts(line: Line) -> dict[str, str]:
    return {
        "name": line.name, "spec": line.spec, "unit": line.unit,
        "quantity": _number(line.quantity), "unit_price": _number(line.unit_price),
        "amount": f"{line.amount:.2f}", "rate": _rate(line.rate), "tax": f"{line.tax:.2f}",
    }


def placements(invoice: Invoice, stock: Stock,
               page: Page | None = None) -> list[tuple[str, FieldSpec, str, float]]:
    """(field path, spec, text, baseline y in mm) for every text on the page.

    Item cells are named by the line's index in the whole invoice (`lines[12].name` on
    page 2), so a problem names the line the clerk knows.
    """
    if page is None:
        page = paginate(invoice, stock)[0]
    texts = field_texts(invoice, stock, page)
    found = [(name, spec, texts.get(name, ""), spec.y) for name, spec in stock.fields.items()]
    items = stock.items
    if items is not None:
        for row, line in enumerate(page.lines[: items.rows]):
            y = items.y + row * items.pitch
            cells = line_texts(line)
            index = page.first + row
            found += [(f"lines[{index}].{name}", spec, cells.get(name, ""), y)
                      for name, spec in items.columns.items()]
    return found


def _number(value: Decimal | None) -> str:
    """Quantities and prices exactly as written (up to 6 decimals are common)."""
    return "" if value is None else format(value, "f")


def _rate(rate: Decimal) -> str:
    percent = format(rate * 100, "f")
    return (percent.rstrip("0").rstrip(".") if "." in percent else percent) + "%"


__all__ = ["Page", "field_texts", "line_texts", "overflow", "paginate", "placements"]
