"""Validation throughput, cache hit rates and peak memory for generated JSON invoices, on
one core.

Each invoice goes through `check_file` (decode, parse, build, every rule, the layout-fit
check) exactly as the daemon and `printstation validate` run it. The baseline, measured in
the same run over the same bytes, is `json.loads`: the least any reader must do.

Three workloads of generated invoices:
- as before: the sample's seller and buyer and one item name on every invoice, random
  amounts (the workload of the earlier figures);
- random text: every invoice a new buyer (name, TIN, address, bank) and new item names,
  so nothing but the seller ever repeats (the worst case for the caches);
- repeated sellers and buyers: what a branch sees, 3 sellers, 200 buyers and a catalogue
  of 500 items (with their prices), buyers and items drawn with a skewed distribution.
Each is timed with the caches of validation (texts fitted, TINs checked) as they run, and
with them emptied before every invoice: the cost the caches save, back to back in one run.

    .venv/bin/python bench/validate_speed.py [--count 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from stdnum.cn import uscc

from printstation.config import load_settings, load_stocks
from printstation.daemon.checks import check_file
from printstation.daemon.context import Context
from printstation.drivers import fit
from printstation.invoice import to_capitals
from printstation.invoice.tin import gb11714_check, uscc_problem

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = json.loads((ROOT / "config" / "samples" / "vat-special.json").read_text("utf-8"))
RATES = ["0.13", "0.09", "0.06", "0.03"]
CENT = Decimal("0.01")
# Common characters of company names, streets and goods, for text that looks like theirs.
HANZI = ("华信达通海天宏远鑫盛恒泰安康明德新源兴隆长城东方金科创智博联合众诚广汇丰美中国"
         "北京上海天津重庆江苏浙江广东山东湖南四川西安成都南京杭州苏州武汉")
CITIES = ("北京市海淀区", "北京市朝阳区", "天津市和平区", "上海市浦东新区", "南京市鼓楼区",
          "杭州市西湖区", "武汉市江汉区", "成都市武侯区")
TRADES = ("科技", "商贸", "网络", "物流", "建设", "餐饮管理", "文化传媒", "医疗器械", "办公用品")
BANKS = ("中国银行", "工商银行", "建设银行", "招商银行", "农业银行", "交通银行")
CATEGORIES = (("纸制品", "0.13", ("复印纸", "打印纸", "笔记本", "便签", "档案盒")),
              ("办公用品", "0.13", ("签字笔", "订书机", "文件夹", "白板", "计算器")),
              ("计算机配套产品", "0.13", ("键盘", "鼠标", "硒鼓", "墨盒", "U盘")),
              ("信息技术服务", "0.06", ("软件维护", "系统集成", "数据处理", "云服务")),
              ("现代服务", "0.06", ("设备维护", "会议服务", "咨询服务", "保洁服务")),
              ("运输服务", "0.09", ("货物运输", "快递服务")),
              ("生活服务", "0.03", ("餐饮服务", "住宿服务")))
UNITS = ("包", "个", "支", "台", "盒", "次", "项", "箱")


def generate(count: int, seed: int = 1) -> list[bytes]:
    """As before: the sample's parties and one item name, random amounts."""
    rng = random.Random(seed)
    item = {"name": "*信息技术服务*软件维护", "spec": "V2", "unit": "次"}
    return [_document(n, SAMPLE["seller"], SAMPLE["buyer"],
                      [_line(rng, item, Decimal(rng.randint(100, 50_000)) / 100,
                             rng.choice(RATES)) for _ in range(rng.randint(1, 8))])
            for n in range(count)]


def generate_random_text(count: int, seed: int = 2) -> list[bytes]:
    """Every invoice a new buyer and new item names."""
    rng = random.Random(seed)
    docs = []
    for n in range(count):
        lines = []
        for _ in range(rng.randint(1, 8)):
            item = {"name": f"*{_words(rng, 2, 4)}*{_words(rng, 2, 8)}",
                    "spec": f"{rng.choice('ABCDEFGHKMX')}{rng.randint(1, 999)}",
                    "unit": rng.choice(UNITS)}
            lines.append(_line(rng, item, Decimal(rng.randint(100, 50_000)) / 100,
                               rng.choice(RATES)))
        docs.append(_document(n, SAMPLE["seller"], _party(rng), lines))
    return docs


