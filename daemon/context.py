"""What every stage shares: settings, stock layouts, the spool folder, the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from printstation.config import Settings, Stock
from printstation.invoice import Rules
from printstation.spool import Journal, SpoolDir, utc_now
from printstation.spool.journal import Clock


@dataclass
class Context:
    settings: Settings
    stocks: dict[str, Stock]
    clock: Clock = utc_now
    # Called after each commit that journals an event (wakes the sync worker).
    on_event: Callable[[], None] | None = None
    spool: SpoolDir = field(init=False)

    def __post_init__(self) -> None:
        self.spool = SpoolDir(self.settings.station.data_dir)

    def open_journal(self) -> Journal:
        """A new connection: call it in the thread that will use it."""
        journal = Journal(self.settings.journal_path, self.settings.station.id, self.clock)
        journal.on_event = self.on_event
        return journal

    def rules(self) -> Rules:
        v = self.settings.validation
        return Rules(v.max_total, v.line_tax_tolerance, v.invoice_tax_tolerance, v.rates)

    def today(self) -> dt.date:
        """The station's local date: invoice dates are local, storage times are UTC."""
        return self.clock().astimezone().date()
