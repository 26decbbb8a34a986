"""Validation throughput and peak memory for generated JSON invoices, on one core.

Each invoice goes through `check_file` (decode, parse, build, every rule) exactly as the
daemon and `printstation validate` run it. The baseline in the same process is
`json.loads` of the same bytes: the least any reader must do.

    .venv/bin/python bench/validate_speed.py [--count 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
import tracemalloc
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from printstation.config import load_settings, load_stocks
from printstation.daemon.checks import check_file
from printstation.daemon.context import Context
from printstation.invoice import to_capitals

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = json.loads((ROOT / "config" / "samples" / "vat-special.json").read_text("utf-8"))
RATES = ["0.13", "0.09", "0.06", "0.03"]


def generate(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    docs = []
    for n in range(count):
        lines, amount, tax = [], Decimal(0), Decimal(0)
        for _ in range(rng.randint(1, 8)):
            # At most 20 × 500.00 a line, so 8 lines stay under the 100,000 limit.
            quantity = Decimal(rng.randint(1, 20))
            price = Decimal(rng.randint(100, 50_000)) / 100
            line_amount = (quantity * price).quantize(Decimal("0.01"), ROUND_HALF_UP)
            rate = rng.choice(RATES)
            line_tax = (line_amount * Decimal(rate)).quantize(Decimal("0.01"), ROUND_HALF_UP)
            lines.append({"name": "*信息技术服务*软件维护", "spec": "V2", "unit": "次",
                          "quantity": str(quantity), "unit_price": str(price),
                          "amount": str(line_amount), "rate": rate, "tax": str(line_tax)})
            amount, tax = amount + line_amount, tax + line_tax
        doc = {**SAMPLE, "number": f"{n:08d}", "lines": lines, "total_amount": str(amount),
               "total_tax": str(tax), "total": str(amount + tax),
               "total_words": to_capitals(amount + tax)}
        docs.append(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
    return docs


def timed(fn, docs: list[bytes]) -> float:
    started = time.perf_counter()
    for data in docs:
        fn(data)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, cwd=Path(tmp))
    ctx = Context(settings, load_stocks()[0],
                  clock=lambda: dt.datetime(2026, 11, 28, tzinfo=dt.UTC))
    docs = generate(args.count)
    invalid = [d for d in docs[:200] if not check_file("a.json", d, ctx).valid]
    assert not invalid, check_file("a.json", invalid[0], ctx).entries[0].problems

    def validate(data: bytes) -> None:
        check_file("a.json", data, ctx)

    timed(validate, docs[:200])  # warm-up
    baseline = timed(json.loads, docs)
    ours = timed(validate, docs)
    tracemalloc.start()
    timed(validate, docs[: min(1000, len(docs))])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = sum(map(len, docs)) / len(docs)
    print(f"{args.count} generated JSON invoices (1-8 lines, {size:.0f} bytes on average), "
          "one core, one process")
    print("| | seconds | invoices/s |")
    print("|---|---|---|")
    print(f"| printstation check_file (decode, parse, build, every rule) | {ours:.2f} | "
          f"{args.count / ours:,.0f} |")
    print(f"| baseline: json.loads only | {baseline:.2f} | {args.count / baseline:,.0f} |")
    print(f"| ratio (time) | {ours / baseline:.1f} | |")
    print(f"\npeak memory allocated while validating: {peak / 1024:.0f} KiB "
          "(tracemalloc; invoices are checked one at a time, so it does not grow with count)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
