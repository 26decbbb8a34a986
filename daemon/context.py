"""What every stage shares: the current configuration, the spool folder, the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from types import MappingProxyType

from printstation.config import Config, Settings, Stock
from printstation.invoice import Rules
from printstation.spool import Journal, SpoolDir, utc_now
from printstation.spool.journal import Clock


class Context:
    """The stages' shared state. `config` is replaced whole on reload (one assignment);
    a stage that needs settings and stocks together reads `config` once."""

    def __init__(self, settings: Settings, stocks: Mapping[str, Stock],
                 clock: Clock = utc_now):
        self.config = Config(settings, MappingProxyType(dict(stocks)))
        self.clock = clock
        # Called after each commit that journals an event (wakes the sync worker).
        self.on_event: Callable[[], None] | None = None
        # The data folder cannot change on reload (a restart is needed), so neither can this.
        self.spool = SpoolDir(settings.station.data_dir)

    @classmethod
    def of(cls, config: Config, clock: Clock = utc_now) -> Context:
        return cls(config.settings, config.stocks, clock)

    @property
    def settings(self) -> Settings:
        return self.config.settings

    @property
    def stocks(self) -> Mapping[str, Stock]:
        return self.config.stocks

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
