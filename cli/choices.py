"""Values a person types that must name something that exists: a job state, a printer.

An unknown one is a usage error (exit 2) naming the closest known values, in the manner of
git's "did you mean", never an empty table that looks like "nothing there".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import NoReturn

from printstation.base import texts
from printstation.base.errors import UsageError
from printstation.config import Settings
from printstation.spool import State

from . import catalog


def closest(value: str, known: Iterable[str]) -> list[str]:
    """The known values closest to `value`: the best match and any as good as it, else
    those it is the start of ("unc" for "uncertain"); at most three."""
    known = list(known)
    scored = sorted(((difflib.SequenceMatcher(None, value, k).ratio(), k) for k in known),
                    reverse=True)
    close = [k for score, k in scored if score >= 0.6 and score >= scored[0][0] - 0.05]
    if not close:
        close = [k for k in known if value and k.startswith(value)]
    return close[:3]


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """"; did you mean 'queued'?" in the clerk's language, or "" when nothing is close."""
    close = closest(value, known)
    if not close:
        return ""
    return catalog.say("pick.close",
                       close=catalog.say("pick.or").join(repr(c) for c in close))


def state(value: str | None) -> str | None:
    """A job state as typed (any case, or its Chinese name: 待确认), or None for none."""
    if value is None:
        return None
    by_name = {s.value: s.value for s in State}
    by_name |= {texts.state(s.value, texts.ZH): s.value for s in State}
    typed = value.strip()
    if typed.lower() in by_name or typed in by_name:
        return by_name.get(typed.lower()) or by_name[typed]
    shown = [catalog.state(s.value) for s in State]
    return _refuse("pick.state", typed=repr(value),
                   close=did_you_mean(typed.lower(),
                                      dict.fromkeys([*shown, *(s.value for s in State)])),
                   states=", ".join(shown))


def printer(settings: Settings, name: str | None) -> str | None:
    """A configured printer's name, or None for none given."""
    if name is None:
        return None
    names = [p.name for p in settings.printers]
    if name in names:
        return name
    return _refuse("pick.printer", printer=repr(name), close=did_you_mean(name, names),
                   names=", ".join(names))


def stock(settings: Settings, printer_name: str, name: str | None) -> str | None:
    """A stock the printer holds, or None for none given."""
    configured = settings.printer(printer_name)
    if name is None or configured is None or name in configured.stocks:
        return name
    return _refuse("pick.stock", printer=printer_name, stock=repr(name),
                   close=did_you_mean(name, configured.stocks),
                   stocks=", ".join(configured.stocks))


def _refuse(msg_id: str, **fields: str) -> NoReturn:
    raise UsageError(catalog.say(msg_id, **fields))
