"""Invoice XML: the 数电票 `<EInvoice>` document and the legacy `<fp:eInvoice>` one.

Parsed with defusedxml: no DTD, no entity expansion, no external entities. Any declared
encoding is accepted; expat only decodes UTF-8/16 and Latin-1 itself, so GBK-family text
is decoded here (as GB18030, their superset) and handed over as UTF-8.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from .limits import MAX_LINES
from .model import Invoice, Line, Party
from .problems import Problem, Refused, problem

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_GBK_FAMILY = {"gbk", "gb2312", "gb18030", "cp936", "x-gbk", "euc-cn", "gb_2312-80"}
_NUMBER = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,20})?")


def decode_xml(data: bytes) -> bytes:
    """UTF-8 bytes expat can parse; raises Refused(file.encoding) when undecodable."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    declared = _DECLARATION.match(data)
    encoding = declared.group(1).decode("ascii").lower() if declared else "utf-8"
    if encoding in ("utf-8", "utf8", "us-ascii", "ascii"):
        encoding = "utf-8"
    codec = "gb18030" if encoding in _GBK_FAMILY else encoding
    try:
        text = data.decode(codec)
    except LookupError:
        raise Refused(problem("file.encoding", detail=f"Unknown declared encoding {encoding}.",
                               detail_zh=f"声明的编码 {encoding} 未知。")) from None
    except UnicodeDecodeError as exc:
        raise Refused(problem("file.encoding",
                               detail=f"Not valid {encoding} at byte {exc.start}.",
                               detail_zh=f"第 {exc.start} 字节不是有效的 {encoding}。")) from None
    if declared:
        text = text.replace(declared.group(1).decode("ascii"), "utf-8", 1)
    try:
        # A codec such as UTF-7 can decode to unpaired surrogates: not text at all.
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Refused(problem("file.encoding",
                               detail=f"Not valid {encoding} at character {exc.start}.",
                               detail_zh=f"第 {exc.start} 个字符不是有效的 {encoding}。")) from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(el: Element | None, path: str) -> Element | None:
    """Descend by local names, ignoring namespaces: `_child(root, "A/B")`."""
    for name in path.split("/"):
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == name), None)
    return el


def _children(el: Element | None, name: str) -> list[Element]:
    return [] if el is None else [c for c in el if _local(c.tag) == name]


def _bounded(items: list[Element], r: _Reader) -> list[Element]:
    """An invoice's item lines, or none (with `line.count`) past MAX_LINES."""
    if len(items) <= MAX_LINES:
        return items
    r.problems.append(problem("line.count", "lines", found=len(items),
                              expected=f"at most {MAX_LINES}", expected_zh=f"最多 {MAX_LINES} 行"))
    return []


def _text(el: Element | None, path: str) -> str:
    found = _child(el, path)
    return (found.text or "").strip() if found is not None else ""


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def required(self, el: Element | None, path: str, field: str) -> str:
        value = _text(el, path)
        if not value:
            self.problems.append(problem("schema.missing", field,
                                         detail_zh=f"XML 缺少 {path}。",
                                         detail=f"The XML has no {path}."))
        return value

    def money(self, el: Element | None, path: str, field: str,
              required: bool = True) -> Decimal | None:
        text = _text(el, path).replace("¥", "").replace("￥", "").replace(",", "")
        if not text:
            if required:
                self.required(el, path, field)
            return None
        if not _NUMBER.fullmatch(text):
            self.problems.append(problem("schema.type", field, expected="a decimal number",
                                         expected_zh="数字", found=repr(text)))
            return None
        return Decimal(text)

    def rate(self, el: Element, path: str, field: str) -> Decimal | None:
        text = _text(el, path)
        if text in ("免税", "不征税", "***"):
            return Decimal(0)
        number = text[:-1] if text.endswith("%") else text
        if _NUMBER.fullmatch(number):
            return Decimal(number) / 100 if text.endswith("%") else Decimal(number)
        self.problems.append(problem("schema.type", field, expected="a tax rate",
                                     expected_zh="税率", found=repr(text)))
        return None

    def date(self, text: str, field: str) -> dt.date:
        m = re.match(r"([0-9]{4})[-年/]([0-9]{1,2})[-月/]([0-9]{1,2})", text)
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3])) if m else _bad_date()
        except ValueError:
            if text:
                self.problems.append(problem("invoice.date", field, found=text,
                                             detail="not a valid date",
                                             detail_zh="不是有效日期"))
            else:
                self.required(None, "IssueTime", field)
            return dt.date.min


