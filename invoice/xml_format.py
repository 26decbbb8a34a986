"""Invoice XML: the 数电票 `<EInvoice>` document and the legacy `<fp:eInvoice>` one.

Parsed with defusedxml: no DTD, no entity expansion, no external entities. Any declared
encoding is accepted; expat only decodes UTF-8/16 and Latin-1 itself, so GBK-family text
is decoded here (as GB18030, their superset) and handed over as UTF-8.

Every variant the platforms issue reads alike (SPEC §6.2): 乐企 writes 不征税 as `*`,
others `***` or the words; elements may be empty or missing or named as another schema
version names them; unknown ones are ignored. Well-formed XML with any other root (an
invoicing request such as <business id="FPKJ"> or <Kp>) is `file.not_invoice`: it is
readable, just not an issued invoice, and the clerk is told so rather than "bad XML".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
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


def _text(el: Element | None, *paths: str) -> str:
    """The text of the first of `paths` that is present and not empty, else "".

    Platforms and schema versions name a few elements differently (the invoice total is
    TotalTax-includedAmount in 0.36/0.37 and TotalTaxIncludedAmount elsewhere), so a
    value may be looked for under each of its names. An empty element is an absent value.
    """
    for path in paths:
        found = _child(el, path)
        if found is not None and (found.text or "").strip():
            return (found.text or "").strip()
    return ""


# How 不征税 and 免税 lines write their rate and tax: 乐企 platforms `*`, others `***` or
# the words. Such a line has rate 0 and tax 0 (SPEC §7 line.rate).
_NOT_TAXED = re.compile(r"\*+|不征税|免税|免征税?")
_DATE = re.compile(r"([0-9]{4})[-年/.]([0-9]{1,2})[-月/.]([0-9]{1,2})"
                   r"|([0-9]{4})([0-9]{2})([0-9]{2})(?![0-9])")


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

    def money(self, el: Element | None, field: str, *paths: str,
              required: bool = True) -> Decimal | None:
        text = _text(el, *paths).replace("¥", "").replace("￥", "").replace(",", "")
        if not text:
            if required:
                self.required(el, paths[0], field)
            return None
        if not _NUMBER.fullmatch(text):
            self.problems.append(problem("schema.type", field, expected="a decimal number",
                                         expected_zh="数字", found=repr(text[:40])))
            return None
        return Decimal(text)

    def tax(self, el: Element, field: str, *paths: str) -> Decimal | None:
        if _NOT_TAXED.fullmatch(_text(el, *paths)):
            return Decimal(0)
        return self.money(el, field, *paths)

    def rate(self, el: Element, path: str, field: str, tax_path: str) -> Decimal | None:
        text = _text(el, path)
        # An empty rate beside a `*` tax is the same 不征税 line written more sparingly.
        if _NOT_TAXED.fullmatch(text) or (not text and _NOT_TAXED.fullmatch(_text(el, tax_path))):
            return Decimal(0)
        if not text:
            self.required(el, path, field)
            return None
        number = text[:-1] if text.endswith("%") else text
        if _NUMBER.fullmatch(number):
            return Decimal(number) / 100 if text.endswith("%") else Decimal(number)
        self.problems.append(problem("schema.type", field, expected="a tax rate",
                                     expected_zh="税率", found=repr(text[:40])))
        return None

    def date(self, text: str, field: str) -> dt.date:
        """2026-06-04, 2026-06-04 09:38:46, 2022年05月05日, 2026/6/4 or 20260604."""
        m = _DATE.match(text)
        try:
            if m is None:
                raise ValueError
            year, month, day = (int(g) for g in (m.groups()[:3] if m[1] else m.groups()[3:]))
            return dt.date(year, month, day)
        except ValueError:
            if text:
                self.problems.append(problem("invoice.date", field, found=text[:40],
                                             detail="not a valid date",
                                             detail_zh="不是有效日期"))
            else:
                self.required(None, "IssueTime", field)
            return dt.date.min


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


_VAT_KINDS = {"01": "增值税专用发票", "02": "普通发票"}


def _digital_title(header: Element | None) -> str:
    """电子发票（增值税专用发票） or 电子发票（普通发票）, from Header/InherentLabel.

    GeneralOrSpecialVAT says special or ordinary (code 01/02, or its label name);
    EInvoiceType says 电子发票 (code 01). Anything else is printed under the stock's own
    title rather than under a title the station would have to invent.
    """
    label = _child(header, "InherentLabel")
    vat_code, vat_name = (_text(label, f"GeneralOrSpecialVAT/{k}") for k in ("LabelCode",
                                                                          "LabelName"))
    vat = _VAT_KINDS.get(vat_code) or (vat_name if vat_name in _VAT_KINDS.values() else "")
    kind_code, kind_name = (_text(label, f"EInvoiceType/{k}") for k in ("LabelCode",
                                                                     "LabelName"))
    electronic = kind_code == "01" or (not kind_code and kind_name in ("", "电子发票"))
    return f"电子发票（{vat}）" if vat and electronic else ""


def _digital(root: Element, r: _Reader) -> dict[str, Any]:
    """数电票 <EInvoice>: 20-digit number, no code; printed on plain paper.

    Read alike from every schema version seen (0.2 to 0.37) and every platform: elements
    are looked for by local name wherever versions put them, empty ones are absent
    values, and elements the reader does not know (乐企 adds its own) are ignored.
    """
    data = _child(root, "EInvoiceData")
    basic = _child(data, "BasicInformation")
    supervision = _child(root, "TaxSupervisionInfo")
    number = _text(supervision, "InvoiceNumber") or _text(basic, "InvoiceNumber") or \
        _text(root, "Header/EIid")
    if not number:
        r.required(supervision, "InvoiceNumber", "number")

    def party(p: str) -> Party:
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
                          quantity=r.money(item, at + "quantity", "Quantity", required=False),
                          unit_price=r.money(item, at + "unit_price", "UnPrice",
                                             required=False),
                          amount=r.money(item, at + "amount", "Amount"),
                          rate=r.rate(item, "TaxRate", at + "rate", "ComTaxAm"),
                          tax=r.tax(item, at + "tax", "ComTaxAm", "TaxAm")))
    issued = _text(supervision, "IssueTime") or _text(basic, "IssueTime", "RequestTime")
    return dict(kind="einvoice", code="", number=number, date=r.date(issued, "date"),
                buyer=party("Buyer"), seller=party("Seller"), lines=tuple(lines),
                total_amount=r.money(basic, "total_amount", "TotalAmWithoutTax"),
                total_tax=r.money(basic, "total_tax", "TotalTaxAm"),
                total=r.money(basic, "total", "TotalTax-includedAmount",
                              "TotalTaxIncludedAmount", "TotalTaxincludedAmount"),
                total_words=_text(basic, "TotalTax-includedAmountInChinese",
                                  "TotalTaxIncludedAmountInChinese"),
                drawer=_text(basic, "Drawer"),
                remarks=_text(data, "AdditionalInformation/Remark", "BasicInformation/Remark"),
                title=_digital_title(_child(root, "Header")))


def _legacy_title(code: str) -> str:
    """The title a pre-数电 e-invoice is issued under, from its code's type digits (11–12):
    11 增值税电子普通发票 (STA 2015 No. 84), 13 增值税电子专用发票 (STA 2020 No. 22)."""
    kinds = {"11": "增值税电子普通发票", "13": "增值税电子专用发票"}
    return kinds.get(code[10:], "") if re.fullmatch(r"0[0-9]{11}", code) else ""


def _legacy(root: Element, r: _Reader) -> dict[str, Any]:
    """Pre-数电 e-invoice <fp:eInvoice>: 12-digit code and 8-digit number."""
    buyer, seller = _child(root, "Buyer"), _child(root, "Seller")
    lines = []
    for i, item in enumerate(_bounded(_children(_child(root, "GoodsInfos"), "GoodsInfo"), r)):
        at = f"lines[{i}]."
        lines.append(Line(name=r.required(item, "Item", at + "name"),
                          spec=_text(item, "Specification"),
                          unit=_text(item, "MeasurementDimension"),
                          quantity=r.money(item, at + "quantity", "Quantity", required=False),
                          unit_price=r.money(item, at + "unit_price", "Price", required=False),
                          amount=r.money(item, at + "amount", "Amount"),
                          rate=r.rate(item, "TaxScheme", at + "rate", "TaxAmount"),
                          tax=r.tax(item, at + "tax", "TaxAmount")))
    cipher = "\n".join(part.strip() for part in _text(root, "TaxControlCode").splitlines())
    code = r.required(root, "InvoiceCode", "code")
    return dict(kind="einvoice", code=code, number=r.required(root, "InvoiceNo", "number"),
                date=r.date(_text(root, "IssueDate"), "date"),
                buyer=Party(_text(buyer, "BuyerName"), _text(buyer, "BuyerTaxID"),
                            _text(buyer, "BuyerAddrTel"), _text(buyer, "BuyerFinancialAccount")),
                seller=Party(_text(seller, "SellerName"), _text(seller, "SellerTaxID"),
                             _text(seller, "SellerAddrTel"),
                             _text(seller, "SellerFinancialAccount")),
                lines=tuple(lines),
                total_amount=r.money(root, "total_amount", "TaxExclusiveTotalAmount"),
                total_tax=r.money(root, "total_tax", "TaxTotalAmount"),
                total=r.money(root, "total", "TaxInclusiveTotalAmount"),
                check_code=_text(root, "InvoiceCheckCode"), machine_no=_text(root, "MachineNo"),
                cipher=cipher, remarks=_text(root, "Note"), payee=_text(root, "Payee"),
                reviewer=_text(root, "Checker"), drawer=_text(root, "InvoiceClerk"),
                title=_legacy_title(code))


def _reader(root: Element) -> Callable[[Element, _Reader], dict[str, Any]] | None:
    """The reader for an issued invoice's root, None for any other document."""
    name = _local(root.tag)
    if name == "EInvoice":
        return _digital
    if name == "eInvoice":
        return _legacy
    if name.lower() == "einvoice":
        # Case varies in hand-made exports; the 数电 document is the one with EInvoiceData.
        return _digital if _child(root, "EInvoiceData") is not None else _legacy
    return None


