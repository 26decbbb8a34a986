"""Offline limits (SPEC §11, `[offline]`): how far printing may run ahead of head office.

Like the tax-control device's offline limits (离线开票时长 and 离线开票总金额), two budgets
are kept: the age of the oldest printed invoice head office has not acknowledged, and
the sum of the totals of all such invoices. A job that would go past either waits,
held with `offline.limit`, and goes on by itself once sync catches up.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from printstation.config import Settings
from printstation.invoice import problem
from printstation.spool import outbox

WARN_AT = Decimal("0.8")


@dataclass(frozen=True)
class Budget:
    printed: int            # printed invoices head office lacks
    age_h: float            # the oldest of them, hours
    total: Decimal          # their totals, summed
    max_hours: int          # 0: no limit
    max_total: Decimal      # 0: no limit
    # Jobs handed to a printer and not yet known printed: counted against the amount
    # limit (they may come out before head office hears of the next), not shown as printed.
    in_flight: Decimal = Decimal("0")

    def refusal(self, adding: Decimal) -> tuple[str, str] | None:
        """Why a job of total `adding` may not print now, in (Chinese, English); or None.

        The amount limit counts the job itself, so the unacknowledged total never goes
        past it; the age limit holds every new job once the oldest is too old.
        """
        if self.max_hours and self.printed and self.age_h >= self.max_hours:
            return (f"最早一张未被总部确认的发票已打印 {self.age_h:.1f} 小时"
                    f"（上限 {self.max_hours} 小时）",
                    f"the oldest printed invoice head office has not acknowledged is "
                    f"{self.age_h:.1f} h old (limit {self.max_hours} h)")
        if self.max_total and self.total + self.in_flight + adding > self.max_total:
            flying_zh = f" 加打印中 {self.in_flight}" if self.in_flight else ""
            flying_en = f" plus {self.in_flight} printing now" if self.in_flight else ""
            return (f"未被总部确认的已打印金额 {self.total}{flying_zh} 加本张 {adding} "
                    f"超过上限 {self.max_total}",
                    f"unacknowledged printed total {self.total}{flying_en} plus this "
                    f"invoice's {adding} exceeds the limit {self.max_total}")
        return None

    def warning(self) -> str | None:
        """A line for `status` once 80 % of either budget is used."""
        parts = []
        if self.max_hours and self.age_h >= float(WARN_AT) * self.max_hours:
            parts.append(f"oldest unacknowledged printed invoice {self.age_h:.1f} h of "
                         f"{self.max_hours} h")
        if self.max_total and self.total >= WARN_AT * self.max_total:
            parts.append(f"unacknowledged printed total {self.total} of {self.max_total}")
        return "offline limit near: " + "; ".join(parts) if parts else None

    def used(self) -> float:
        """The larger share of the two budgets in use (0..1, above 1 when past a limit)."""
        shares = []
        if self.max_hours:
            shares.append(self.age_h / self.max_hours if self.printed else 0.0)
        if self.max_total:
            shares.append(float(self.total / self.max_total))
        return round(max(shares, default=0.0), 4)

    def as_dict(self) -> dict:
        return {"printed": self.printed, "age_h": round(self.age_h, 3),
                "total": str(self.total), "max_hours": self.max_hours,
                "max_total": str(self.max_total), "warning": self.warning()}


def budget(conn: sqlite3.Connection, settings: Settings, now: dt.datetime) -> Budget | None:
    """The offline budget in use, or None when no limit applies (none set, or sync off:
    with no head office nothing is ever acknowledged, so a limit would stop printing)."""
    limits = settings.offline
    if not settings.sync.url or not (limits.max_hours or limits.max_total):
        return None
    found = outbox.unacknowledged_printed(conn)
    return Budget(found.printed, outbox.age_s(found.oldest_at, now) / 3600, found.total,
                  limits.max_hours, limits.max_total,
                  outbox.in_flight_total(conn) if limits.max_total else Decimal("0"))


def refusal_errors(conn: sqlite3.Connection, settings: Settings, now: dt.datetime,
                   total: Decimal) -> str | None:
    """Why the offline budget stops an invoice of `total`, as its `offline.limit` problem
    (the job's errors, JSON), or None when it may print."""
    found = budget(conn, settings, now)
    refusal = found.refusal(total) if found else None
    if refusal is None:
        return None
    detail = problem("offline.limit", "total", detail_zh=refusal[0], detail_en=refusal[1])
    return json.dumps([detail.to_dict()], ensure_ascii=False)