def _bad_date() -> dt.date:
    raise ValueError


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _digital(root: Element, r: _Reader) -> dict[str, Any]:
    """数电票 <EInvoice>: 20-digit number, no code; printed on plain paper."""
    data = _child(root, "EInvoiceData")
    basic = _child(data, "BasicInformation")
    supervision = _child(root, "TaxSupervisionInfo")
    number = _text(supervision, "InvoiceNumber") or _text(root, "Header/EIid")
    if not number:
        r.required(supervision, "InvoiceNumber", "number")

    def party(role: str, p: str) -> Party:
        info = _child(data, f"{p}Information")
        return Party(name=_text(info, f"{p}Name"), tin=_text(info, f"{p}IdNum"),
                     address_phone=_join(_text(info, f"{p}Addr"), _text(info, f"{p}TelNum")),
                     bank_account=_join(_text(info, f"{p}BankName"),
                                        _text(info, f"{p}BankAccNum")))

    lines = []
    for i, item in enumerate(_bounded(_children(data, "IssuItemInformation"), r)):
        at = f"lines[{i}]."
        lines.append(Line(name=r.required(item, "ItemName", at + "name"),
                          spec=_text(item, "SpecMod"), unit=_text(item, "MeaUnits"),
                          quantity=r.money(item, "Quantity", at + "quantity", False),
                          unit_price=r.money(item, "UnPrice", at + "unit_price", False),
                          amount=r.money(item, "Amount", at + "amount"),
                          rate=r.rate(item, "TaxRate", at + "rate"),
                          tax=r.money(item, "ComTaxAm", at + "tax")))
    issued = _text(supervision, "IssueTime") or _text(basic, "RequestTime")
    return dict(kind="einvoice", code="", number=number, date=r.date(issued, "date"),
                buyer=party("buyer", "Buyer"), seller=party("seller", "Seller"),
                lines=tuple(lines),
                total_amount=r.money(basic, "TotalAmWithoutTax", "total_amount"),
                total_tax=r.money(basic, "TotalTaxAm", "total_tax"),
                total=r.money(basic, "TotalTax-includedAmount", "total"),
                total_words=_text(basic, "TotalTax-includedAmountInChinese"),
                drawer=_text(basic, "Drawer"),
                remarks=_text(data, "AdditionalInformation/Remark"))


def _legacy(root: Element, r: _Reader) -> dict[str, Any]:
    """Pre-数电 e-invoice <fp:eInvoice>: 12-digit code and 8-digit number."""
    buyer, seller = _child(root, "Buyer"), _child(root, "Seller")
    lines = []
    for i, item in enumerate(_bounded(_children(_child(root, "GoodsInfos"), "GoodsInfo"), r)):
        at = f"lines[{i}]."
        lines.append(Line(name=r.required(item, "Item", at + "name"),
                          spec=_text(item, "Specification"),
                          unit=_text(item, "MeasurementDimension"),
                          quantity=r.money(item, "Quantity", at + "quantity", False),
                          unit_price=r.money(item, "Price", at + "unit_price", False),
                          amount=r.money(item, "Amount", at + "amount"),
                          rate=r.rate(item, "TaxScheme", at + "rate"),
                          tax=r.money(item, "TaxAmount", at + "tax")))
    cipher = "\n".join(part.strip() for part in _text(root, "TaxControlCode").splitlines())
    return dict(kind="einvoice", code=r.required(root, "InvoiceCode", "code"),
                number=r.required(root, "InvoiceNo", "number"),
                date=r.date(_text(root, "IssueDate"), "date"),
                buyer=Party(_text(buyer, "BuyerName"), _text(buyer, "BuyerTaxID"),
                            _text(buyer, "BuyerAddrTel"), _text(buyer, "BuyerFinancialAccount")),
                seller=Party(_text(seller, "SellerName"), _text(seller, "SellerTaxID"),
                             _text(seller, "SellerAddrTel"),
                             _text(seller, "SellerFinancialAccount")),
                lines=tuple(lines),
                total_amount=r.money(root, "TaxExclusiveTotalAmount", "total_amount"),
                total_tax=r.money(root, "TaxTotalAmount", "total_tax"),
                total=r.money(root, "TaxInclusiveTotalAmount", "total"),
                check_code=_text(root, "InvoiceCheckCode"), machine_no=_text(root, "MachineNo"),
                cipher=cipher, remarks=_text(root, "Note"), payee=_text(root, "Payee"),
                reviewer=_text(root, "Checker"), drawer=_text(root, "InvoiceClerk"))


def read_xml(data: bytes) -> tuple[Invoice | None, list[Problem]]:
    """One invoice from an XML file, or the problems that stop it."""
    try:
        root = fromstring(decode_xml(data), forbid_dtd=True)
    except Refused as exc:
        return None, [exc.problem]
    except DefusedXmlException as exc:
        return None, [problem("parse.xml", detail=f"{type(exc).__name__}: DTDs and entities are "
                              "not allowed", detail_zh="不允许 DTD 和实体声明")]
    except ParseError as exc:
        line, column = exc.position
        return None, [problem("parse.xml", detail=f"line {line} column {column}: {exc.msg}"
                              if hasattr(exc, "msg") else str(exc),
                              detail_zh=f"第 {line} 行第 {column} 列")]
    name = _local(root.tag)
    reader = {"EInvoice": _digital, "eInvoice": _legacy}.get(name)
    if reader is None:
        return None, [problem("parse.xml", detail=f"root element <{name}>, expected "
                              "<EInvoice> (数电) or <eInvoice>",
                              detail_zh=f"根元素 <{name}>，应为 <EInvoice>（数电）或 <eInvoice>")]
    r = _Reader()
    fields = reader(root, r)
    if not fields["lines"]:
        r.problems.append(problem("line.count", "lines", found=0, expected="at least 1",
                                  expected_zh="至少 1 行"))
    if r.problems:
        return None, r.problems
    return Invoice(**fields), []