def generate_repeated(count: int, seed: int = 3, sellers: int = 3, buyers: int = 200,
                      items: int = 500) -> list[bytes]:
    """A branch's invoices: a few sellers, repeat buyers, a catalogue with prices; buyers
    and items drawn Zipf-like (a few very often, most now and then)."""
    rng = random.Random(seed)
    seller_list = [_party(rng) for _ in range(sellers)]
    buyer_list = [_party(rng) for _ in range(buyers)]
    catalogue = []
    for _ in range(items):
        category, rate, goods = rng.choice(CATEGORIES)
        item = {"name": f"*{category}*{rng.choice(goods)}{_words(rng, 0, 3)}",
                "spec": rng.choice(("", "A4", "70g", "V2", f"X{rng.randint(1, 99)}")),
                "unit": rng.choice(UNITS)}
        catalogue.append((item, Decimal(rng.randint(100, 50_000)) / 100, rate))
    buyer_weights = [1 / (rank + 1) ** 0.8 for rank in range(buyers)]
    item_weights = [1 / (rank + 1) for rank in range(items)]
    docs = []
    for n in range(count):
        picked = rng.choices(catalogue, item_weights, k=rng.randint(1, 8))
        lines = [_line(rng, item, price, rate) for item, price, rate in picked]
        buyer = rng.choices(buyer_list, buyer_weights)[0]
        docs.append(_document(n, seller_list[n % sellers], buyer, lines))
    return docs


def _line(rng: random.Random, item: dict, price: Decimal, rate: str) -> dict:
    # At most 20 × 500.00 a line, so 8 lines stay under the 100,000 limit.
    quantity = Decimal(rng.randint(1, 20))
    amount = (quantity * price).quantize(CENT, ROUND_HALF_UP)
    tax = (amount * Decimal(rate)).quantize(CENT, ROUND_HALF_UP)
    return {**item, "quantity": str(quantity), "unit_price": str(price),
            "amount": str(amount), "rate": rate, "tax": str(tax)}


def _document(n: int, seller: dict, buyer: dict, lines: list[dict]) -> bytes:
    amount = sum((Decimal(li["amount"]) for li in lines), Decimal(0))
    tax = sum((Decimal(li["tax"]) for li in lines), Decimal(0))
    doc = {**SAMPLE, "number": f"{n:08d}", "seller": seller, "buyer": buyer, "lines": lines,
           "total_amount": str(amount), "total_tax": str(tax), "total": str(amount + tax),
           "total_words": to_capitals(amount + tax)}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _words(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choice(HANZI) for _ in range(rng.randint(low, high)))


def _party(rng: random.Random) -> dict:
    """A company as invoices name it; a third with a long name or address, which must be
    shrunk to fit its box (measured, and then kept by the fit cache)."""
    city = rng.choice(CITIES)
    name = f"{city[:2]}{_words(rng, 2, 6)}{rng.choice(TRADES)}有限公司"
    address = f"{city}{_words(rng, 2, 4)}路{rng.randint(1, 999)}号"
    if rng.random() < 1 / 3:
        name = f"{city}{_words(rng, 4, 8)}{rng.choice(TRADES)}有限公司"
        address += f"{_words(rng, 2, 4)}大厦{rng.randint(1, 30)}层{rng.randint(100, 3000)}室"
    return {"name": name, "tin": _tin(rng),
            "address_phone": f"{address} 0{rng.randint(10, 29)}-"
                             f"{rng.randint(60_000_000, 89_999_999)}",
            "bank_account": f"{rng.choice(BANKS)}{city[:2]}{_words(rng, 2, 3)}支行 "
                            f"{rng.randint(10**14, 10**15 - 1)}"}


