"""The CLI's side of the message catalogue (`base/texts.py`): the clerk's language, the
error line of `_report_error`, and the daemon's English lines said in that language.

The daemon's English lines are said in Chinese by `base/reply_texts.py`, which the web
console shares (tests/test_language.py holds the known ones to their shapes).
"""

from __future__ import annotations

import errno
import os
import re

from printstation.base import reply_texts, texts
from printstation.base.errors import InternalError, StationError
from printstation.base.texts import EN, EXCEPTION_NAME, ZH, clean

# The daemon's English lines in Chinese (tests read it here, beside `said`).
translated = reply_texts.translated
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def lang() -> str:
    """The clerk's language, from the locale this command runs in."""
    return texts.language(os.environ)


def say(msg_id: str, *args: object, **fields: object) -> str:
    return texts.text(msg_id, lang(), *args, **fields)


def state(value: str) -> str:
    return texts.state(value, lang())


def reason(code: str | None) -> str:
    return texts.reason(code, lang())


def said(line: str, language: str | None = None) -> str:
    """An English line of the daemon or of an error, in the clerk's language."""
    line = clean(line)
    if (language or lang()) == ZH:
        line = reply_texts.translated(line) or line
    return clean(line)


def _template_id(exc: StationError) -> str:
    """The catalogue entry of an error: its class's, or its nearest ancestor's; a refusal
    the daemon sent back is known by its exit code alone (daemon/control.py)."""
    if type(exc) is StationError and f"error.exit.{exc.exit_code}" in texts.TEXTS:
        return f"error.exit.{exc.exit_code}"
    for cls in type(exc).__mro__:
        if f"error.{cls.__name__}" in texts.TEXTS:
            return f"error.{cls.__name__}"
    return "error.StationError"


def error_line(exc: StationError) -> str:
    """The one line `_report_error` prints, in the clerk's language."""
    if isinstance(exc, InternalError):
        return internal_line(exc)
    language = lang()
    msg_id = _template_id(exc)
    en = texts.TEXTS[msg_id][1]
    if any(name for name in reply_texts.FIELD.findall(en)):
        if language == EN:
            return clean(en.format(**exc.fields))
        fields = {k: reply_texts.field_zh(k, str(v)) for k, v in exc.fields.items()}
        return clean(texts.text(msg_id, ZH, **fields))
    message = clean(str(exc))
    if language == EN:
        return clean(message)
    if _CJK.search(message):  # said in Chinese already (catalog.say) where it was raised
        return clean(message)
    return clean(reply_texts.translated(message) or texts.text(msg_id, ZH, message))


def _detail(exc: BaseException, language: str) -> str:
    """What went wrong, without the exception's class name: an OS error as its file and
    its cause in words, anything else as its first line."""
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, "")
        cause = texts.text(f"errno.{name}", language) if f"errno.{name}" in texts.TEXTS \
            else (exc.strerror or "-")
        return f"{exc.filename}{'：' if language == ZH else ': '}{cause}" if exc.filename \
            else cause
    lines = str(exc).splitlines()
    return clean(lines[0] if lines else "")


def internal_line(exc: BaseException) -> str:
    """The one line for a bug (exit 70), in the clerk's language."""
    language = lang()
    detail = _detail(exc, language)
    if isinstance(exc, InternalError):
        detail = clean(str(exc.fields.get("detail", "-")))
    return texts.text("error.InternalError", language, detail=detail)


__all__ = ["EXCEPTION_NAME", "clean", "error_line", "internal_line", "lang", "reason", "said",
           "say", "state", "translated"]
