"""Synthetic invoice XML in the variants platforms issue, invoicing requests that are not
invoices, the tax platform's zip bundles, and hostile zips with the code each must get.

The 数电 documents follow the real files in tests/fixtures/real (element names, nesting,
the 0.36/0.37 header labels) and the traits DOMAIN.md records of others: 乐企 writes
不征税 as `*`, others `***` or the words; empty elements; elements nobody documents.
"""

from __future__ import annotations

import functools
import io
import zipfile
from decimal import Decimal
from typing import Any

from .kit import ROOT

REAL = ROOT / "tests" / "fixtures" / "real"
# Taxpayer IDs of the real files (all pass the GB 32100 check characters).
SELLER_TIN = "91320106751253359F"
BUYER_TIN = "9132020013590404XW"
NUMBER = "26322000000012345678"


def item(amount: str, rate: str = "0.13", tax: str | None = None, **extra: str) -> dict:
    """One IssuItemInformation: text exactly as written in the XML (rate may be `*`)."""
    if tax is None:
        tax = str((Decimal(amount) * Decimal(rate)).quantize(Decimal("0.01")))
    return {"ItemName": "*信息技术服务*软件维护", "SpecMod": "", "MeaUnits": "项",
            "Quantity": "", "UnPrice": "", "Amount": amount, "TaxRate": rate,
            "ComTaxAm": tax, **extra}


def _element(name: str, value: str, empty: str) -> str:
    if value:
        return f"<{name}>{value}</{name}>"
    return {"self": f"<{name}/>", "pair": f"<{name}></{name}>", "omit": ""}[empty]


