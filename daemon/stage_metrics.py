"""`data_dir/metrics.prom` (or `[metrics] path`): Prometheus text format for node_exporter's
textfile collector, rewritten atomically from the journal and from what the printer and
sync workers know: jobs, printed totals, sync backlog and state, paper left per printer
and stock, each printer's state and CUPS's reasons, latency.

Every INTERVAL_S the runner looks whether anything the file says may have changed (the
journal's last event, the printers' and the sync worker's state: a few cheap reads) and
rewrites it only then, or after REFRESH_S for the gauges that move with time alone (the
age of the sync backlog). The full pass reads the whole jobs table: done every 5 s on a
journal of 20,000 jobs it was most of an idle station's CPU (issue 19)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from printstation.base.durable import atomic_write
from printstation.drivers import health_words
from printstation.spool import State, outbox, paper, queries
from printstation.spool.states import SyncState

from .context import Context
from .runner import JournalRunner

if TYPE_CHECKING:
    from .stage_print import PrintRunner
    from .stage_sync import SyncRunner

INTERVAL_S = 5.0
REFRESH_S = 60.0
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _seconds(later: str, earlier: str) -> float:
    def parse(t: str) -> dt.datetime:
        return dt.datetime.fromisoformat(t.replace("Z", "+00:00"))

    return (parse(later) - parse(earlier)).total_seconds()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total, self.sum = 0, 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                self.counts[i] += 1
        self.total += 1
        self.sum += value

    def lines(self, name: str) -> list[str]:
        return [*(f'{name}_bucket{{le="{b}"}} {c}'
                  for b, c in zip(BUCKETS, self.counts, strict=True)),
                f'{name}_bucket{{le="+Inf"}} {self.total}', f"{name}_sum {self.sum:.6f}",
                f"{name}_count {self.total}"]


class MetricsRunner(JournalRunner):
    name = "metrics"

    def __init__(self, ctx: Context, printers_up: Callable[[], dict[str, bool]],
                 printers: Sequence[PrintRunner] = (), sync: SyncRunner | None = None):
        super().__init__(ctx)
        self.printers_up = printers_up
        self.printers = printers
        self.sync = sync
        self.latency = Histogram()
        self.seen_seq = 0
        self.amount = Decimal(0)
        self.amount_seq: int | None = None
        # What the last file was written from, and when (monotonic).
        self.written_from: object = None
        self.written_at = 0.0

    def nap_s(self) -> float:
        return INTERVAL_S

    def run_once(self) -> bool:
        source = self.sources()
        if source == self.written_from and time.monotonic() - self.written_at < REFRESH_S:
            return False
        atomic_write(self.ctx.settings.metrics_file, self.render().encode("utf-8"))
        self.written_from, self.written_at = source, time.monotonic()
        return False

    def sources(self) -> object:
        """What the file is made from, in brief: when it is unchanged, so is the file (but
        for the gauges that move with time). The journal's last event stands for every
        job, paper and invoice change; acknowledgements change no event, so the sync
        worker's own state (its acked mark) stands for them."""
        return (self.journal.last_seq(), self.printers_up(),
                [(r.device, r.error, r.alive) for r in self.printers],
                self.sync.snapshot() if self.sync is not None else None,
                self.sync.state if self.sync is not None else None)

    def _observe_new_submits(self) -> None:
        """Pickup-to-submit latency of jobs submitted since the last pass (incremental)."""
        rows = queries.submits_since(self.journal.conn, self.seen_seq)
        for row in rows:
            self.latency.observe(max(0.0, _seconds(row["submitted"], row["picked"])))
        last = self.journal.last_seq()
        self.seen_seq = max([last, *(r["seq"] for r in rows)]) if rows else last

    def _printed_amount(self) -> Decimal:
        """Total of printed jobs: one full sum at start, then only the jobs printed since.

        A printed job stays printed (the state is final), so the sum only grows. Money is
        summed as Decimal (SQLite would sum the text as float).
        """
        # One read snapshot for the mark and the sum, so no job is counted twice or missed.
        with queries.Snapshot(self.journal.conn) as conn:
            mark = self.journal.last_seq()
            totals = queries.printed_totals(conn, self.amount_seq, mark)
        self.amount += sum((Decimal(t) for t in totals), Decimal(0))
        self.amount_seq = mark
        return self.amount

    def render(self) -> str:
        conn = self.journal.conn
        self._observe_new_submits()
        out = ["# HELP printstation_jobs Jobs by state and printer.",
               "# TYPE printstation_jobs gauge"]
        for row in queries.jobs_per_state_printer(conn):
            out.append(f'printstation_jobs{{state="{row["state"]}",printer="'
                       f'{_label(row["printer"])}"}} {row["n"]}')
        printed = queries.count_in_state(conn, State.PRINTED)
        amount = self._printed_amount()
        out += ["# HELP printstation_printed_jobs_total Jobs printed (reprints included).",
                "# TYPE printstation_printed_jobs_total counter",
                f"printstation_printed_jobs_total {printed}",
                "# HELP printstation_printed_amount_yuan_total Total (价税合计) of printed jobs.",
                "# TYPE printstation_printed_amount_yuan_total counter",
                f"printstation_printed_amount_yuan_total {amount}",
                "# HELP printstation_rejected_jobs_total Rejected jobs by first error code.",
                "# TYPE printstation_rejected_jobs_total counter"]
        for row in queries.rejected_per_code(conn):
            out.append(f'printstation_rejected_jobs_total{{code="{_label(row["code"])}"}} '
                       f'{row["n"]}')
        backlog, oldest = dataclasses.astuple(outbox.backlog(conn))
        age = _seconds(self.journal.now(), oldest) if oldest else 0.0
        # With sync off nothing is ever acknowledged: no budget, and no scan to make.
        unacknowledged = outbox.unacknowledged_printed(conn).total \
            if self.ctx.settings.sync.url else Decimal(0)
        out += ["# HELP printstation_sync_backlog_events Journal events head office lacks.",
                "# TYPE printstation_sync_backlog_events gauge",
                f"printstation_sync_backlog_events {backlog}",
                "# HELP printstation_sync_backlog_age_seconds Age of the oldest of them.",
                "# TYPE printstation_sync_backlog_age_seconds gauge",
                f"printstation_sync_backlog_age_seconds {age:.3f}",
                "# HELP printstation_sync_acked_through Highest seq head office acknowledged.",
                "# TYPE printstation_sync_acked_through gauge",
                f"printstation_sync_acked_through {outbox.acked_through(conn)}",
                "# HELP printstation_offline_unacknowledged_yuan Printed totals head office "
                "has not acknowledged (the offline budget's use).",
                "# TYPE printstation_offline_unacknowledged_yuan gauge",
                f"printstation_offline_unacknowledged_yuan {unacknowledged}",
                "# HELP printstation_printer_up 1 when the printer's worker runs without error.",
                "# TYPE printstation_printer_up gauge"]
        out += [f'printstation_printer_up{{printer="{_label(name)}"}} {int(up)}'
                for name, up in sorted(self.printers_up().items())]
        out += self._states(conn)
        out += ["# HELP printstation_pickup_to_submit_seconds From claiming a file to the "
                "printer accepting its job.", "# TYPE printstation_pickup_to_submit_seconds "
                "histogram", *self.latency.lines("printstation_pickup_to_submit_seconds")]
        return "\n".join(out) + "\n"

    def _states(self, conn: sqlite3.Connection) -> list[str]:
        """Paper left, the printers' own state and reasons, and the sync worker's state."""
        out = ["# HELP printstation_paper_sheets_free Numbered sheets loaded and not yet used.",
               "# TYPE printstation_paper_sheets_free gauge"]
        out += [f'printstation_paper_sheets_free{{printer="{_label(e["printer"])}",stock="'
                f'{_label(e["stock"])}"}} {e["free"]}' for e in paper.summary(conn)]
        gravity = {health_words.OK: 0, health_words.WARNING: 1, health_words.ERROR: 2}
        states, health, reasons = [], [], []
        for r in self.printers:
            name = _label(r.printer_name)
            device = r.device or {}
            up = r.alive and r.error is None and device.get("state") != "stopped"
            found = health_words.health(r.device, r.error, up)
            state = device.get("state") or "unknown"
            states += [f'printstation_printer_state{{printer="{name}",state="{s}"}} '
                       f'{int(s == state)}' for s in ("idle", "printing", "stopped", "unknown")]
            health.append(f'printstation_printer_health{{printer="{name}"}} '
                          f'{gravity[found["level"]]}')
            reasons += [f'printstation_printer_reason{{printer="{name}",reason="{_label(why)}"}}'
                        " 1" for why in found["reasons"]]
        out += ["# HELP printstation_printer_state The printer's state as CUPS reports it "
                "(1 for the current one; unknown: not read, or not a CUPS printer).",
                "# TYPE printstation_printer_state gauge", *states,
                "# HELP printstation_printer_health 0 ready, 1 a warning (paper or toner low),"
                " 2 an error (stopped, out of paper, jammed, offline, unreachable).",
                "# TYPE printstation_printer_health gauge", *health,
                "# HELP printstation_printer_reason A printer-state-reason CUPS reports now.",
                "# TYPE printstation_printer_reason gauge", *reasons]
        if self.sync is not None:
            out += ["# HELP printstation_sync_state The sync worker's state (1 for the current "
                    "one).", "# TYPE printstation_sync_state gauge"]
            out += [f'printstation_sync_state{{state="{s.value}"}} {int(s is self.sync.state)}'
                    for s in SyncState]
        return out
