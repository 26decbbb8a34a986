"""The SPEC §6 JSON invoice format: one invoice object, or `{"invoices": [...]}`.

Text is UTF-8 (with or without BOM) or GB18030. Money arrives as decimal strings; JSON
numbers are kept exactly as written (parsed straight to `Decimal`, never through float).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, DecimalException
from typing import Any

from .limits import MAX_INVOICES, MAX_LINES, bad_text
from .model import Invoice, Line, Party
from .problems import Problem, Refused, problem

_DECIMAL = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,20})?")
# Money and quantities stay well inside Decimal's 28 digits: no overflow when rounding.
MAX_MAGNITUDE = Decimal(10) ** 15
MAX_DECIMALS = 20


def decode(data: bytes) -> str:
    """UTF-8 (BOM allowed), else GB18030; anything else is `file.encoding`."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise Refused(problem("file.encoding", detail="UTF-16 is not accepted.",
                              detail_zh="不接受 UTF-16。"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise Refused(problem("file.encoding", detail=f"Undecodable byte at offset {exc.start}.",
                              detail_zh=f"第 {exc.start} 字节无法解码。")) from None


def parse_document(data: bytes) -> tuple[list[Any], Problem | None]:
    """The invoice objects of a JSON file (one, or a batch), or the file-level problem."""
    try:
        text = decode(data)
        doc = json.loads(text, parse_float=Decimal, parse_int=Decimal,
                         parse_constant=_no_constant, object_pairs_hook=_no_duplicate_keys)
    except Refused as exc:
        return [], exc.problem
    except json.JSONDecodeError as exc:
        return [], problem("parse.json", detail=f"line {exc.lineno} column {exc.colno}: {exc.msg}",
                           detail_zh=f"第 {exc.lineno} 行第 {exc.colno} 列（{exc.msg}）")
    except ValueError as exc:
        return [], problem("parse.json", detail=str(exc), detail_zh=f"内容不合法（{exc}）")
    except RecursionError:
        return [], problem("parse.json", detail="nested too deeply", detail_zh="嵌套层数过多")
    except DecimalException:
        return [], problem("parse.json", detail="a number too large to read",
                           detail_zh="数字过大，无法读取")
    # A lone surrogate can only come from a `\u` escape: neither UTF-8 nor GB18030 decodes
    # to one. Without an escape in the text there is nothing to look for, and the walk
    # over every string of the document is most of the cost of reading it.
    broken = bad_text(doc) if "\\u" in text else None
    if broken is not None:
        return [], problem("file.encoding", broken, detail=f"{broken} is not valid text "
                           "(an unpaired \\uD800-\\uDFFF escape)",
                           detail_zh=f"{broken} 不是有效文字（含未成对的 \\uD800-\\uDFFF 转义）")
    if isinstance(doc, dict) and "invoices" in doc:
        batch = doc["invoices"]
        if not isinstance(batch, list) or not batch:
            return [], problem("schema.type", "invoices", expected="a non-empty list",
                               expected_zh="非空数组", found=_kind(batch))
        if len(batch) > MAX_INVOICES:
            return [], problem("file.too_complex", "invoices",
                               detail=f"{len(batch)} invoices, at most {MAX_INVOICES} a file",
                               detail_zh=f"{len(batch)} 张发票，每个文件最多 {MAX_INVOICES} 张")
        return batch, None
    return [doc], None


def build_invoice(obj: Any) -> tuple[Invoice | None, list[Problem]]:
    """Check the shape of one invoice object and build the model; all problems at once."""
    b = _Builder()
    if not isinstance(obj, dict):
        return None, [problem("schema.type", "", expected="an object", expected_zh="对象",
                              found=_kind(obj))]
    kind = b.text(obj, "kind", required=True)
    number = b.text(obj, "number", required=True)
    code = b.text(obj, "code")
    date = b.date(obj, "date")
    buyer = b.party(obj, "buyer")
    seller = b.party(obj, "seller")
    lines = b.lines(obj)
    totals = [b.money(obj, k, required=True) for k in ("total_amount", "total_tax", "total")]
    extras = {k: b.text(obj, k) for k in ("total_words", "check_code", "machine_no", "cipher",
                                          "remarks", "payee", "reviewer", "drawer", "title")}
    printer = obj.get("printer")
    if printer is not None and not isinstance(printer, str):
        b.wrong("printer", "a string or null", "字符串或 null", printer)
    if b.problems:
        return None, b.problems
    invoice = Invoice(kind=kind, code=code, number=number, date=date, buyer=buyer,
                      seller=seller, lines=tuple(lines), total_amount=totals[0],
                      total_tax=totals[1], total=totals[2], printer=printer or None, **extras)
    return invoice, []


