"""The invoice domain model: immutable, money as `Decimal`, never float."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Kinds of SPEC §6, and which of them print on pre-printed paper forms.
KINDS = ("vat-special", "vat-ordinary", "vat-roll-76", "einvoice")
PAPER_KINDS = frozenset({"vat-special", "vat-ordinary", "vat-roll-76"})


@dataclass(frozen=True)
class Party:
    name: str
    tin: str
    address_phone: str = ""
    bank_account: str = ""


@dataclass(frozen=True)
class Line:
    name: str
    amount: Decimal
    rate: Decimal
    tax: Decimal
    spec: str = ""
    unit: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None


@dataclass(frozen=True)
class Invoice:
    kind: str
    code: str
    number: str
    date: dt.date
    buyer: Party
    seller: Party
    lines: tuple[Line, ...]
    total_amount: Decimal
    total_tax: Decimal
    total: Decimal
    total_words: str = ""
    check_code: str = ""
    machine_no: str = ""
    cipher: str = ""
    remarks: str = ""
    payee: str = ""
    reviewer: str = ""
    drawer: str = ""
    printer: str | None = None
    # The title as issued (电子发票（增值税专用发票） or （普通发票）), printed on plain-paper
    # e-invoices; "" prints the stock's own title.
    title: str = ""

    @property
    def key(self) -> str:
        """`CODE-NUMBER`, or `NUMBER` for 数电 invoices, which have no code."""
        return f"{self.code}-{self.number}" if self.code else self.number

    def to_dict(self) -> dict[str, Any]:
        """The SPEC §6 JSON form, money as strings; `invoice.json_format` reads it back."""
        def party(p: Party) -> dict[str, str]:
            return {"name": p.name, "tin": p.tin, "address_phone": p.address_phone,
                    "bank_account": p.bank_account}

        def line(li: Line) -> dict[str, Any]:
            return {"name": li.name, "spec": li.spec, "unit": li.unit,
                    "quantity": _text(li.quantity), "unit_price": _text(li.unit_price),
                    "amount": str(li.amount), "rate": str(li.rate), "tax": str(li.tax)}

        return {
            "kind": self.kind, "code": self.code, "number": self.number,
            "date": self.date.isoformat(), "check_code": self.check_code,
            "machine_no": self.machine_no, "cipher": self.cipher,
            "buyer": party(self.buyer), "seller": party(self.seller),
            "lines": [line(li) for li in self.lines],
            "total_amount": str(self.total_amount), "total_tax": str(self.total_tax),
            "total": str(self.total), "total_words": self.total_words,
            "remarks": self.remarks, "payee": self.payee, "reviewer": self.reviewer,
            "drawer": self.drawer, "printer": self.printer, "title": self.title,
        }


def _text(value: Decimal | None) -> str:
    return "" if value is None else str(value)