def _tin(rng: random.Random) -> str:
    """A valid unified social credit code (both check characters right)."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    org = "".join(rng.choice(chars[:10] + "ABCDEFGH") for _ in range(8))
    body = f"91{rng.randint(110000, 659999)}{org}{gb11714_check(org)}"
    return body + uscc.calc_check_digit(body)


def empty_caches() -> None:
    fit.memo_clear()
    uscc_problem.cache_clear()


def timed(fn: Callable[[bytes], object], docs: list[bytes]) -> float:
    # The process's CPU time, not the wall clock: on a shared machine the wall clock also
    # counts the turns of other processes, and this loop uses one core and no I/O, so on
    # a quiet machine the two are the same.
    started = time.process_time()
    for data in docs:
        fn(data)
    return time.process_time() - started


def measure(name: str, docs: list[bytes], ctx: Context, rounds: int) -> list[str]:
    """The table rows of one workload: each pass the median of `rounds`, the passes of a
    round back to back, so that a busy machine slows them alike."""

    def validate(data: bytes) -> None:
        check_file("a.json", data, ctx)

    def validate_uncached(data: bytes) -> None:
        empty_caches()
        check_file("a.json", data, ctx)

    invalid = [d for d in docs[:200] if not check_file("a.json", d, ctx).valid]
    assert not invalid, check_file("a.json", invalid[0], ctx).entries[0].problems
    timed(validate, docs[:200])  # warm-up
    runs: dict[str, list[float]] = {"cached": [], "uncached": [], "json": []}
    for _ in range(rounds):
        runs["json"].append(timed(json.loads, docs))
        empty_caches()  # each timed pass starts cold: its misses are counted in its time
        runs["cached"].append(timed(validate, docs))
        runs["uncached"].append(timed(validate_uncached, docs))
    # Hit rates and memory of one more pass from empty caches, the caches' growth included.
    empty_caches()
    gc.collect()
    tracemalloc.start()
    timed(validate, docs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hits, misses, entries = fit.memo_info()
    tins = uscc_problem.cache_info()
    fitted = f"{hits / max(1, hits + misses):.0%} of {hits + misses:,} ({entries:,} kept)"
    checked = f"{tins.hits / max(1, tins.hits + tins.misses):.0%} of " \
              f"{tins.hits + tins.misses:,} ({tins.currsize:,} kept)"
    base = statistics.median(runs["json"])
    rows = []
    for label, key in ((f"printstation check_file, {name}", "cached"),
                       (f"printstation check_file, {name}, caches emptied before each "
                        "invoice", "uncached"),
                       (f"baseline: json.loads, {name}", "json")):
        seconds = statistics.median(runs[key])
        spread = f"{min(runs[key]):.2f}–{max(runs[key]):.2f}"
        extra = f" {fitted} | {checked} | {peak / 1024:,.0f} |" if key == "cached" else \
            " | | |"
        rows.append(f"| {label} | {seconds:.2f} ({spread}) | {len(docs) / seconds:,.0f} | "
                    f"{seconds / base:.1f} |{extra}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, cwd=Path(tmp))
    ctx = Context(settings, load_stocks()[0],
                  clock=lambda: dt.datetime(2026, 11, 28, tzinfo=dt.UTC))
    workloads = (("as before", generate(args.count)),
                 ("random text", generate_random_text(args.count)),
                 ("repeated sellers and buyers", generate_repeated(args.count)))
    print(f"{args.count} generated JSON invoices a workload (1-8 lines; one core, one "
          f"process; CPU seconds, median of {args.rounds} rounds, min–max in brackets)")
    print("| | CPU seconds | invoices/s | time ÷ json.loads | texts fitted: cache hits | "
          "TINs checked: cache hits | peak KiB |")
    print("|---|---|---|---|---|---|---|")
    for name, docs in workloads:
        for row in measure(name, docs, ctx, args.rounds):
            print(row)
    sizes = ", ".join(f"{name} {sum(map(len, docs)) / len(docs):.0f}"
                      for name, docs in workloads)
    print(f"\nbytes an invoice on average: {sizes}. Texts fitted: only texts that might "
          "not fit at their field's size are looked up (fit.fits decides the others from "
          "the font's widest character, without measuring or keeping them). Peak KiB: "
          "tracemalloc over a whole workload from empty caches, so the caches' growth is "
          f"in it (at most {fit.MEMO_SIZE:,} texts and "
          f"{uscc_problem.cache_info().maxsize:,} TINs are kept).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