def _not_invoice(root: Element) -> Problem:
    """`file.not_invoice` naming the root: well-formed XML, but not an issued invoice.

    Finance software also writes invoicing *requests* (航信/百旺 interface files such as
    <business id="FPKJ" comment="发票开具"> or <Kp><Version>2.0</Version>): they ask for an
    invoice to be issued and carry no invoice number, so they are named as such.
    """
    name = _local(root.tag)[:40]
    ident = (root.get("id") or "")[:20]
    shown = f'<{name} id="{ident}">' if ident else f"<{name}>"
    if name.lower() in ("business", "kp") or "FPKJ" in (name + ident).upper():
        return problem("file.not_invoice",
                       detail=f"an invoicing request, root element {shown}; print the invoice "
                       "issued from it (its XML, PDF or OFD)",
                       detail_zh=f"这是开票请求，根元素 {shown}；请打印据此开具的发票"
                       "（发票的 XML、PDF 或 OFD 文件）")
    return problem("file.not_invoice",
                   detail=f"root element {shown}; an issued invoice's XML has the root "
                   "<EInvoice> (数电) or <eInvoice>",
                   detail_zh=f"根元素为 {shown}；已开具发票的 XML 根元素为 <EInvoice>（数电）"
                   "或 <eInvoice>")


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
    reader = _reader(root)
    if reader is None:
        return None, [_not_invoice(root)]
    r = _Reader()
    fields = reader(root, r)
    if not fields["lines"]:
        r.problems.append(problem("line.count", "lines", found=0, expected="at least 1",
                                  expected_zh="至少 1 行"))
    if r.problems:
        return None, r.problems
    return Invoice(**fields), []
