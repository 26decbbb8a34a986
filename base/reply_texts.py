"""The daemon's English answer lines, said in Chinese: shared by the CLI and the console.

Operator actions answer in English lines (`J1: queued -> held`) made in `spool/` and
`daemon/`, which know no locale and are also read by scripts and logs. Each such line has
a `say.` or `check.` entry in the catalogue (`texts.py`) whose English template is read
back as a shape with named fields, and the Chinese template is said instead; a line no
entry matches is left as it came, so a new message is never lost, only untranslated.
"""

from __future__ import annotations

import re
from functools import cache

from . import texts
from .texts import ZH, clean

FIELD = re.compile(r"\{(\w*)\}")


@cache
def _shapes() -> list[tuple[str, re.Pattern[str]]]:
    """Each `say.`/`check.` message's English template as a pattern, in catalogue order
    (a longer shape is listed before a shorter one it would otherwise lose to)."""
    found = []
    for msg_id, (_, en) in texts.TEXTS.items():
        if not msg_id.startswith(("say.", "check.")):
            continue
        pattern, pos = "", 0
        for field in FIELD.finditer(en):
            pattern += re.escape(en[pos:field.start()]) + f"(?P<{field[1]}>.+?)"
            pos = field.end()
        found.append((msg_id, re.compile(pattern + re.escape(en[pos:]) + r"\Z", re.S)))
    return found


def field_zh(name: str, value: str) -> str:
    """A field read from an English line, as the Chinese one says it."""
    if name in ("state", "old", "new"):
        return texts.state(value, ZH)
    if name == "states":
        return "、".join(texts.state(s.strip(), ZH) for s in value.split(","))
    if name in ("sync", "action"):
        found = texts.TEXTS.get(f"{name}.{value}")
        return found[0] if found else value
    if name == "reason":
        return texts.reason(value, ZH)
    if name == "parts":
        return "；".join(translated(clean(part)) or part for part in value.split("; "))
    return value


def translated(line: str) -> str | None:
    """The Chinese for an English line of a known shape, or None."""
    for msg_id, shape in _shapes():
        found = shape.match(line)
        if found:
            fields = {k: field_zh(k, v) for k, v in found.groupdict().items()}
            return texts.text(msg_id, ZH, **fields)
    return None
