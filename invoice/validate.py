"""Validation rules of SPEC §7 over a built `Invoice`; every problem is reported."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from .model import KINDS, PAPER_KINDS, Invoice
from .problems import Problem, problem

PAPER_MAX_LINES = 8


@dataclass(frozen=True)
class Rules:
    """The configurable part of validation (`[validation]` in the config)."""

    max_total: Decimal = Decimal("100000.00")
    line_tax_tolerance: Decimal = Decimal("0.06")
    invoice_tax_tolerance: Decimal = Decimal("1.27")
    rates: tuple[Decimal, ...] = tuple(Decimal(r) for r in ("0.13", "0.09", "0.06", "0.05",
                                                             "0.03", "0.01", "0"))


def validate(invoice: Invoice, rules: Rules, today: dt.date) -> list[Problem]:
    found: list[Problem] = []
    if invoice.kind not in KINDS:
        found.append(problem("invoice.kind", "kind", found=invoice.kind, allowed=", ".join(KINDS)))
    if invoice.code and not re.fullmatch(r"\d{10}|\d{12}", invoice.code):
        found.append(problem("invoice.code", "code", found=invoice.code))
    want = (8, "8 digits with a code", "有发票代码时应为 8 位数字") if invoice.code else \
        (20, "20 digits without a code (数电)", "无发票代码（数电票）时应为 20 位数字")
    if not re.fullmatch(rf"\d{{{want[0]}}}", invoice.number):
        found.append(problem("invoice.number", "number", found=invoice.number,
                             expected=want[1], expected_zh=want[2]))
    if invoice.date > today:
        found.append(problem("invoice.date", "date", found=invoice.date.isoformat(),
                             detail="the date is in the future", detail_zh="日期在未来"))
    if not invoice.lines or (invoice.kind in PAPER_KINDS and len(invoice.lines) > PAPER_MAX_LINES):
        found.append(problem("line.count", "lines", found=len(invoice.lines),
                             expected=f"1 to {PAPER_MAX_LINES} on paper forms",
                             expected_zh=f"纸质发票为 1 至 {PAPER_MAX_LINES} 行"))
    found.extend(_totals(invoice))
    return found


def _totals(invoice: Invoice) -> list[Problem]:
    found = []
    amount = sum((li.amount for li in invoice.lines), Decimal(0))
    tax = sum((li.tax for li in invoice.lines), Decimal(0))
    if invoice.total_amount != amount:
        found.append(problem("total.amount", "total_amount", found=invoice.total_amount,
                             expected=amount))
    if invoice.total_tax != tax:
        found.append(problem("total.tax", "total_tax", found=invoice.total_tax, expected=tax))
    if invoice.total != invoice.total_amount + invoice.total_tax:
        found.append(problem("total.sum", "total", found=invoice.total,
                             expected=invoice.total_amount + invoice.total_tax))
    return found
