"""Where 零 goes in the capitals (DOMAIN.md): mandatory, optional, or wrong.

A missing mandatory 零 changes what the words say (壹仟肆佰玖圆伍角 reads as 1490.50), so
it is `total.words`; the optional forms DOMAIN.md lists stay accepted. The property tests
hold the rules for any amount: the canonical words always match their amount, never a
neighbour, and dropping or adding a 零 never makes words that match another amount.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printstation.harness.docs import line, with_lines
from printstation.invoice import Rules, parse_capitals, read_file, to_capitals, validate
from printstation.invoice.capitals import accepted_forms, words_match

# DOMAIN.md's table: amount -> every accepted form (with 圆; 元 is the same word).
VECTORS = {
    "1130.00": ["壹仟壹佰叁拾圆整"],
    "1409.50": ["壹仟肆佰零玖圆伍角", "壹仟肆佰零玖圆伍角整"],
    "6007.14": ["陆仟零柒圆壹角肆分"],
    "16409.02": ["壹万陆仟肆佰零玖圆零贰分"],
    "325.04": ["叁佰贰拾伍圆零肆分"],
    "100700.00": ["壹拾万零柒佰圆整"],
    "107000.53": ["壹拾万柒仟圆零伍角叁分", "壹拾万零柒仟圆伍角叁分",
                  # Each optional 零 is a choice of its own: both left out, both written.
                  "壹拾万柒仟圆伍角叁分", "壹拾万零柒仟圆零伍角叁分"],
    "100000000.00": ["壹亿圆整"],
    "0.05": ["伍分"],
    "10.00": ["壹拾圆整"],
}

# (amount, words, what is wrong)
WRONG = [
    # A mandatory 零 left out.
    ("1409.50", "壹仟肆佰玖圆伍角", "zeros between digits (reads 1490.50)"),
    ("6007.14", "陆仟柒圆壹角肆分", "zeros between digits"),
    ("16409.02", "壹万陆仟肆佰零玖圆贰分", "角 is 0 and 分 is not"),
    ("325.04", "叁佰贰拾伍圆肆分", "角 is 0 and 分 is not"),
    ("100700.00", "壹拾万柒佰圆整", "a 万 section's head after a higher section"),
    ("100001000.00", "壹亿壹仟圆整", "a whole zero section between"),
    ("100000001.00", "壹亿壹圆整", "a whole zero section between"),
    ("10010000.00", "壹仟壹万圆整", "zeros inside the 万 section"),
    # A 零 where none belongs.
    ("1130.00", "壹仟壹佰零叁拾圆整", "between adjacent digits"),
    ("1130.00", "壹仟壹佰叁拾零圆整", "trailing zeros"),
    ("1409.50", "壹仟肆佰零零玖圆伍角", "two 零 for one run of zeros"),
    ("325.04", "叁佰贰拾伍圆零零肆分", "two 零 before 分"),
    ("0.05", "零伍分", "nothing before it"),
    ("0.53", "伍角零叁分", "between 角 and 分"),
    ("1.50", "壹圆零伍角", "the 圆 digit is not 0"),
    ("110000.00", "壹拾壹万零圆整", "after the last digit"),
    ("10.00", "零壹拾圆整", "at the head"),
    # 整 where it must not be, or missing where it must.
    ("6007.14", "陆仟零柒圆壹角肆分整", "整 after 分"),
    ("325.04", "叁佰贰拾伍圆零肆分整", "整 after 分"),
    ("1130.00", "壹仟壹佰叁拾圆", "no 整 after 圆"),
    ("1130.00", "壹仟壹佰叁拾圆整整", "two 整"),
]


@pytest.mark.parametrize(("amount", "forms"), VECTORS.items())
def test_domain_vectors(amount: str, forms: list[str]) -> None:
    value = Decimal(amount)
    assert to_capitals(value) == forms[0]
    assert accepted_forms(value) == set(forms)
    for words in forms:
        assert words_match(words, value) and words_match(words.replace("圆", "元"), value)
        assert words_match("⊗" + words, value)
        assert parse_capitals(words) == value


@pytest.mark.parametrize(("amount", "words", "why"), WRONG, ids=[w[2] for w in WRONG])
def test_wrong_zeros_are_refused(amount: str, words: str, why: str) -> None:
    assert not words_match(words, Decimal(amount))
    assert not words_match(words.replace("圆", "元"), Decimal(amount))
    assert parse_capitals(words) is None  # and they spell no other amount either


@pytest.mark.parametrize(("amount", "forms"), [
    ("10001000.00", ["壹仟万壹仟圆整", "壹仟万零壹仟圆整"]),  # like 107000: the 万 tail
    ("10.50", ["壹拾圆零伍角", "壹拾圆伍角", "壹拾圆零伍角整", "壹拾圆伍角整"]),
    ("0.50", ["伍角", "伍角整"]),
])
def test_optional_forms_beyond_the_table(amount: str, forms: list[str]) -> None:
    assert accepted_forms(Decimal(amount)) == set(forms)


def words_found(total: str, words: str) -> set[str]:
    doc = with_lines([line(total, "0", tax="0.00")]) | {"total_words": words}
    invoice = read_file("a.json", json.dumps(doc, ensure_ascii=False).encode()).items[0].invoice
    return {p.code for p in validate(invoice, Rules(max_total=Decimal(10**9)), invoice.date)}


def test_validation_refuses_the_missing_zero_of_the_issue() -> None:
    assert words_found("1409.50", "壹仟肆佰玖圆伍角") == {"total.words"}
    assert words_found("1409.50", "壹仟肆佰零玖元伍角整") == set()
    assert words_found("107000.53", "壹拾万零柒仟元伍角叁分") == set()


CENTS = st.integers(min_value=1, max_value=99_999_999_999_999)


@settings(max_examples=1500, deadline=None)
@given(CENTS)
def test_canonical_words_match_their_amount_and_no_neighbour(cents: int) -> None:
    amount = Decimal(cents) / 100
    words = to_capitals(amount)
    assert words_match(words, amount)
    assert parse_capitals(words) == amount
    for other in (cents - 1, cents + 1, cents - 10, cents + 10, cents - 100, cents + 100,
                  cents * 10, cents // 10):
        if other >= 0 and other != cents:
            assert not words_match(words, Decimal(other) / 100)


@settings(max_examples=1000, deadline=None)
@given(CENTS)
def test_every_accepted_form_reads_back_to_its_amount(cents: int) -> None:
    amount = Decimal(cents) / 100
    forms = accepted_forms(amount)
    assert to_capitals(amount) in forms and len(forms) <= 8
    for words in forms:
        assert parse_capitals(words) == amount
        assert not words.endswith("分整")


@settings(max_examples=1000, deadline=None)
@given(CENTS, st.data())
def test_a_zero_dropped_or_added_never_spells_another_amount(cents: int,
                                                              data: st.DataObject) -> None:
    amount = Decimal(cents) / 100
    words = data.draw(st.sampled_from(sorted(accepted_forms(amount))))
    mutants = [words[:i] + words[i + 1:] for i, c in enumerate(words) if c == "零"]
    mutants += [words[:i] + "零" + words[i:] for i in range(len(words) + 1)]
    for mutant in mutants:
        read = parse_capitals(mutant)
        # Either still a correct form of this amount (an optional 零), or no amount at all.
        assert read is None or (read == amount and mutant in accepted_forms(amount)), mutant


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([10**k for k in range(12)]), st.integers(1, 9), st.integers(0, 99))
def test_round_amounts_keep_their_mandatory_zeros(power: int, digit: int, cents: int) -> None:
    # 1000000000.07 or 900000000000.50: long runs of zeros before the 角/分.
    amount = Decimal(power * digit * 100 + cents) / 100
    words = to_capitals(amount)
    if cents and cents < 10 and power * digit >= 1:
        assert "圆零" in words  # 角 is 0 and 分 is not
    assert parse_capitals(words) == amount
