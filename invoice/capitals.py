"""The amount in Chinese capitals (价税合计 大写), DOMAIN.md "Amount in Chinese capitals".

An amount has a few correct spellings, not one: 元 or 圆, an optional 整 after 角, and
two places where 零 may be written or left out. Everywhere else a 零 is either
mandatory or wrong, and getting it wrong changes what the words say: 壹仟肆佰玖圆伍角 is
how a clerk reads 1490.50 aloud, not 1409.50. So the rules are written once, as the list
of pieces an amount is spelt with (some pieces offering a choice), and every question is
answered from that list:

- `to_capitals` joins the first choice of every piece: the canonical form of the vectors;
- `accepted_forms` joins every combination of choices: all the spellings that are right;
- `words_match` asks whether the supplied words are one of them;
- `parse_capitals` reads words back to the amount they spell, and only when they are a
  correct spelling of it.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from itertools import product

DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = ("", "拾", "佰", "仟")
SECTION_UNITS = ("", "万", "亿")
CENT = Decimal("0.01")
# Three sections of four digits: up to 9999亿 圆, far past any invoicing limit.
MAX_YUAN = 10**12 - 1

# A piece of the spelling: the text choices at that place, the canonical one first.
Piece = tuple[str, ...]
ZERO: Piece = ("零",)
OPTIONAL_ZERO: Piece = ("", "零")


def _integer(yuan: int) -> list[Piece]:
    """The pieces of a whole number of 圆 above 0.

    Digits are visited from the highest non-zero one down. Zeros between two non-zero
    digits are one 零, with one exception: when they are only the tail of a 万 or 亿
    section (absorbed by its unit) and the next digit heads the section just below, as in
    107000 = 壹拾万(零)柒仟, DOMAIN.md lists both forms, so the 零 is a choice.
    """
    nonzero = [(p, int(d)) for p, d in enumerate(reversed(str(yuan))) if d != "0"][::-1]
    pieces: list[Piece] = []
    for i, (position, digit) in enumerate(nonzero):
        pieces.append((DIGITS[digit] + SMALL_UNITS[position % 4],))
        following = nonzero[i + 1][0] if i + 1 < len(nonzero) else None
        section = position // 4
        # The section's unit closes it once no lower digit of the same section follows.
        if section and (following is None or following // 4 != section):
            pieces.append((SECTION_UNITS[section],))
        if following is not None and following < position - 1:
            absorbed = following // 4 == section - 1 and following % 4 == 3
            pieces.append(OPTIONAL_ZERO if absorbed else ZERO)
    return pieces


def _pieces(amount: Decimal) -> list[Piece]:
    """The spelling of `amount`, rounded to the cent, as pieces (ValueError if negative)."""
    cents = int(amount.quantize(CENT, ROUND_HALF_UP) * 100)
    if cents < 0:
        raise ValueError("capitals are for amounts of 0 or more")
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    if yuan > MAX_YUAN:
        raise ValueError("amount too large for capitals")
    if not cents:
        return [("零圆整",)]
    pieces = [*_integer(yuan), ("圆",)] if yuan else []
    if jiao:
        # The 零 between 圆 and 角 when the 圆 digit is 0 is optional; the vectors' first
        # form writes it. With no 圆 at all (0.50) there is nothing for it to stand after.
        if yuan and yuan % 10 == 0:
            pieces.append(("零", ""))
        pieces.append((DIGITS[jiao] + "角",))
    elif fen and yuan:
        pieces.append(ZERO)  # 角 is 0 and 分 is not: 零 is mandatory
    if fen:
        pieces.append((DIGITS[fen] + "分",))  # never 整 after 分
    elif jiao:
        pieces.append(("", "整"))  # optional after 角
    else:
        pieces.append(("整",))  # required after 圆 when there are no 角 and 分
    return pieces


def to_capitals(amount: Decimal) -> str:
    """The canonical capitals of a non-negative amount, rounded to the cent."""
    return "".join(piece[0] for piece in _pieces(amount))


def accepted_forms(amount: Decimal) -> set[str]:
    """Every correct spelling of `amount` with 圆 (元 is read as 圆 before comparing)."""
    return {"".join(choice) for choice in product(*_pieces(amount))}


def _normal(text: str) -> str:
    # Invoice software prints ⊗ before the capitals; 元 and 圆 are the same word.
    return re.sub(r"\s+", "", text).lstrip("⊗").replace("元", "圆")


def words_match(supplied: str, amount: Decimal) -> bool:
    """Whether `supplied` is a correct spelling of `amount` (元 or 圆, optional 零 and 整)."""
    try:
        return _normal(supplied) in accepted_forms(amount)
    except ValueError:
        return False


_FRACTION = re.compile("零?(?:([壹贰叁肆伍陆柒捌玖])角)?零?(?:([壹贰叁肆伍陆柒捌玖])分)?整?")


def parse_capitals(text: str) -> Decimal | None:
    """The amount `text` spells, or None when it is not a correct spelling of any amount.

    The digits and units alone fix the value (零 carries none), so a loose reading finds
    the one amount the words could be; they are accepted only if they spell it right.
    """
    words = _normal(text)
    integer_text, has_yuan, fraction_text = words.partition("圆")
    if not has_yuan:
        integer_text, fraction_text = "", words
    yuan = _loose_integer(integer_text)
    fraction = _FRACTION.fullmatch(fraction_text)
    if yuan is None or fraction is None:
        return None
    jiao, fen = (DIGITS.index(d) if d else 0 for d in fraction.groups())
    value = Decimal(yuan * 100 + jiao * 10 + fen) / 100
    return value if words_match(words, value) else None


def _loose_integer(text: str) -> int | None:
    """The value of whole-number capitals ("" is 0), ignoring 零; None when units are out
    of order or a digit lacks its unit."""
    total, section, last_section = 0, 0, 10**20
    last_small, digit = 10**5, None
    for char in text.replace("零", ""):
        if char in DIGITS:
            if digit is not None:
                return None  # two digits in a row
            digit = DIGITS.index(char)
        elif char in SMALL_UNITS[1:]:
            unit = 10 ** SMALL_UNITS.index(char)
            if digit is None or unit >= last_small:
                return None
            section, last_small, digit = section + digit * unit, unit, None
        elif char in ("万", "亿"):
            section += digit or 0
            unit = 10**4 if char == "万" else 10**8
            if not section or unit >= last_section:
                return None
            if char == "亿":
                total = (total + section) * unit
            else:
                total += section * unit
            section, digit, last_small, last_section = 0, None, 10**5, unit
        else:
            return None
    return total + section + (digit or 0)
