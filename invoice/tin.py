"""Taxpayer identification numbers (纳税人识别号), DOMAIN.md "Identifiers".

An 18-character 统一社会信用代码 (GB 32100) has its own check character, checked by
python-stdnum, and carries in characters 9-17 a GB 11714 organisation code with another
check character, checked here (stdnum has no module for it). Legacy taxpayer numbers are
15, 17 or 20 characters [0-9A-Z].
"""

from __future__ import annotations

import functools
import re

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError

_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG = re.compile(r"[0-9A-Z]{8}[0-9X]")
_LEGACY = re.compile(r"[0-9A-Z]+")


def gb11714_check(body: str) -> str:
    """The check character of an 8-character organisation code body (A=10 … Z=35)."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w
                for c, w in zip(body, _GB11714_WEIGHTS, strict=True))
    r = 11 - total % 11
    return "X" if r == 10 else "0" if r == 11 else str(r)


def tin_problem(tin: str) -> tuple[str, str] | None:
    """None when `tin` is valid; else (Chinese, English) saying what is wrong."""
    if len(tin) == 18:
        return uscc_problem(tin)
    if len(tin) in (15, 17, 20) and _LEGACY.fullmatch(tin):
        return None
    return ("应为 18 位统一社会信用代码，或 15、17、20 位旧税号（数字和大写字母）",
            "expected an 18-character unified social credit code, or a legacy number of "
            "15, 17 or 20 characters 0-9 A-Z")


# A branch's invoices name the same few sellers and a few hundred buyers again and again,
# and python-stdnum's check is the dearest rule of an invoice: answers are kept, for at
# most 2,048 codes of 18 characters (about 250 KiB), the least recently used going first.
@functools.lru_cache(maxsize=2048)
def uscc_problem(tin: str) -> tuple[str, str] | None:
    """`tin_problem` of an 18-character unified social credit code."""
    try:
        uscc.validate(tin)
    except ValidationError:
        return ("统一社会信用代码校验位错误（GB 32100）",
                "the unified social credit code's check character is wrong (GB 32100)")
    org = tin[8:17]
    if not _ORG.fullmatch(org) or gb11714_check(org[:8]) != org[8]:
        return ("统一社会信用代码中的组织机构代码校验位错误（GB 11714）",
                "the organisation code inside it has a wrong check character (GB 11714)")
    return None
