"""Render throughput and peak memory for 1,000 invoices on one core, and the font's
registration time.

The baseline in the same process is the least a renderer with an embedded CJK font must
do: a page of the same size with one short string. Target (issue 4): at least 150
invoices/s per core.

    .venv/bin/python bench/render_speed.py [--count 1000]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
import tracemalloc

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

# The same generated invoices as the validation benchmark (bench/ is on sys.path when a
# script in it runs).
from validate_speed import generate

from printstation.config import load_stocks
from printstation.drivers import ensure_font, render_invoice
from printstation.invoice import read_file


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    started = time.perf_counter()
    font = ensure_font()
    registration = time.perf_counter() - started
    stock = load_stocks()[0]["vat-special"]
    invoices = [read_file("a.json", d).items[0].invoice
                for d in generate(args.count, seed=random.randint(1, 10**6))]

    def minimal(_: object) -> bytes:
        buf = io.BytesIO()
        canvas = Canvas(buf, pagesize=(stock.width_mm * mm, stock.height_mm * mm),
                        initialFontName=font, invariant=1)
        canvas.drawString(50, 50, "发票 00000001")
        canvas.showPage()
        canvas.save()
        return buf.getvalue()

    def run(fn) -> tuple[float, int]:
        begin, size = time.perf_counter(), 0
        for invoice in invoices:
            size += len(fn(invoice))
        return time.perf_counter() - begin, size

    run(minimal)  # warm-up
    base, base_bytes = run(minimal)
    ours, our_bytes = run(lambda inv: render_invoice(inv, stock, (1.5, -0.5)))
    tracemalloc.start()
    for invoice in invoices[:200]:
        render_invoice(invoice, stock)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{args.count} invoices rendered on vat-special (1-8 lines), one core")
    print("| | seconds | invoices/s | KiB per PDF |")
    print("|---|---|---|---|")
    print(f"| render_invoice (every field, fitted, embedded subset font) | {ours:.2f} | "
          f"{args.count / ours:,.0f} | {our_bytes / args.count / 1024:.1f} |")
    print(f"| baseline: one string, same font and page | {base:.2f} | {args.count / base:,.0f} "
          f"| {base_bytes / args.count / 1024:.1f} |")
    print(f"| ratio (time) | {ours / base:.1f} | | |")
    print(f"\nfont registration (once per process): {registration * 1000:.0f} ms")
    print(f"peak memory allocated while rendering: {peak / 1024:.0f} KiB (one PDF at a time)")
    print(f"target >= 150 invoices/s: {'met' if args.count / ours >= 150 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
