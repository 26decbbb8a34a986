"""Invoices from events: what head office's `invoices` table gains from a stored batch.

Pure functions, no SQL. A batch is folded per invoice into one change, so that the
database applies at most one upsert per invoice per batch (a PostgreSQL multi-row upsert
may not touch a row twice) and the order of events inside the batch still counts: a
print after a void makes the invoice printed again, a void after a print voids it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

CHINA = dt.timezone(dt.timedelta(hours=8))
FIELDS = ("code", "number", "kind", "date", "buyer_name", "buyer_tin")
# The largest invoice amount taken as one, in fen: 1,000,000,000.00 yuan, far above any
# real invoice. A total beyond it keeps its text but has no fen (NULL), so that sums of
# fen stay far inside 64 bits: 9.2e18 / 1e11 is 92 million such invoices in one group.
MAX_FEN = 10 ** 11
MAX_AMOUNT_CHARS = 40


@dataclass(frozen=True)
class InvoiceChange:
    """One invoice's change from one batch. `prints` > 0: upsert with print_count raised
    by `prints`; `prints` == 0: only a void of an invoice held from an earlier batch."""

    station: str
    invoice_key: str
    code: str | None = None
    number: str | None = None
    kind: str | None = None
    date: str | None = None
    buyer_name: str | None = None
    buyer_tin: str | None = None
    total: str | None = None
    total_fen: int | None = None
    printed_at: str | None = None
    day: str | None = None
    prints: int = 0
    state: str = "printed"
    voided_at: str | None = None
    job_id: str | None = None
    seq: int | None = None

    def row(self) -> tuple[Any, ...]:
        """Values in the order of `COLUMNS`."""
        return tuple(getattr(self, name) for name in COLUMNS)


COLUMNS = ("station", "invoice_key", *FIELDS, "total", "total_fen", "printed_at", "day",
           "prints", "state", "voided_at", "job_id", "seq")


def amount_fen(total: Any) -> int | None:
    """`total` (a decimal string) in whole fen, exactly; None if it is not an amount."""
    if not isinstance(total, str) or not 0 < len(total) <= MAX_AMOUNT_CHARS:
        return None
    try:
        value = Decimal(total.strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    fen = value * 100
    if fen != fen.to_integral_value() or abs(fen) > MAX_FEN:
        return None
    return int(fen)


def china_day(at: str) -> str | None:
    """The date in China (UTC+8) of an ISO-8601 UTC instant, or None if it is not one."""
    try:
        moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        # A time at the edge of the calendar (9999-12-31T23:00Z) has no China date:
        # eight hours on is past year 9999 (OverflowError).
        return moment.astimezone(CHINA).date().isoformat()
    except (ValueError, AttributeError, OverflowError):
        return None


def key_parts(key: str) -> tuple[str | None, str]:
    """`CODE-NUMBER` or `NUMBER`: the invoice code (or None) and number."""
    code, dash, number = key.rpartition("-")
    return (code, number) if dash and code and number else (None, key)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def printed(station: str, event: dict[str, Any]) -> InvoiceChange:
    """The invoice a `job.printed` event describes, as a first print."""
    payload = event.get("payload") or {}
    facts = payload.get("invoice")
    if isinstance(facts, dict):
        fields = {name: _text(facts.get(name)) for name in FIELDS}
    else:
        # Stations before the invoice's facts rode on the event: the key holds them.
        code, number = key_parts(event["invoice_key"])
        fields = {**dict.fromkeys(FIELDS), "code": code, "number": number}
    total = _text(payload.get("total"))
    return InvoiceChange(
        station=station, invoice_key=event["invoice_key"], **fields, total=total,
        total_fen=amount_fen(total), printed_at=event["at"], day=china_day(event["at"]),
        prints=1, state="printed", job_id=event.get("job_id"), seq=event["seq"])


def fold(station: str, events: list[dict[str, Any]]) -> list[InvoiceChange]:
    """The invoice changes of newly stored `events` (in seq order), one per invoice."""
    changes: dict[str, InvoiceChange] = {}
    for event in events:
        key = event.get("invoice_key")
        if not key:
            continue
        kind = event["type"]
        before = changes.get(key)
        if kind == "job.printed":
            now = printed(station, event)
            if before is not None:
                # A reprint: the invoice keeps its first print's time and day, takes the
                # newest facts, and counts one print more.
                now = replace(now, prints=before.prints + 1,
                              printed_at=before.printed_at or now.printed_at,
                              day=before.day or now.day)
            changes[key] = now
        elif kind == "invoice.voided":
            base = before or InvoiceChange(station=station, invoice_key=key)
            changes[key] = replace(base, state="voided", voided_at=event["at"])
    return list(changes.values())
