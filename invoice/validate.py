"""The validation rules of SPEC §7 over a built `Invoice`; every problem is reported.

Facts and vectors are in DOMAIN.md. Rounding is to the cent, half away from zero
(Decimal's ROUND_HALF_UP rounds away from zero for negative numbers too).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .capitals import to_capitals, words_match
from .model import KINDS, PAPER_KINDS, Invoice, Line, Party
from .problems import Problem, problem
from .tin import tin_problem

PAPER_MAX_LINES = 8
CENT = Decimal("0.01")

# Widths on the form in GBK bytes (a Chinese character is 2), DOMAIN.md. 备注 differs by
# vendor (Aisino 230, Baiwang special 184 / ordinary 138): we take the widest.
PARTY_BYTES = {"name": 100, "address_phone": 100, "bank_account": 100}
LINE_BYTES = {"name": 90, "spec": 40, "unit": 20}
INVOICE_BYTES = {"payee": 8, "reviewer": 8, "drawer": 8, "remarks": 230}
PARTIES = {"buyer": ("购买方", "buyer"), "seller": ("销售方", "seller")}
_CODE = re.compile(r"[0-9]{10}|[0-9]{12}")
_NUMBER = {8: re.compile(r"[0-9]{8}"), 20: re.compile(r"[0-9]{20}")}
# GB18030 spends at most 4 bytes on a character: a text of at most limit / 4 characters
# fits its width without being encoded.
_MAX_BYTES_PER_CHAR = 4


@dataclass(frozen=True)
class Rules:
    """The configurable part of validation (`[validation]` in the config)."""

    max_total: Decimal = Decimal("100000.00")
    line_tax_tolerance: Decimal = Decimal("0.06")
    invoice_tax_tolerance: Decimal = Decimal("1.27")
    rates: tuple[Decimal, ...] = tuple(Decimal(r) for r in ("0.13", "0.09", "0.06", "0.05",
                                                             "0.03", "0.01", "0"))


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def gbk_bytes(text: str) -> int:
    """Width of text on the form: GBK bytes (GB18030 for the rare characters beyond GBK)."""
    return len(text.encode("gb18030"))


def validate(invoice: Invoice, rules: Rules, today: dt.date) -> list[Problem]:
    found: list[Problem] = []
    found += _identity(invoice, today)
    found += _party(invoice.buyer, "buyer", tin_required=invoice.kind == "vat-special",
                    special=invoice.kind == "vat-special")
    found += _party(invoice.seller, "seller", tin_required=True, special=False)
    found += _lines(invoice, rules)
    found += _totals(invoice, rules)
    found += _widths(invoice)
    return found


def _identity(invoice: Invoice, today: dt.date) -> list[Problem]:
    found = []
    if invoice.kind not in KINDS:
        found.append(problem("invoice.kind", "kind", found=invoice.kind, allowed=", ".join(KINDS)))
    if invoice.code and not _CODE.fullmatch(invoice.code):
        found.append(problem("invoice.code", "code", found=invoice.code))
    if invoice.code:
        digits, expected, expected_zh = 8, "8 digits with a code", "有发票代码时应为 8 位数字"
    else:
        digits, expected, expected_zh = (20, "20 digits without a code (数电)",
                                         "无发票代码（数电票）时应为 20 位数字")
    if not _NUMBER[digits].fullmatch(invoice.number):
        found.append(problem("invoice.number", "number", found=invoice.number,
                             expected=expected, expected_zh=expected_zh))
    if invoice.date > today:
        found.append(problem("invoice.date", "date", found=invoice.date.isoformat(),
                             detail=f"the date is after today ({today.isoformat()})",
                             detail_zh=f"日期晚于今天（{today.isoformat()}）"))
    return found


def _party(party: Party, role: str, tin_required: bool, special: bool) -> list[Problem]:
    zh, en = PARTIES[role]
    found = []
    if not party.name.strip():
        found.append(problem("party.name", f"{role}.name", party=en, party_zh=zh))
    if party.tin:
        reason = tin_problem(party.tin)
        if reason:
            found.append(problem("party.tin", f"{role}.tin", party=en, party_zh=zh,
                                 found=party.tin, detail_zh=reason[0], detail=reason[1]))
    elif tin_required:
        found.append(problem("party.tin", f"{role}.tin", party=en, party_zh=zh, found="",
                             detail_zh="必填", detail="it is required"))
    if special:
        # A special invoice carries the buyer's address, phone, bank and account.
        for key, label_zh, label in (("address_phone", "地址、电话", "address and phone"),
                                     ("bank_account", "开户行及账号", "bank and account")):
            if not getattr(party, key).strip():
                found.append(problem(
                    "schema.missing", f"{role}.{key}",
                    detail_zh=f"专用发票必须填写{zh}{label_zh}。",
                    detail=f"A special invoice needs the {en}'s {label}."))
    return found


def _expected_tax(line: Line) -> Decimal:
    return cents(line.amount * line.rate)


def _lines(invoice: Invoice, rules: Rules) -> list[Problem]:
    found = []
    count = len(invoice.lines)
    if count == 0 or (invoice.kind in PAPER_KINDS and count > PAPER_MAX_LINES):
        found.append(problem(
            "line.count", "lines", found=count,
            expected=f"1 to {PAPER_MAX_LINES} on paper forms (more needs a sales list, "
                     "which is not supported)" if count else "at least 1",
            expected_zh=f"纸质发票为 1 至 {PAPER_MAX_LINES} 行（更多需要销货清单，不支持）"
            if count else "至少 1 行"))
    allowed = ", ".join(str(r) for r in rules.rates)
    for i, line in enumerate(invoice.lines):
        at = f"lines[{i}]"
        if line.quantity is not None and line.unit_price is not None:
            expected = cents(line.quantity * line.unit_price)
            if expected != line.amount:
                found.append(problem("line.amount", f"{at}.amount", found=line.amount,
                                     expected=expected))
        if line.rate not in rules.rates:
            found.append(problem("line.rate", f"{at}.rate", found=line.rate, allowed=allowed))
        expected_tax = _expected_tax(line)
        # 免税/不征税 lines have rate 0 and tax 0, with no tolerance.
        tolerance = Decimal(0) if line.rate == 0 else rules.line_tax_tolerance
        diff = abs(expected_tax - line.tax)
        if diff > tolerance:
            found.append(problem("line.tax", f"{at}.tax", found=line.tax, expected=expected_tax,
                                 diff=diff, tolerance=tolerance))
    return found


def _totals(invoice: Invoice, rules: Rules) -> list[Problem]:
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
    drift = sum((li.tax - _expected_tax(li) for li in invoice.lines), Decimal(0))
    if abs(drift) > rules.invoice_tax_tolerance:
        found.append(problem("total.tax_tolerance", "total_tax", found=drift,
                             tolerance=rules.invoice_tax_tolerance))
    if invoice.total_words and not words_match(invoice.total_words, invoice.total):
        expected = to_capitals(invoice.total) if invoice.total >= 0 else "-"
        found.append(problem("total.words", "total_words", found=invoice.total_words,
                             total=invoice.total, expected=expected))
    if invoice.total_amount > rules.max_total:
        found.append(problem("total.limit", "total_amount", found=invoice.total_amount,
                             limit=rules.max_total))
    return found


def _widths(invoice: Invoice) -> list[Problem]:
    found = []

    # Called only for a text long enough that it might not fit (see _MAX_BYTES_PER_CHAR):
    # most texts are decided by their length, without encoding them or naming the field.
    def check(text: str, limit: int, field: str) -> None:
        size = gbk_bytes(text)
        if size > limit:
            found.append(problem("text.too_long", field,
                                 detail=f"{size} bytes (GBK), the form holds {limit}",
                                 detail_zh=f"{size} 字节（GBK），票面最多 {limit} 字节"))

    for role in PARTIES:
        party = getattr(invoice, role)
        for key, limit in PARTY_BYTES.items():
            text = getattr(party, key)
            if len(text) * _MAX_BYTES_PER_CHAR > limit:
                check(text, limit, f"{role}.{key}")
    for i, line in enumerate(invoice.lines):
        for key, limit in LINE_BYTES.items():
            text = getattr(line, key)
            if len(text) * _MAX_BYTES_PER_CHAR > limit:
                check(text, limit, f"lines[{i}].{key}")
    for key, limit in INVOICE_BYTES.items():
        text = getattr(invoice, key)
        if len(text) * _MAX_BYTES_PER_CHAR > limit:
            check(text, limit, key)
    return found
