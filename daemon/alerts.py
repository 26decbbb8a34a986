"""`[alerts]`: tell IT once when an incident starts and once when it ends (SPEC §12).

Every EVAL_S the runner looks at what it can see (the journal, the printers' and the
sync worker's state) and names each incident by a key: `job.uncertain:JOB`,
`printer.down:P`, `printer.paper_out:P`, `paper.low:P:STOCK`, `sync.halted`,
`sync.behind`, `offline.near_limit`. A key that appears is an incident that starts: one
alert (`status: firing`). As long as the key stays, nothing more is sent, whatever its
details do meanwhile (an incident open stays one alert). Once the key has been gone for
CLOSE_AFTER_S, one more alert says it ended (`status: resolved`): a printer that
flickers between two states, or sync that fails again right after a restart, is one
incident. A job that failed is final and has no end: one alert (`resolves: false`).

A printer is judged only once its worker knows its health this run (its state read or
its outage met), so a restart does not end a printer's incident before it looked. The
open incidents are kept in `data_dir/alerts.json`, so a restart neither repeats nor
forgets them. Delivery is daemon/alert_send.py, on a thread of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from printstation.base import logs
from printstation.base.durable import atomic_write
from printstation.config import Config
from printstation.drivers import health_words
from printstation.spool import incidents, iso, outbox, paper, queries
from printstation.spool.states import SyncState

from . import offline
from .alert_send import Sender
from .context import Context
from .runner import UNTIL_WOKEN, JournalRunner

if TYPE_CHECKING:
    from .stage_print import PrintRunner
    from .stage_sync import SyncRunner

EVAL_S = 2.0
# Without a change in what incidents are made of (the journal's last event, the printers'
# and the sync worker's state), a look is skipped, up to this long: the incidents that
# come with time alone (sync.behind) may be this late.
REEVAL_S = 30.0
CLOSE_AFTER_S = 10.0
STATE_FILE = "alerts.json"
# Incident: (kind, Chinese summary, English summary, details).
Found = tuple[str, str, str, dict[str, Any]]


class AlertRunner(JournalRunner):
    name = "alerts"

    def __init__(self, ctx: Context, printers: Sequence[PrintRunner], sync: SyncRunner):
        super().__init__(ctx)
        self.printers = printers
        self.sync = sync
        self.open: dict[str, dict[str, Any]] = {}
        # Open incidents not seen since (monotonic): they end after CLOSE_AFTER_S.
        self.gone_since: dict[str, float] = {}
        self.failed_seq = 0
        self.dirty = False  # the state file is to be written
        self.sender: Sender | None = None
        # False while nobody is to be told (no command, no webhook): the runner sleeps
        # until a reload wakes it.
        self.telling = True
        # What the last look was made from, and when (monotonic).
        self.looked_from: object = None
        self.looked_at = 0.0

    @property
    def path(self) -> Path:
        return self.ctx.settings.station.data_dir / STATE_FILE

    def nap_s(self) -> float:
        return EVAL_S if self.telling else UNTIL_WOKEN

    def setup(self) -> None:
        super().setup()
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            self.open, self.failed_seq = dict(state["open"]), int(state["failed_seq"])
            self.dirty = False
        except (OSError, ValueError, KeyError, TypeError):
            # First start, or a file that cannot be read: failures before now are old news,
            # and the mark is kept from the first pass on.
            self.open, self.failed_seq = {}, self.journal.last_seq()
            self.dirty = True
        self.sender = Sender(lambda: self.ctx.settings.alerts)
        self.sender.start()

    def teardown(self) -> None:
        if self.sender is not None:
            self.sender.stop()
            self.sender = None
        super().teardown()

    def reconfigure(self, old: Config, new: Config) -> None:
        self.wake()

    def run_once(self) -> bool:
        settings = self.ctx.settings.alerts
        if not settings.command and not settings.webhook:
            self.telling = False
            return False
        if not self.telling:
            # Nobody was told until now: failures meanwhile are not told later either.
            self.telling, self.dirty = True, True
            self.failed_seq = self.journal.last_seq()
        source = self.sources()
        if source == self.looked_from and not self.gone_since and not self.dirty and \
                time.monotonic() - self.looked_at < REEVAL_S:
            return False
        self.looked_from, self.looked_at = source, time.monotonic()
        changed = self.failures() or self.dirty
        found, unknown = self.incidents()
        now = time.monotonic()
        for key, (kind, zh, en, detail) in found.items():
            self.gone_since.pop(key, None)
            if key in self.open:
                continue
            alert = self.alert(key, kind, zh, en, detail, "firing", since=iso(self.ctx.clock()))
            self.open[key] = alert
            self.send(alert)
            changed = True
        for key in list(self.open):
            if key in found or any(key.startswith(prefix) for prefix in unknown):
                continue
            gone = self.gone_since.setdefault(key, now)
            if now - gone >= CLOSE_AFTER_S:
                was = self.open.pop(key)
                del self.gone_since[key]
                self.send(self.alert(key, was["kind"], was["summary"]["zh"],
                                     was["summary"]["en"], was["detail"], "resolved",
                                     since=was["since"]))
                changed = True
        if changed:
            self.dirty = False
            atomic_write(self.path, json.dumps({"open": self.open, "failed_seq":
                                                self.failed_seq}, ensure_ascii=False)
                         .encode("utf-8"), 0o640)
        return False

    def sources(self) -> object:
        """What incidents are made of, in brief: the journal's last event stands for jobs,
        paper and the offline budget; the printers and the sync worker for themselves."""
        return (self.journal.last_seq(),
                [(r.device, r.error, r.alive, r.health_known) for r in self.printers],
                self.sync.snapshot(), self.sync.state)

    def alert(self, key: str, kind: str, zh: str, en: str, detail: dict[str, Any],
              status: str, since: str, resolves: bool = True) -> dict[str, Any]:
        station = self.ctx.settings.station.id
        doc = {"station": station, "id": f"{station}:{key}:{since}", "incident": key,
               "kind": kind, "status": status, "since": since, "at": iso(self.ctx.clock()),
               "summary": {"zh": zh, "en": en}, "detail": detail}
        if status == "resolved":
            doc["summary"] = {"zh": f"已恢复（此前：{zh}）", "en": f"over (was: {en})"}
            doc["ended_at"] = doc["at"]
        if not resolves:
            doc["resolves"] = False
        return doc

    def send(self, alert: dict[str, Any]) -> None:
        log = logs.warning if alert["status"] == "firing" else logs.info
        log(f"alert.{alert['status']}", incident=alert["incident"], summary=alert["summary"]["en"])
        if self.sender is not None:
            self.sender.put(alert)

    # -- what is wrong now ------------------------------------------------------------------

    def failures(self) -> bool:
        """One alert per job the daemon failed since the last look."""
        found = incidents.failed_since(self.journal.conn, self.failed_seq)
        for job in found:
            self.failed_seq = max(self.failed_seq, job["seq"])
            if job["operator"]:
                continue
            what = f"{job['job']}" + (f" ({job['invoice']})" if job["invoice"] else "")
            why = job["error"] or job["reason"] or ""
            self.send(self.alert(
                f"job.failed:{job['job']}", "job.failed",
                f"任务 {what} 打印失败，不再重试：{why}",
                f"job {what} failed and is not tried again: {why}",
                {k: job[k] for k in ("job", "invoice", "printer", "reason", "error")},
                "firing", since=job["at"], resolves=False))
        return bool(found)

    def incidents(self) -> tuple[dict[str, Found], set[str]]:
        """The incidents open now, and the key prefixes that cannot be judged now."""
        found: dict[str, Found] = {}
        unknown: set[str] = set()
        conn = self.journal.conn
        for job in queries.jobs_listed(conn, "uncertain", False):
            what = job["id"] + (f" ({job['invoice_key']})" if job["invoice_key"] else "")
            found[f"job.uncertain:{job['id']}"] = (
                "job.uncertain", f"任务 {what} 是否已打印不确定：核对打印机后用 printstation "
                f"resolve 处理", f"job {what} is uncertain: check the printer, then "
                "`printstation resolve` it",
                {"job": job["id"], "invoice": job["invoice_key"], "printer": job["printer"],
                 "reason": job["reason"]})
        for runner in self.printers:
            self.printer_incidents(runner, found, unknown)
        self.paper_incidents(found)
        self.sync_incidents(found)
        return found, unknown

    def printer_incidents(self, r: PrintRunner, found: dict[str, Found],
                          unknown: set[str]) -> None:
        name = r.printer_name
        if not r.health_known:
            unknown.update({f"printer.down:{name}", f"printer.paper_out:{name}"})
            return
        device = r.device or {}
        up = r.alive and r.error is None and device.get("state") != "stopped"
        words = health_words.health(r.device, r.error, up)
        detail = {"printer": name, "health": {k: words[k] for k in ("zh", "en", "reasons")},
                  "error": r.error}
        if not up or health_words.stopping(words):
            found[f"printer.down:{name}"] = (
                "printer.down", f"打印机 {name} 不能打印：{words['zh']}",
                f"printer {name} is down: {words['en']}"
                + (f" ({r.error})" if r.error else ""), detail)
        if health_words.out_of_paper(device.get("reasons") or []):
            found[f"printer.paper_out:{name}"] = (
                "printer.paper_out", f"打印机 {name} 缺纸", f"printer {name} is out of paper",
                detail)

    def paper_incidents(self, found: dict[str, Found]) -> None:
        low = self.ctx.settings.alerts.low_sheets
        if not low:
            return
        for entry in paper.summary(self.journal.conn):
            printer = self.ctx.settings.printer(entry["printer"])
            if printer is None or printer.paper_check == "off" or \
                    entry["stock"] not in printer.stocks or entry["free"] >= low:
                continue
            p, stock, free = entry["printer"], entry["stock"], entry["free"]
            found[f"paper.low:{p}:{stock}"] = (
                "paper.low", f"打印机 {p} 的 {stock} 发票纸只剩 {free} 张（提醒线 {low} 张）",
                f"printer {p} has {free} sheet(s) of {stock} left (alert below {low})",
                {"printer": p, "stock": stock, "free": free, "low_sheets": low,
                 "next": entry["next"]})

    def sync_incidents(self, found: dict[str, Found]) -> None:
        settings = self.ctx.settings
        if not settings.sync.url:
            return
        state = self.sync.state
        if state in (SyncState.HALTED, SyncState.PAUSED):
            error = self.sync.last_error or ""
            word = "已中止" if state is SyncState.HALTED else "已暂停"
            found["sync.halted"] = (
                "sync.halted", f"与总部的同步{word}，需要人工处理：{error}",
                f"sync with head office is {state.value}: {error}",
                {"state": state.value, "error": error, "url": settings.sync.url})
        conn = self.journal.conn
        behind = settings.alerts.behind_s
        oldest = outbox.backlog(conn).oldest_at if behind else None
        age = outbox.age_s(oldest, self.ctx.clock())
        if behind and age > behind:
            found["sync.behind"] = (
                "sync.behind", f"总部已有 {age / 60:.0f} 分钟未确认本站的记录（提醒线 "
                f"{behind // 60} 分钟）", f"head office has not acknowledged this station's "
                f"events for {age:.0f} s (alert above {behind} s)",
                {"oldest_at": oldest, "age_s": round(age), "behind_s": behind})
        budget = offline.budget(conn, settings, self.ctx.clock())
        warning = budget.warning() if budget is not None else None
        if warning:
            found["offline.near_limit"] = (
                "offline.near_limit", "离线打印已用到限额的 80% 以上，总部确认前新任务将被暂停",
                warning, budget.as_dict() if budget else {})
