"""The files a soak drops, and what must become of each: valid invoices (single files and
batches), exact copies and re-used invoice numbers that must be rejected, and the hostile
corpus. `plan` puts them in a seeded random order that the soak replays and the invariant
checker (`invariants.check`) holds the end state against."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field

from . import poison
from .hostile import corpus
from .kit import SAMPLES


@dataclass
class Drop:
    """One file the soak drops, and what must become of it."""

    name: str
    data: bytes | None            # None: a FIFO or a symlink
    expect: str                   # "printed" or "rejected"
    keys: list[str] = field(default_factory=list)
    how: str = "rename"           # "rename", "direct", "slow", "fifo", "symlink"
    after: int = -1               # index of the drop it must follow (duplicates)

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else None


def sample(kind: str, number: str, remark: str = "") -> dict:
    """The shared sample invoice of `kind` under another number."""
    doc = json.loads((SAMPLES / f"{kind}.json").read_text("utf-8"))
    doc["number"] = number
    if remark:
        doc["remark"] = remark
    return doc


def key_of(doc: dict) -> str:
    """The invoice key the journal files `doc` under: code and number, or the number alone."""
    return f"{doc['code']}-{doc['number']}" if doc.get("code") else doc["number"]


def encode(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def storm(rng: random.Random, number: int, count: int) -> list[Drop]:
    """Files whose names fill NAME_MAX: about 80 CJK characters (240 bytes in UTF-8),
    which no longer fit with the spool's id in front, and ASCII names of 250 bytes; half
    valid invoices (numbers after `number`), half broken JSON."""
    drops = []
    for i in range(count):
        stem = "增值税专用发票北京某某科技有限公司" * 5 if i % 2 else "x" * 240
        name = f"{stem[:78] if i % 2 else stem}-{i:03d}.json"
        if i % 4 < 2:
            doc = sample("vat-special", f"{number + 90_000 + i:08d}")
            drops.append(Drop(name, encode(doc), "printed", [key_of(doc)],
                              rng.choice(["rename", "direct"])))
        else:
            drops.append(Drop(name, b'{"kind": "vat-special", "lines": [', "rejected"))
    return drops


def plan(invoices: int, rng: random.Random) -> list[Drop]:
    """The files to drop, in order: `invoices` valid invoices plus the bad ones."""
    drops: list[Drop] = []
    number = 30_000_000
    singles: list[int] = []
    made = 0
    while made < invoices:
        kind = "vat-special" if rng.random() < 0.7 else "vat-ordinary"
        if rng.random() < 0.03 and invoices - made >= 5:
            docs = [sample(kind, f"{number + i:08d}") for i in range(5)]
            number += 5
            drops.append(Drop(f"batch-{number}.json", encode({"invoices": docs}), "printed",
                              [key_of(d) for d in docs]))
            made += 5
            continue
        doc = sample(kind, f"{number:08d}")
        number += 1
        how = rng.choices(["rename", "direct", "slow"], [60, 35, 5])[0]
        drops.append(Drop(f"inv-{doc['number']}.json", encode(doc), "printed", [key_of(doc)],
                          how))
        singles.append(len(drops) - 1)
        made += 1
    # Exact copies under another name (file.duplicate) and other files with an invoice
    # number already printed (invoice.duplicate): rejected, the original printed once.
    for i in rng.sample(singles, max(1, invoices // 50)):
        drops.append(Drop(f"copy-of-{drops[i].name}", drops[i].data, "rejected", after=i))
    for i in rng.sample(singles, max(1, invoices // 100)):
        doc = json.loads(drops[i].data)
        doc["remark"] = "再次开具 again"
        drops.append(Drop(f"again-{drops[i].name}", encode(doc), "rejected", after=i))
    for name, (data, _code) in corpus().items():
        drops.append(Drop(name, data, "rejected",
                          how="direct" if rng.random() < 0.5 else "rename"))
    # A poison PDF (a few KB that cost a reader hours) and a storm of long names: each
    # must end in its one place, the poison rejected, the long-named invoices printed.
    drops.append(Drop("poison-forms.pdf", poison.nested_forms_pdf(), "rejected"))
    drops += storm(rng, number, max(4, invoices // 100))
    drops.append(Drop("hostile-fifo.json", None, "rejected", how="fifo"))
    drops.append(Drop("hostile-symlink.json", None, "rejected", how="symlink"))
    # Shuffle, then move each dependent drop after the one it copies.
    order = list(range(len(drops)))
    rng.shuffle(order)
    position = {index: pos for pos, index in enumerate(order)}
    for index, drop in enumerate(drops):
        if drop.after >= 0 and position[index] < position[drop.after]:
            position[index] = position[drop.after] + 0.5
    final = sorted(range(len(drops)), key=lambda i: position[i])
    moved = {old: new for new, old in enumerate(final)}
    for drop in drops:
        if drop.after >= 0:
            drop.after = moved[drop.after]
    return [drops[i] for i in final]