def _money(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        return Decimal(0)  # `*`, `***`, 不征税: no tax; an empty amount


def einvoice_xml(items: list[dict] | None = None, *, number: str = NUMBER,
                 version: str = "0.37", vat: tuple[str, str] | None = ("01", "增值税专用发票"),
                 kind: tuple[str, str] | None = ("01", "电子发票"), encoding: str = "utf-8",
                 empty: str = "self", extra: bool = False, issue_time: str = "2026-06-04",
                 total_tag: str = "TotalTax-includedAmount", words: str | None = None,
                 root: str = "EInvoice", **basic: str) -> bytes:
    """A 数电 `<EInvoice>` document; totals and capitals follow from the items.

    `vat`/`kind`: the (LabelCode, LabelName) of GeneralOrSpecialVAT / EInvoiceType, or
    None to leave the label out. `empty`: how empty elements are written ("self" `<A/>`,
    "pair" `<A></A>`, "omit"). `extra`: add elements no schema documents (乐企 does).
    """
    from printstation.invoice import to_capitals

    items = items if items is not None else [item("100.00")]
    amount = sum((_money(i["Amount"]) for i in items), Decimal(0))
    tax = sum((_money(i["ComTaxAm"]) for i in items), Decimal(0))
    labels = "".join(f"<{tag}><LabelCode>{code}</LabelCode><LabelName>{name}</LabelName></{tag}>"
                     for tag, value in (("EInvoiceType", kind), ("GeneralOrSpecialVAT", vat))
                     if value for code, name in [value])
    odd = "<UnknownFlag>Y</UnknownFlag>" if extra else ""
    lines = "".join(
        "<IssuItemInformation>" + "".join(_element(k, v, empty) for k, v in i.items()) + odd
        + "</IssuItemInformation>" for i in items)
    fields: dict[str, Any] = {
        "TotalAmWithoutTax": amount, "TotalTaxAm": tax, total_tag: amount + tax,
        "TotalTax-includedAmountInChinese": to_capitals(amount + tax) if words is None
        else words, "Drawer": "方雨欣", "RequestTime": f"{issue_time} 09:38:46", **basic}
    basic_xml = "".join(_element(k, str(v), empty) for k, v in fields.items())
    text = f"""<?xml version="1.0" encoding="{encoding}" standalone="yes"?>
<{root}>
  <Header><EIid>{number}</EIid><EInvoiceTag>SWEI3200</EInvoiceTag><Version>{version}</Version>
    <InherentLabel>{labels}</InherentLabel></Header>
  <EInvoiceData>
    <SellerInformation><SellerIdNum>{SELLER_TIN}</SellerIdNum><SellerName>安元科技股份有限公司</SellerName>
      {_element("SellerAddr", "南京市江北新区江淼路88号", empty)}
      {_element("SellerTelNum", "", empty)}{_element("SellerBankName", "", empty)}
      {_element("SellerBankAccNum", "", empty)}{odd}
    </SellerInformation>
    <BuyerInformation><BuyerIdNum>{BUYER_TIN}</BuyerIdNum><BuyerName>江苏苏豪天鹏农产品集团有限公司</BuyerName>
      {_element("BuyerAddr", "", empty)}{_element("BuyerTelNum", "", empty)}</BuyerInformation>
    <BasicInformation>{basic_xml}{odd}</BasicInformation>
    {lines}
    <SpecificInformation/>
    <AdditionalInformation>{_element("Remark", "", empty)}</AdditionalInformation>
  </EInvoiceData>
  <TaxSupervisionInfo><InvoiceNumber>{number}</InvoiceNumber><IssueTime>{issue_time}</IssueTime>
    <TaxBureauCode>13200000000</TaxBureauCode><TaxBureauName>国家税务总局江苏省税务局</TaxBureauName>
  </TaxSupervisionInfo>
  {"<ptbh>174ba8fa83cf8ccb51c0</ptbh>" if extra else ""}
</{root}>
"""
    return text.encode("gb18030" if encoding.lower() in ("gbk", "gb2312") else encoding)


def legacy_xml(code: str = "052002100113") -> bytes:
    """The real legacy `<eInvoice>` file, with another invoice code if asked."""
    data = (REAL / "xml_legacy_eInvoice_zp_2022_guizhou.xml").read_bytes()
    return data.replace(b"052002100113", code.encode())


# Invoicing *requests* written by finance software for the invoicing program (航信/百旺
# interface files): well-formed XML, but no invoice has been issued from them yet.
FPKJ_REQUEST = """<?xml version="1.0" encoding="GBK"?>
<business id="FPKJ" comment="发票开具"><body yylxdm="1"><input>
<fplxdm>026</fplxdm><kplx>0</kplx><xhdwsbh>91320106751253359F</xhdwsbh>
<ghdwmc>江苏苏豪天鹏农产品集团有限公司</ghdwmc><hjje>100.00</hjje><hjse>13.00</hjse>
</input></body></business>""".encode("gbk")
KP_REQUEST = """<?xml version="1.0" encoding="GBK"?>
<Kp><Version>2.0</Version><Fpxx><Zsl>1</Zsl><Fpsj><Fp><Djh>20260604001</Djh>
<Gfmc>江苏苏豪天鹏农产品集团有限公司</Gfmc><Gfsh>9132020013590404XW</Gfsh>
<Spxx><Sph><Xh>1</Xh><Spmc>软件维护</Spmc><Je>100.00</Je><Sl>0.13</Sl></Sph></Spxx>
</Fp></Fpsj></Fpxx></Kp>""".encode("gbk")


def zip_of(members: dict[str, bytes] | list[tuple[str, bytes]]) -> bytes:
    """A zip holding `members` (name → bytes) exactly as named, deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in (members.items() if isinstance(members, dict) else members):
            zf.writestr(zipfile.ZipInfo(name, (2026, 6, 4, 9, 38, 46)), data,
                        zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def real_bundle(*names: str) -> bytes:
    """A bundle of real fixture files, named as the tax platform names its members."""
    return zip_of({f"dzfp_{n.rsplit('.', 1)[0]}.{n.rsplit('.', 1)[1]}": (REAL / n).read_bytes()
                   for n in names})


@functools.lru_cache(maxsize=1)
def zip_bomb(megabytes: int = 200) -> bytes:
    """One XML member of `megabytes` MB of zeros (about 200 KB compressed), written in
    chunks so that making it never holds the expanded bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("dzfp_26322000000012345678.xml", "w", force_zip64=True) as member:
        chunk = bytes(1 << 20)
        for _ in range(megabytes):
            member.write(chunk)
    return buf.getvalue()


def encrypted_zip() -> bytes:
    """A bundle whose member is flagged encrypted (bit 0 of the general-purpose flags, in
    the local header and the central directory), as a password-protected zip is."""
    data = bytearray(zip_of({"dzfp.xml": einvoice_xml()}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= 0x01
    return bytes(data)


def hostile_bundles() -> dict[str, tuple[bytes, str]]:
    """{name: (zip bytes, the code it must be refused with)}."""
    good = einvoice_xml()
    whole = zip_of({"dzfp.xml": good})
    return {
        "bomb.zip": (zip_bomb(), "file.too_complex"),
        "traversal.zip": (zip_of({"../../etc/cron.d/x": b"* * * * * root sh"}), "zip.unsafe"),
        "absolute.zip": (zip_of({"/tmp/x": b"x"}), "zip.unsafe"),
        "nested.zip": (zip_of({"inner.zip": whole}), "zip.contents"),
        "1000-members.zip": (zip_of({f"m{i}.xml": b"<a/>" for i in range(1000)}),
                             "file.too_complex"),
        "encrypted.zip": (encrypted_zip(), "zip.unsafe"),
        "truncated.zip": (whole[: len(whole) // 2], "parse.zip"),
        "not-a-zip.zip": (b"PK\x03\x04" + bytes(range(256)) * 4, "parse.zip"),
        "empty.zip": (zip_of({}), "zip.contents"),
        "folder.zip": (zip_of({"dzfp/dzfp.xml": good}), "zip.contents"),
        "two-pdfs.zip": (zip_of({"a.pdf": b"%PDF-1.4", "b.PDF": b"%PDF-1.4"}), "zip.contents"),
        "two-xmls.zip": (zip_of({"a.xml": good, "b.xml": good}), "zip.contents"),
        "other-type.zip": (zip_of({"dzfp.xml": good, "readme.txt": b"hi"}), "zip.contents"),
        "request.zip": (zip_of({"request.xml": FPKJ_REQUEST}), "file.not_invoice"),
        "broken-xml.zip": (zip_of({"dzfp.xml": good[:-40]}), "parse.xml"),
    }
