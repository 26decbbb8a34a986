"""The layout check of validation: does every text of an invoice fit its box on the stock?

`render.layout_problems` says which texts do not fit, and how to say so; validation runs it
for every valid invoice (issue 19: 7,000 invoices a second), and nearly every invoice has
no such problem. So the question is first asked the fast way, as a yes or no, and only an
invoice that is not plainly fine is laid out in full by `render.layout_problems`, whose
answer is the verdict. The two agree by construction (the quick way is `fit.fits`, which is
`fit_text` without its answer built) and by test (tests/test_fit_memo.py compares them
invoice by invoice).
"""

from __future__ import annotations

import threading

from printstation.config import FieldSpec, Stock
from printstation.invoice import Invoice, Problem

from .fit import fit_cipher, fits, plain_lengths
from .fonts import ensure_font
from .render import layout_problems
from .render_pages import field_texts, line_texts, overflow, paginate

# (field name, spec, most characters of any text, of an ASCII text, that plainly fit).
_Boxes = list[tuple[str, FieldSpec, int, int]]
# Per stock object and font: its boxes' lengths (`fit.plain_lengths`), worked out once. A
# reloaded stock is a new object, so it gets its own; the entry holds the stock, so its id
# is not reused while the entry lives. A few stocks are loaded at a time: 64 entries are
# room for many reloads, and then the oldest goes.
_PLANS: dict[tuple[int, str], tuple[Stock, _Boxes, _Boxes]] = {}
_PLANS_MAX = 64
_lock = threading.Lock()


def check_layout(invoice: Invoice, stock: Stock) -> list[Problem]:
    """The same problems as `render.layout_problems(invoice, stock)`, found faster."""
    return [] if _plainly_fits(invoice, stock) else layout_problems(invoice, stock)


def _plainly_fits(invoice: Invoice, stock: Stock) -> bool:
    """True when the invoice is one page, has a row for every line, and every text fits;
    False when any of it is not so (the full check then says what)."""
    pages = paginate(invoice, stock)
    if len(pages) != 1 or overflow(pages[0], stock):
        return False
    font = ensure_font()
    page = pages[0]
    fields, columns = _plan(stock, font)
    # As `render_pages.placements` lays out a page: every named field, then the cells of
    # each line that has a row. A printable text (no line breaks) within its box's lengths
    # fits without a call; any other text is asked of `fits`.
    texts = field_texts(invoice, stock, page)
    for name, spec, most, most_ascii in fields:
        text = texts.get(name, "")
        if not text:
            continue
        if name == "cipher":
            if fit_cipher(text, spec) is None:
                return False
        elif (len(text) > (most_ascii if text.isascii() else most) or
              not text.isprintable()) and not fits(text, spec, font):
            return False
    if stock.items is not None:
        for line in page.lines[: stock.items.rows]:
            cells = line_texts(line)
            for name, spec, most, most_ascii in columns:
                text = cells.get(name, "")
                if text and (len(text) > (most_ascii if text.isascii() else most) or
                             not text.isprintable()) and not fits(text, spec, font):
                    return False
    return True


def _plan(stock: Stock, font: str) -> tuple[_Boxes, _Boxes]:
    key = (id(stock), font)
    found = _PLANS.get(key)
    if found is not None and found[0] is stock:
        return found[1], found[2]
    fields = [(name, spec, *plain_lengths(spec, font)) for name, spec in stock.fields.items()]
    columns = [(name, spec, *plain_lengths(spec, font))
               for name, spec in (stock.items.columns.items() if stock.items else ())]
    with _lock:
        if len(_PLANS) >= _PLANS_MAX:
            del _PLANS[next(iter(_PLANS))]
        _PLANS[key] = (stock, fields, columns)
    return fields, columns
