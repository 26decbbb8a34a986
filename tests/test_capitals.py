"""The amount in Chinese capitals: DOMAIN.md's vectors, variants, and a property test
against an independent oracle over 0.01 … 999,999,999,999.99."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printstation.harness.docs import line, special, with_lines
from printstation.invoice import (
    Rules,
    parse_capitals,
    read_file,
    to_capitals,
    validate,
    words_match,
)

D = "零壹贰叁肆伍陆柒捌玖"
VECTORS = {  # DOMAIN.md
    "1130.00": "壹仟壹佰叁拾圆整",
    "1409.50": "壹仟肆佰零玖圆伍角",
    "6007.14": "陆仟零柒圆壹角肆分",
    "16409.02": "壹万陆仟肆佰零玖圆零贰分",
    "325.04": "叁佰贰拾伍圆零肆分",
    "100700.00": "壹拾万零柒佰圆整",
    "107000.53": "壹拾万柒仟圆零伍角叁分",
    "100000000.00": "壹亿圆整",
    "0.05": "伍分",
    "10.00": "壹拾圆整",
}
ALSO_ACCEPTED = {
    "1409.50": ["壹仟肆佰零玖圆伍角整", "壹仟肆佰零玖元伍角"],
    "107000.53": ["壹拾万零柒仟圆伍角叁分", "壹拾万柒仟元零伍角叁分"],
    "1130.00": ["⊗壹仟壹佰叁拾元整"],
    "8819.60": ["捌仟捌佰壹拾玖圆陆角整"],  # as printed on the real 数电 PDF
}
REFUSED = {
    "1130.00": ["壹仟壹佰叁拾圆", "壹仟壹佰叁拾壹圆整", "壹仟壹佰叁拾圆零分", "拾壹佰壹仟圆整"],
    "16409.02": ["壹万陆仟肆佰零玖圆贰分"],  # the mandatory 零 before 贰分 is missing
    "0.05": ["伍分整", "零伍分"],
    "10.00": ["壹拾圆整整", "壹拾圆伍"],
}


def oracle(cents: int) -> str:
    """Written independently: one pass over the 12 padded digits, position by position."""
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    digits = f"{yuan:012d}"
    out, started, zero_pending = "", False, False
    for i, char in enumerate(digits):
        position = 11 - i
        if char != "0":
            unit = ["", "拾", "佰", "仟"][position % 4]
            out += ("零" if zero_pending else "") + D[int(char)] + unit
            started, zero_pending = True, False
        elif started:
            zero_pending = True
        if position in (8, 4) and started:
            section = digits[i - 3:i + 1]
            if section != "0000":
                # The section's unit absorbs the zeros at its tail.
                out += "亿" if position == 8 else "万"
                zero_pending = False
    if not jiao and not fen:
        return (out or "零") + "圆整"
    text = out + "圆" if out else ""
    if jiao:
        text += ("零" if out and digits[-1] == "0" else "") + D[jiao] + "角"
    elif out:
        text += "零"
    return text + (D[fen] + "分" if fen else "")


@pytest.mark.parametrize(("amount", "words"), VECTORS.items())
def test_domain_vectors(amount: str, words: str) -> None:
    assert to_capitals(Decimal(amount)) == words
    assert oracle(int(Decimal(amount) * 100)) == words
    assert parse_capitals(words) == Decimal(amount)
    assert words_match(words, Decimal(amount))


@pytest.mark.parametrize(("amount", "variant"),
                         [(a, v) for a, vs in ALSO_ACCEPTED.items() for v in vs])
def test_optional_forms_are_accepted(amount: str, variant: str) -> None:
    assert words_match(variant, Decimal(amount))


@pytest.mark.parametrize(("amount", "wrong"), [(a, w) for a, ws in REFUSED.items() for w in ws])
def test_wrong_forms_are_refused(amount: str, wrong: str) -> None:
    assert not words_match(wrong, Decimal(amount))


CENTS = st.integers(min_value=1, max_value=99_999_999_999_999)


@settings(max_examples=3000, deadline=None)
@given(CENTS)
def test_generator_matches_the_independent_oracle(cents: int) -> None:
    amount = Decimal(cents) / 100
    words = to_capitals(amount)
    assert words == oracle(cents)
    assert parse_capitals(words) == amount
    assert words_match(words, amount)
    assert words_match(words.replace("圆", "元"), amount)
    assert not words_match(words, amount + Decimal("0.01"))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([10**k for k in range(12)]), st.integers(0, 9), st.integers(0, 99))
def test_round_numbers_and_zero_runs(power: int, digit: int, cents: int) -> None:
    # Amounts like 1000000000.07 or 900000000000.50 stress the zero rules.
    total = power * digit * 100 + cents
    if total:
        assert to_capitals(Decimal(total) / 100) == oracle(total)


SCALED = st.integers(min_value=-10**9, max_value=10**9)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=1, max_value=10**8), SCALED.filter(bool))
def test_line_arithmetic_rounds_half_away_from_zero(q_micro: int, p_micro: int) -> None:
    # quantity and unit price with 6 decimals; the amount in cents by integer arithmetic.
    product = q_micro * p_micro  # in 10^-12
    sign = -1 if product < 0 else 1
    cents = sign * ((abs(product) + 5 * 10**9) // 10**10)
    amount = Decimal(cents) / 100
    quantity, price = Decimal(q_micro) / 10**6, Decimal(p_micro) / 10**6
    if abs(amount) >= 10**11:
        return
    good = with_lines([line(str(amount), "0", tax="0.00", quantity=str(quantity),
                            unit_price=str(price))])
    invoice = read_file("a.json", json.dumps(good, ensure_ascii=False).encode()).items[0].invoice
    found = {p.code for p in validate(invoice, Rules(max_total=Decimal(10**12)),
                                      invoice.date)}
    assert "line.amount" not in found
    bad = dict(good, lines=[dict(good["lines"][0], amount=str(amount + Decimal("0.01")))])
    invoice = read_file("a.json", json.dumps(bad, ensure_ascii=False).encode()).items[0].invoice
    assert "line.amount" in {p.code for p in validate(invoice, Rules(), invoice.date)}


def test_special_sample_words_are_the_generated_ones() -> None:
    assert to_capitals(Decimal(special()["total"])) == special()["total_words"]
