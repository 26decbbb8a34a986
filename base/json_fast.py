"""Compact JSON for the wire at the station's rate: orjson where it writes the same
document, the standard library where it may not (or when orjson is not installed).

Sync posts batches of 500 journal events; with the standard library, decoding each
stored payload only to encode it again, and encoding the batch, was about a third of
the station's share of a 100,000-event backlog (bench/sync.py). Two things make it cheap:

- `Raw` carries JSON text that is already serialised (a payload as the journal stored
  it, in canonical form) into a document verbatim, so it is neither parsed nor written
  again. Head office parses it like any other value and hashes its canonical form, so
  the bytes on the wire need not be canonical, only faithful; verbatim is the most
  faithful there is.
- `dumps` writes what `json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`
  writes, as UTF-8 bytes. orjson differs only in a few float spellings (`1e-07` is
  `1e-7`), which parse to the same number, in writing NaN and Infinity (not JSON, and
  refused by head office) as `null`, and it refuses integers past 64 bits and
  non-string keys: those documents go through the standard library instead. Types the
  standard library refuses (datetimes, dataclasses, str subclasses) are passed through
  orjson's own handling to the same refusal, so orjson never makes a document valid that
  the standard library would not write.

The head-office side has its own helper (headoffice/fast_json.py); this one lives in
`base` because the station's layers (daemon, spool) may not import headoffice.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; this keeps a fallback
    orjson = None  # type: ignore[assignment]

_PASSTHROUGH = 0 if orjson is None else (orjson.OPT_PASSTHROUGH_DATETIME
                                          | orjson.OPT_PASSTHROUGH_DATACLASS
                                          | orjson.OPT_PASSTHROUGH_SUBCLASS)


class Raw:
    """JSON text embedded in a document as it is: the caller vouches that it is valid."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Raw) and other.text == self.text

    __hash__ = None  # type: ignore[assignment]

    def value(self) -> Any:
        """The parsed value, for code that needs to look inside."""
        return json.loads(self.text)


def _orjson_default(obj: Any) -> Any:
    if isinstance(obj, Raw):
        return orjson.Fragment(obj.text)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _stdlib_default(obj: Any) -> Any:
    if isinstance(obj, Raw):
        return json.loads(obj.text)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    """Compact JSON, UTF-8 unescaped, as bytes; raises TypeError (or ValueError, or
    UnicodeEncodeError for a lone surrogate) where the standard library would."""
    if orjson is not None:
        try:
            return orjson.dumps(obj, default=_orjson_default, option=_PASSTHROUGH)
        except TypeError:
            # Integers past 64 bits, non-string keys, a lone surrogate, or a type neither
            # writes: the standard library decides, so the outcome is always its own.
            pass
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                      default=_stdlib_default).encode("utf-8")


def loads(raw: bytes | str) -> Any:
    """Parse JSON; raises ValueError as `json.loads` does. NaN and Infinity, which
    orjson refuses and the standard library takes, are left to the standard library."""
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)
