"""JSON at the receiver's rate: orjson where it gives the same result, the standard
library where it may not.

A batch of 500 events is parsed, hashed event by event (SHA-256 over canonical JSON) and
its payloads written out again; with the standard library that was about 12 µs an event,
half of the receiver's work per batch. orjson writes canonical JSON (sorted keys, no
spaces, UTF-8 unescaped) byte for byte as `json.dumps(..., sort_keys=True,
separators=(",", ":"), ensure_ascii=False)` does, except for a few floats (`1e-07` is
`1e-7`) and integers past 64 bits, which it refuses. So a hash computed with orjson that
does not match is computed again the station's way before the event is refused: the
answer is always the standard library's, only faster when they agree (they do for every
event a station writes).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from printstation.spool.journal import event_hash


def loads(raw: bytes) -> Any:
    """Parse a body; raises ValueError (or RecursionError) as `json.loads` would.

    orjson refuses NaN and Infinity and nests at most 1,024 deep; a body it refuses is
    parsed again by the standard library (integers past 64 bits), with NaN refused."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259), though Python's decoder takes them.
    raise ValueError(f"{name} is not a JSON value")


def hash_matches(prev_hash: str, body: dict[str, Any], expected: str) -> bool:
    """Whether `expected` is the event hash of `body` after `prev_hash` (SPEC §11)."""
    try:
        quick = hashlib.sha256(prev_hash.encode("utf-8")
                               + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    except (TypeError, UnicodeEncodeError):
        quick = None
    if quick == expected:
        return True
    return event_hash(prev_hash, body) == expected


def dumps(obj: Any) -> str:
    """JSON text of a payload to store (not hashed again: any faithful form will do)."""
    try:
        return orjson.dumps(obj).decode("utf-8")
    except TypeError:
        return json.dumps(obj, ensure_ascii=False)
