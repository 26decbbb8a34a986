"""Stock layouts: the page size and where each field of an invoice goes (SPEC §8).

Layouts are data (`config/stocks/NAME.toml`, more in `<config dir>/stocks/`). Coordinates
are mm from the page's top-left; a field's anchor is where its text's baseline starts
(left), ends (right) or has its middle (centre).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

# The invoice fields a layout may place, and the item-table columns.
FIELD_NAMES = frozenset({
    "title", "code", "number", "date", "check_code", "machine_no", "cipher",
    "buyer.name", "buyer.tin", "buyer.address_phone", "buyer.bank_account",
    "seller.name", "seller.tin", "seller.address_phone", "seller.bank_account",
    "total_amount", "total_tax", "total_words", "total", "remarks",
    "payee", "reviewer", "drawer",
})
COLUMN_NAMES = frozenset({"name", "spec", "unit", "quantity", "unit_price", "amount", "rate",
                          "tax"})
ALIGNS = ("left", "right", "centre")


@dataclass(frozen=True)
class FieldSpec:
    x: float
    y: float
    width: float
    size: float = 9.0
    align: str = "left"
    # Multi-line fields (remarks, cipher) have a height; single lines have 0.
    height: float = 0.0


@dataclass(frozen=True)
class ItemsSpec:
    y: float
    pitch: float
    rows: int
    columns: Mapping[str, FieldSpec]


@dataclass(frozen=True)
class Stock:
    name: str
    title: str
    width_mm: float
    height_mm: float
    plain_paper: bool
    fields: Mapping[str, FieldSpec]
    items: ItemsSpec | None


@dataclass(frozen=True)
class StockProblem:
    file: str
    key: str
    message: str


def load_stocks(extra_dir: Path | None = None) -> tuple[dict[str, Stock], list[StockProblem]]:
    """The built-in layouts, then any in `extra_dir` (same name replaces the built-in)."""
    files: list[tuple[str, bytes]] = []
    builtin = resources.files("printstation.config").joinpath("stocks")
    for entry in sorted(builtin.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            files.append((f"<built-in>/stocks/{entry.name}", entry.read_bytes()))
    if extra_dir is not None and extra_dir.is_dir():
        files.extend((str(p), p.read_bytes()) for p in sorted(extra_dir.glob("*.toml")))

    stocks: dict[str, Stock] = {}
    problems: list[StockProblem] = []
    for file, data in files:
        reader = _Reader(file)
        stock = reader.read(data)
        problems.extend(reader.problems)
        if stock is not None and not reader.problems:
            stocks[stock.name] = stock
    return stocks, problems


class _Reader:
    def __init__(self, file: str):
        self.file = file
        self.problems: list[StockProblem] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(StockProblem(self.file, key, message))

    def number(self, table: dict, key: str, where: str, lo: float, hi: float,
               default: float | None = None) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            self.fail(f"{where}{key}", f"must be a number from {lo} to {hi}")
            return lo
        if not lo <= value <= hi:
            self.fail(f"{where}{key}", f"must be from {lo} to {hi}, got {value}")
        return float(value)

    def field(self, table: Any, where: str, page: tuple[float, float]) -> FieldSpec:
        if not isinstance(table, dict):
            self.fail(where.rstrip("."), "must be a table with x, y, width")
            return FieldSpec(0, 0, 0)
        unknown = set(table) - {"x", "y", "width", "size", "align", "height"}
        for key in sorted(unknown):
            self.fail(where + key, "unknown key (allowed: x, y, width, size, align, height)")
        spec = FieldSpec(
            x=self.number(table, "x", where, 0, page[0]),
            y=self.number(table, "y", where, 0, page[1]),
            width=self.number(table, "width", where, 1, page[0]),
            size=self.number(table, "size", where, 4, 24, 9.0),
            align=table.get("align", "left"),
            height=self.number(table, "height", where, 0, page[1], 0.0),
        )
        if spec.align not in ALIGNS:
            self.fail(where + "align", f"must be one of {', '.join(ALIGNS)}")
        left = {"left": spec.x, "right": spec.x - spec.width, "centre": spec.x - spec.width / 2}
        x0 = left.get(spec.align, spec.x)
        if x0 < 0 or x0 + spec.width > page[0] + 1e-9 or spec.y + spec.height > page[1]:
            self.fail(where.rstrip("."), "the field's box leaves the page")
        return spec

    def read(self, data: bytes) -> Stock | None:
        try:
            raw = tomllib.loads(data.decode("utf-8"), parse_float=Decimal)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            self.fail("-", f"not valid TOML: {exc}")
            return None
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            self.fail("name", "required: the stock's name")
            return None
        page = (self.number(raw, "width_mm", "", 20, 600),
                self.number(raw, "height_mm", "", 20, 600))
        fields = {}
        for key, table in (raw.get("fields") or {}).items():
            if key not in FIELD_NAMES:
                known = ", ".join(sorted(FIELD_NAMES))
                self.fail(f"fields.{key}", f"unknown field (known: {known})")
                continue
            fields[key] = self.field(table, f"fields.{key}.", page)
        items = None
        if "items" in raw:
            t = raw["items"]
            columns = {}
            for key, table in (t.get("columns") or {}).items():
                if key not in COLUMN_NAMES:
                    self.fail(f"items.columns.{key}",
                              f"unknown column (known: {', '.join(sorted(COLUMN_NAMES))})")
                    continue
                columns[key] = self.field({"y": t.get("y", 0), **table},
                                          f"items.columns.{key}.", page)
            rows = t.get("rows", 0)
            if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= 40:
                self.fail("items.rows", "must be a whole number from 1 to 40")
                rows = 1
            items = ItemsSpec(self.number(t, "y", "items.", 0, page[1]),
                              self.number(t, "pitch", "items.", 1, 20), rows, columns)
            if items.y + items.pitch * (rows - 1) > page[1]:
                self.fail("items", "the item rows run off the page")
        return Stock(name=name, title=str(raw.get("title", name)), width_mm=page[0],
                     height_mm=page[1], plain_paper=bool(raw.get("plain_paper", False)),
                     fields=fields, items=items)