def invoice_from_dict(obj: dict[str, Any]) -> Invoice:
    """Rebuild an invoice stored with `Invoice.to_dict()` (trusted: it was checked before)."""
    invoice, problems = build_invoice(obj)
    if invoice is None:
        raise ValueError(f"stored invoice is malformed: {problems[0].en}")
    return invoice


class _Builder:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def wrong(self, field: str, expected: str, expected_zh: str, value: Any) -> None:
        self.problems.append(problem("schema.type", field, expected=expected,
                                     expected_zh=expected_zh, found=_kind(value)))

    def text(self, obj: dict, key: str, prefix: str = "", required: bool = False) -> str:
        if key not in obj or obj[key] is None:
            if required:
                self.problems.append(problem("schema.missing", prefix + key))
            return ""
        value = obj[key]
        if not isinstance(value, str):
            self.wrong(prefix + key, "a string", "字符串", value)
            return ""
        return value

    def money(self, obj: dict, key: str, prefix: str = "",
              required: bool = False) -> Decimal | None:
        value = obj.get(key)
        if value is None or value == "":
            if required:
                self.problems.append(problem("schema.missing", prefix + key))
            return None
        if isinstance(value, Decimal) and value.is_finite() and abs(value) < MAX_MAGNITUDE \
                and value.as_tuple().exponent >= -MAX_DECIMALS:
            return value
        if isinstance(value, str) and _DECIMAL.fullmatch(value):
            return Decimal(value)
        self.wrong(prefix + key, 'a decimal string such as "1130.00" (below 10^15, at most 20 '
                   'decimals)', '数字字符串，如 "1130.00"（小于 10^15，最多 20 位小数）', value)
        return None

    def date(self, obj: dict, key: str) -> dt.date:
        text = self.text(obj, key, required=True)
        try:
            return dt.date.fromisoformat(text) if len(text) == 10 else _bad_date()
        except ValueError:
            if text:
                self.problems.append(problem("invoice.date", key, found=text,
                                             detail="expected YYYY-MM-DD",
                                             detail_zh="应为 YYYY-MM-DD 格式的有效日期"))
            return dt.date.min

    def party(self, obj: dict, key: str) -> Party:
        value = obj.get(key)
        if not isinstance(value, dict):
            if value is None:
                self.problems.append(problem("schema.missing", key))
            else:
                self.wrong(key, "an object", "对象", value)
            return Party("", "")
        p = key + "."
        return Party(self.text(value, "name", p, True), self.text(value, "tin", p),
                     self.text(value, "address_phone", p), self.text(value, "bank_account", p))

    def lines(self, obj: dict) -> list[Line]:
        value = obj.get("lines")
        if not isinstance(value, list):
            if value is None:
                self.problems.append(problem("schema.missing", "lines"))
            else:
                self.wrong("lines", "a list", "数组", value)
            return []
        if len(value) > MAX_LINES:
            self.problems.append(problem("line.count", "lines", found=len(value),
                                         expected=f"at most {MAX_LINES}",
                                         expected_zh=f"最多 {MAX_LINES} 行"))
            return []
        lines = []
        for i, item in enumerate(value):
            p = f"lines[{i}]."
            if not isinstance(item, dict):
                self.wrong(p.rstrip("."), "an object", "对象", item)
                continue
            amount, rate, tax = (self.money(item, k, p, True) for k in ("amount", "rate", "tax"))
            lines.append(Line(
                name=self.text(item, "name", p, True), spec=self.text(item, "spec", p),
                unit=self.text(item, "unit", p), quantity=self.money(item, "quantity", p),
                unit_price=self.money(item, "unit_price", p), amount=amount, rate=rate, tax=tax,
            ))
        return lines


def _bad_date() -> dt.date:
    raise ValueError("not YYYY-MM-DD")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Built in one call (this runs for every object of every file); only a dict that came
    # out shorter than its pairs had a key twice, and then the first repeat is named.
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f'key "{key}" appears twice')
            seen.add(key)
    return result


def _kind(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", Decimal: "number",
             type(None): "null"}
    return names.get(type(value), type(value).__name__)
