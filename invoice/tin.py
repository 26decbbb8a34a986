"""Taxpayer identification numbers (纳税人识别号), DOMAIN.md "Identifiers".

An 18-character 统一社会信用代码 (GB 32100) has its own check character, checked by
python-stdnum, and carries in characters 9-17 a GB 11714 organisation code with another
check character, checked here (stdnum has no module for it). Legacy taxpayer numbers are
15, 17 or 20 characters [0-9A-Z].
"""

from __future__ import annotations

import re

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError

_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def gb11714_check(body: str) -> str:
    """The check character of an 8-character organisation code body (A=10 … Z=35)."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w
                for c, w in zip(body, _GB11714_WEIGHTS, strict=True))
    r = 11 - total % 11
    return "X" if r == 10 else "0" if r == 11 else str(r)


def tin_problem(tin: str) -> tuple[str, str] | None:
    """None when `tin` is valid; else (Chinese, English) saying what is wrong."""
    if len(tin) == 18:
        try:
            uscc.validate(tin)
        except ValidationError:
            return ("统一社会信用代码校验位错误（GB 32100）",
                    "the unified social credit code's check character is wrong (GB 32100)")
        org = tin[8:17]
        if not re.fullmatch(r"[0-9A-Z]{8}[0-9X]", org) or gb11714_check(org[:8]) != org[8]:
            return ("统一社会信用代码中的组织机构代码校验位错误（GB 11714）",
                    "the organisation code inside it has a wrong check character (GB 11714)")
        return None
    if len(tin) in (15, 17, 20) and re.fullmatch(r"[0-9A-Z]+", tin):
        return None
    return ("应为 18 位统一社会信用代码，或 15、17、20 位旧税号（数字和大写字母）",
            "expected an 18-character unified social credit code, or a legacy number of "
            "15, 17 or 20 characters 0-9 A-Z")
