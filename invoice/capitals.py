"""The amount in Chinese capitals (价税合计 大写), DOMAIN.md "Amount in Chinese capitals".

`to_capitals` writes the canonical form of the vectors (圆, one 零 per run of zeros, a 零
at the head of a section after a higher one, 零 between 圆 and a non-zero 角 when the 圆
digit is 0, 整 only when there are no 角 and 分). `parse_capitals` reads any well-formed
variant back to its amount, so `words_match` accepts 元 or 圆 and the optional 零 and 整
forms while refusing anything whose amount or structure is wrong.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = {"拾": 10, "佰": 100, "仟": 1000}
SECTION_UNITS = ("", "万", "亿", "万亿")
CENT = Decimal("0.01")


def _section(n: int) -> str:
    """0 < n < 10000: digits with units, one 零 for each run of inner zeros."""
    out: list[str] = []
    pending_zero = False
    for power, unit in ((1000, "仟"), (100, "佰"), (10, "拾"), (1, "")):
        digit = n // power % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(DIGITS[digit] + unit)
    return "".join(out)


def _integer(n: int) -> str:
    sections = []
    while n:
        sections.append(n % 10000)
        n //= 10000
    if len(sections) > len(SECTION_UNITS):
        raise ValueError("amount too large for capitals")
    out: list[str] = []
    zero_between = False
    for index in reversed(range(len(sections))):
        value = sections[index]
        if value == 0:
            zero_between = bool(out)
            continue
        # A section below 1000 after a higher one starts with a zero: write it as 零.
        if out and (zero_between or value < 1000):
            out.append("零")
        out.append(_section(value) + SECTION_UNITS[index])
        zero_between = False
    return "".join(out)


def to_capitals(amount: Decimal) -> str:
    """The canonical capitals of a non-negative amount, rounded to the cent."""
    cents = int(amount.quantize(CENT, ROUND_HALF_UP) * 100)
    if cents < 0:
        raise ValueError("capitals are for amounts of 0 or more")
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    words = _integer(yuan)
    if jiao == 0 and fen == 0:
        return (words or "零") + "圆整"
    head = words + "圆" if words else ""
    if jiao:
        # The optional 零 when the 圆 digit is 0: the vectors' first form writes it.
        middle = ("零" if words and yuan % 10 == 0 else "") + DIGITS[jiao] + "角"
    else:
        middle = "零" if words else ""  # 角 is 0 and 分 is not: 零 is mandatory
    return head + middle + (DIGITS[fen] + "分" if fen else "")


_FRACTION = re.compile("^(零)?(?:([壹贰叁肆伍陆柒捌玖])角)?(零)?(?:([壹贰叁肆伍陆柒捌玖])分)?$")


def parse_capitals(text: str) -> Decimal | None:
    """The amount `text` writes, or None when it is not well-formed capitals."""
    text = text.strip().lstrip("⊗").strip().replace("元", "圆")
    whole = text.endswith("整")
    if whole:
        text = text[:-1]
    if text.count("圆") > 1 or not text:
        return None
    integer_text, _, fraction_text = text.rpartition("圆") if "圆" in text else ("", "", text)
    if "圆" not in text and not fraction_text:
        return None
    yuan = _parse_integer(integer_text)
    fraction = _FRACTION.match(fraction_text)
    if yuan is None or fraction is None:
        return None
    lead_zero, jiao, inner_zero, fen = fraction.groups()
    if inner_zero and not (jiao and fen):
        return None  # 零 between 角 and 分 only makes sense with both
    if lead_zero and not integer_text:
        return None
    if whole and fen:
        return None  # never 整 after 分
    if not whole and not jiao and not fen:
        return None  # 整 is required after 圆 when there are no 角 and 分
    if not integer_text and not jiao and not fen:
        return None
    cents = yuan * 100 + (DIGITS.index(jiao) * 10 if jiao else 0) + \
        (DIGITS.index(fen) if fen else 0)
    return Decimal(cents) / 100


def _parse_integer(text: str) -> int | None:
    """Capitals of a whole number ("" is 0); None when units are out of order."""
    if text in ("", "零"):
        return 0
    if text.startswith("零"):
        return None
    total, section, big_seen = 0, 0, 10**20
    small_seen, digit = 10**5, None
    # 零 carries no value; where it may stand is a matter of style, so it is skipped.
    for char in text.replace("零", ""):
        if char in DIGITS[1:]:
            if digit is not None:
                return None  # two digits in a row
            digit = DIGITS.index(char)
        elif char in SMALL_UNITS:
            unit = SMALL_UNITS[char]
            if digit is None or unit >= small_seen:
                return None
            section += digit * unit
            small_seen, digit = unit, None
        elif char in ("万", "亿"):
            if digit is not None:
                if small_seen <= 1:
                    return None
                section, digit = section + digit, None
            big = 10**4 if char == "万" else 10**8
            if section == 0 or big >= big_seen:
                return None
            if char == "亿":
                total = (total + section) * big
            else:
                total += section * big
            section, small_seen, big_seen = 0, 10**5, big
        else:
            return None
    if digit is not None:
        if small_seen <= 1:
            return None
        section += digit
    return total + section


def words_match(supplied: str, amount: Decimal) -> bool:
    """Whether `supplied` writes `amount` (元 or 圆, optional 零 and 整 forms accepted)."""
    value = parse_capitals(supplied)
    if value is None or value != amount.quantize(CENT, ROUND_HALF_UP):
        return False
    cents = int(value * 100)
    jiao, fen = cents // 10 % 10, cents % 10
    text = supplied.strip().lstrip("⊗").strip().replace("元", "圆")
    # 零 when 角 is 0 and 分 is not, after a whole part, is mandatory.
    return not (jiao == 0 and fen and cents >= 100 and "圆零" not in text)
