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

from printstation.base.units import PT_MM

# The invoice fields a layout may place, and the item-table columns. Two are texts of the
# page rather than of the invoice, for plain paper whose lines continue on further pages:
# `page` (共N页 第M页, printed only when there are several pages) and `total_label` (合计
# on the last page, 小计 above the page's own sums on the pages before it).
FIELD_NAMES = frozenset({
    "title", "code", "number", "date", "check_code", "machine_no", "cipher",
    "buyer.name", "buyer.tin", "buyer.address_phone", "buyer.bank_account",
    "seller.name", "seller.tin", "seller.address_phone", "seller.bank_account",
    "total_amount", "total_tax", "total_words", "total", "remarks",
    "payee", "reviewer", "drawer", "page", "total_label",
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
class Label:
    text: str
    x: float
    y: float
    size: float = 8.0
    align: str = "left"


@dataclass(frozen=True)
class FormSpec:
    """The blank form: printed on plain paper, drawn under a preview of pre-printed stock."""

    rects: tuple[tuple[float, float, float, float], ...] = ()  # x, y, width, height
    lines: tuple[tuple[float, float, float, float], ...] = ()  # x1, y1, x2, y2
    labels: tuple[Label, ...] = ()


# Share of the font size above and below the baseline, for a field's box.
ASCENT, DESCENT = 0.8, 0.2


@dataclass(frozen=True)
class Box:
    name: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and \
            self.y0 < other.y1 and other.y0 < self.y1

    def shifted(self, dx: float, dy: float) -> Box:
        return Box(self.name, self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)


def field_box(name: str, spec: FieldSpec, y: float) -> Box:
    """The area a field's text may cover, from its anchor, alignment, size and height."""
    left = {"left": spec.x, "right": spec.x - spec.width,
            "centre": spec.x - spec.width / 2}.get(spec.align, spec.x)
    top = y - spec.size * PT_MM * ASCENT
    bottom = top + spec.height if spec.height else y + spec.size * PT_MM * DESCENT
    return Box(name, left, top, left + spec.width, bottom)


@dataclass(frozen=True)
class Stock:
    name: str
    title: str
    width_mm: float
    height_mm: float
    plain_paper: bool
    fields: Mapping[str, FieldSpec]
    items: ItemsSpec | None
    form: FormSpec = FormSpec()

    def boxes(self) -> list[Box]:
        """Every field's box, and each item row's cells (`lines[i].column`)."""
        found = [field_box(name, spec, spec.y) for name, spec in self.fields.items()]
        if self.items is not None:
            for row in range(self.items.rows):
                y = self.items.y + row * self.items.pitch
                found += [field_box(f"lines[{row}].{name}", spec, y)
                          for name, spec in self.items.columns.items()]
        return found

    def off_page(self, dx: float, dy: float) -> list[str]:
        """Fields that would leave the page with this offset (mm)."""
        return [b.name for b in (box.shifted(dx, dy) for box in self.boxes())
                if b.x0 < 0 or b.y0 < 0 or b.x1 > self.width_mm or b.y1 > self.height_mm]


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
        stock = Stock(name=name, title=str(raw.get("title", name)), width_mm=page[0],
                      height_mm=page[1], plain_paper=bool(raw.get("plain_paper", False)),
                      fields=fields, items=items, form=self.form(raw.get("form", {}), page))
        boxes = stock.boxes()
        for i, box in enumerate(boxes):
            for other in boxes[i + 1:]:
                if box.overlaps(other):
                    self.fail(_key(box.name), f"its box overlaps {_key(other.name)}'s")
        return stock

    def form(self, raw: Any, page: tuple[float, float]) -> FormSpec:
        if not isinstance(raw, dict):
            self.fail("form", "must be a table")
            return FormSpec()

        def quads(key: str) -> tuple[tuple[float, float, float, float], ...]:
            items = raw.get(key, [])
            good = isinstance(items, list) and all(
                isinstance(q, list) and len(q) == 4 and
                all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in q)
                for q in items)
            if not good:
                self.fail(f"form.{key}", "must be a list of [four numbers in mm]")
                return ()
            return tuple(tuple(float(v) for v in q) for q in items)

        labels = []
        for i, item in enumerate(raw.get("labels", [])):
            where = f"form.labels[{i}]."
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                self.fail(where.rstrip("."), "must be a table with text, x, y")
                continue
            labels.append(Label(item["text"], self.number(item, "x", where, 0, page[0]),
                                self.number(item, "y", where, 0, page[1]),
                                self.number(item, "size", where, 4, 30, 8.0),
                                item.get("align", "left")))
        return FormSpec(quads("rects"), quads("lines"), tuple(labels))


def _key(box_name: str) -> str:
    """A box's name as a layout key: `fields.X`, or `items.columns.X` for a row's cell."""
    if box_name.startswith("lines["):
        return "items.columns." + box_name.partition(".")[2]
    return "fields." + box_name
