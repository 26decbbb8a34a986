"""The receiver's side of the sync protocol (SPEC §11): the shape of a batch and its report.

Everything here is pure: bytes and documents in, checked documents out, or `BadRequest`
with the HTTP status to answer. The server runs it in its work pool, never on the event
loop, because parsing and hashing a batch is CPU work.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from . import fast_json

HASH = re.compile(r"[0-9a-f]{64}")
# The hashed body of an event, with the type each field must have.
BODY_FIELDS: dict[str, tuple[type, ...]] = {
    "seq": (int,), "id": (str,), "at": (str,), "station": (str,), "type": (str,),
    "job_id": (str, type(None)), "invoice_key": (str, type(None)), "payload": (dict,)}
# The outbox report (common to station and head office): its bounds.
REPORT_STRING_MAX = 100
REPORT_INVOICES_MAX = 200
# Event fields kept in indexed columns (and a printed invoice's facts) are at most this
# long: a station writes ids of 32 hex digits and keys of about 30 characters.
FIELD_MAX = 200
# A station's clock may be wrong, but not this wrong: these years keep every time
# printable in China time and every day in order.
YEARS = (1970, 2999)
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
# The offline budget's share in use is 0..1, above 1 past a limit; this bounds nonsense.
OFFLINE_USED_MAX = 1000


class BadRequest(Exception):
    def __init__(self, status: int, message: str, seq: int | None = None):
        super().__init__(message)
        self.status = status
        self.seq = seq


def parse_body(raw: bytes, max_depth: int) -> Any:
    """The JSON document; what is stored of it is held to `max_depth` by `check_events`.

    The C decoder refuses to recurse past the interpreter's recursion limit with a
    RecursionError (a body of 100,000 `[` is one); that is a bad request like any other,
    caught here and never logged as a fault. Less deep nesting is looked for only where
    it would be kept (an event's payload): walking the whole document cost a fifth of a
    batch's time, and nothing else of it is kept or walked again.
    """
    try:
        return fast_json.loads(raw)
    except RecursionError:
        raise BadRequest(400, f"body is nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadRequest(400, f"body is not JSON: {str(exc)[:80]}") from None


def too_deep(node: dict | list, levels: int) -> bool:
    """Whether lists and objects nest in `node` (itself one level) more than `levels` deep.

    Recursive, but never deeper than `levels`: what it is given was parsed already."""
    if levels < 1:
        return True
    for child in (node.values() if type(node) is dict else node):
        if (type(child) is dict or type(child) is list) and too_deep(child, levels - 1):
            return True
    return False


def check_events(station: str, events: Any, max_depth: int = 32) -> list[dict[str, Any]]:
    """The batch's shape, order and each event's own hash; raises `BadRequest`.

    `max_depth` counts from the body: the body, its events list and an event are three
    levels, so a payload may nest `max_depth - 3` deep."""
    payload_levels = max_depth - 3
    if not isinstance(events, list) or not events:
        raise BadRequest(400, "events must be a non-empty list")
    previous = None
    for event in events:
        if not isinstance(event, dict):
            raise BadRequest(400, "each event must be an object")
        for name, types in BODY_FIELDS.items():
            value = event.get(name)
            if not isinstance(value, types) or value is True or value is False:
                raise BadRequest(400, f"event field {name!r} is missing or of the wrong type")
        for name in ("prev_hash", "hash"):
            if not isinstance(event.get(name), str) or not HASH.fullmatch(event[name]):
                raise BadRequest(400, f"event field {name!r} must be 64 hex digits")
        if event["station"] != station:
            raise BadRequest(400, f"event seq {event['seq']} is of station "
                                  f"{event['station']!r}, not {station!r}")
        if event["seq"] < 1 or event["seq"] >= 2 ** 63:
            raise BadRequest(400, f"event seq {event['seq']} is out of range")
        if too_deep(event["payload"], payload_levels):
            raise BadRequest(400, f"body is nested deeper than {max_depth} levels")
        _check_bounds(event)
        if previous is not None and event["seq"] != previous + 1:
            raise BadRequest(400, "events must have consecutive seqs")
        previous = event["seq"]
        body = {name: event[name] for name in BODY_FIELDS}
        try:
            matches = fast_json.hash_matches(event["prev_hash"], body, event["hash"])
        except UnicodeEncodeError:
            raise BadRequest(400, f"event seq {event['seq']}: text that is not valid UTF-8"
                                  " (a lone surrogate)") from None
        if not matches:
            raise BadRequest(422, f"event seq {event['seq']}: hash does not match its content",
                             seq=event["seq"])
    return events


def _check_bounds(event: dict[str, Any]) -> None:
    """What is kept in columns and shown on the dashboard is bounded, and a time is one
    a station writes (ISO-8601 UTC): one station's odd values must not break the pages,
    the order of the search or the exports that show every station's invoices."""
    for name in ("id", "type", "job_id", "invoice_key"):
        value = event[name]
        if value is not None and len(value) > FIELD_MAX:
            raise BadRequest(400, f"event seq {event['seq']}: {name} is longer than "
                                  f"{FIELD_MAX} characters")
    if not is_time(event["at"]):
        raise BadRequest(400, f"event seq {event['seq']}: at must be a UTC time as "
                              f"2026-11-28T01:02:03.456Z (years {YEARS[0]}–{YEARS[1]})")
    facts = event["payload"].get("invoice")
    if isinstance(facts, dict):
        for name, value in facts.items():
            if isinstance(value, str) and len(value) > FIELD_MAX:
                raise BadRequest(400, f"event seq {event['seq']}: invoice {name} is longer "
                                      f"than {FIELD_MAX} characters")


def is_time(text: str) -> bool:
    """A UTC time as stations write it, within YEARS."""
    if not TIME.fullmatch(text):
        return False
    try:
        when = dt.datetime.fromisoformat(text[:19])
    except ValueError:
        return False
    return YEARS[0] <= when.year <= YEARS[1]


def check_report(report: Any) -> dict[str, Any] | None:
    """The optional outbox report, checked and bounded; raises `BadRequest` (400).

    Keys this receiver does not know are dropped rather than refused: a station newer
    than head office may report more, and a refusal would halt its sync for a report
    that is only shown on the dashboard.
    """
    if report is None:
        return None
    if not isinstance(report, dict):
        raise BadRequest(400, "outbox must be an object")
    checked: dict[str, Any] = {
        "pending": _count(report, "pending"),
        "oldest_at": _time(report, "oldest_at", optional=True),
        "printed": _count(report, "printed"),
        "printed_total": _amount(report, "printed_total"),
        "offline_used": _share(report.get("offline_used")),
    }
    if "last_seq" in report:
        checked["last_seq"] = _count(report, "last_seq")
    invoices = report.get("invoices", [])
    if not isinstance(invoices, list) or len(invoices) > REPORT_INVOICES_MAX:
        raise BadRequest(400, f"outbox.invoices must be a list of at most "
                              f"{REPORT_INVOICES_MAX}")
    checked["invoices"] = []
    for item in invoices:
        if not isinstance(item, dict):
            raise BadRequest(400, "outbox.invoices: each must be an object")
        checked["invoices"].append({
            "invoice_key": _text(item, "invoice_key", where="outbox.invoices"),
            "number": _text(item, "number", where="outbox.invoices"),
            "code": _text(item, "code", optional=True, where="outbox.invoices"),
            "total": _amount(item, "total", where="outbox.invoices"),
            "printed_at": _time(item, "printed_at", where="outbox.invoices"),
        })
    return checked


def _count(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 63:
        raise BadRequest(400, f"outbox.{name} must be a whole number, 0 or more")
    return value


def _text(doc: dict[str, Any], name: str, optional: bool = False,
          where: str = "outbox") -> str | None:
    value = doc.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= REPORT_STRING_MAX:
        raise BadRequest(400, f"{where}.{name} must be a text of 1 to "
                              f"{REPORT_STRING_MAX} characters")
    return value


def _time(doc: dict[str, Any], name: str, optional: bool = False,
          where: str = "outbox") -> str | None:
    value = _text(doc, name, optional, where)
    if value is not None and not is_time(value):
        raise BadRequest(400, f"{where}.{name} must be a UTC time as 2026-11-28T01:02:03Z")
    return value


def _amount(doc: dict[str, Any], name: str, where: str = "outbox") -> str:
    """A decimal string, as sent (money is never a float)."""
    value = _text(doc, name, where=where)
    assert value is not None
    try:
        ok = Decimal(value).is_finite()
    except InvalidOperation:
        ok = False
    if not ok:
        raise BadRequest(400, f"{where}.{name} must be a decimal amount, as \"12.50\"")
    return value


def _share(value: Any) -> float | None:
    """The offline budget used: a ratio (not money), 0 to 1, above 1 past a limit. A
    station past its limit is the one whose report matters most, so it is not refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not 0 <= value <= OFFLINE_USED_MAX:
        raise BadRequest(400, f"outbox.offline_used must be a number from 0 to "
                              f"{OFFLINE_USED_MAX}, or null")
    return float(value)
