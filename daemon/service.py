"""The daemon: recover, start one runner per stage, watch signals, stop cleanly.

Stages hand work on by waking the next one: intake → reader → printers → finisher. The
main loop only reads signal flags, pings systemd and keeps the status line current.

Nothing polls for an operator's change: the control socket carries it out and wakes
every runner (`_wake_all`). A change written to the journal by another process (the CLI
of the service user when it found no daemon, which then pokes the socket; a tool) is
noticed by the main loop from the journal's WAL file (daemon/upkeep.py). The main loop
wakes every TICK_S, or at half the systemd watchdog interval when that is shorter.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping

from printstation.base import logs
from printstation.base.errors import ConfigInvalid
from printstation.base.signals import SignalFlags
from printstation.config import Config, Settings, Stock, load_config
from printstation.drivers import ensure_font
from printstation.spool import iso, utc_now

from . import continuity, health, jail, startup
from .alerts import AlertRunner
from .clock import station_clock
from .context import Context
from .control_ops import Reply
from .control_server import ControlRunner
from .instance import InstanceLock, tighten
from .notify import Notifier
from .prerender import RenderPool
from .retention import RetentionRunner
from .runner import Runner
from .stage_finish import FinishRunner
from .stage_intake import IntakeRunner
from .stage_metrics import MetricsRunner
from .stage_print import PrintRunner
from .stage_read import ReadRunner
from .stage_sync import SyncRunner
from .sync_client import check_sync_settings
from .upkeep import JournalWrites, RuntimeFile

STOP_BUDGET_S = 8.0
# The main loop's longest sleep: how late a journal lost on disk, head office's verdict
# that the journal is behind, or a journal written by another process, may be noticed.
TICK_S = 5.0
BUSY_TICK_S = 1.0


class Service:
    def __init__(self, settings: Settings, stocks: dict[str, Stock],
                 environ: Mapping[str, str] | None = None, new_journal: str | None = None):
        self.ctx = Context(settings, stocks, station_clock(environ))
        # The operator who asked for a new journal (`run --new-journal`), or None.
        self.new_journal = new_journal
        self.lock = InstanceLock(settings.pid_file)
        self.watch: continuity.Watch | None = None
        self.exit_code = 0
        # Set when --new-journal set a broken journal aside: the operator who asked.
        self._starting_anew: str | None = None
        self._stamped_seq = 0
        # The daemon's own files whose last write failed (logged once until it works).
        self._write_failed: set[str] = set()
        self.notifier = Notifier(environ)
        self.flags = SignalFlags()
        self.finisher = FinishRunner(self.ctx)
        self.render_pool = RenderPool(lambda: self.ctx.settings.render.worker)
        self.printers = [PrintRunner(self.ctx, p, self.finisher.wake, self.render_pool)
                         for p in settings.printers]
        self.reader = ReadRunner(self.ctx, self._wake_printers)
        self.intake = IntakeRunner(self.ctx, self.reader.wake)
        self.sync = SyncRunner(self.ctx)
        self.metrics = MetricsRunner(self.ctx, self.printers_up, self.printers, self.sync)
        # Incidents told to IT ([alerts]) and files past their age ([retention]).
        self.watchers = [AlertRunner(self.ctx, self.printers, self.sync),
                         RetentionRunner(self.ctx)]
        self.control = ControlRunner(self.ctx, {"reload": self._ask_reload,
                                                "sync-now": self._ask_sync,
                                                "wake": self._ask_wake},
                                     self._wake_all, self._apply)
        # Held while the configuration in force is replaced: by a reload (main thread)
        # or by an operator's change (control thread), never both at once.
        self._config_lock = threading.Lock()
        # Every commit that journals an event wakes the sync worker.
        self.ctx.on_event = self.sync.wake
        # Start order: the end of the pipeline first, the intake last; stop the reverse.
        self.runners: list[Runner] = [self.sync, self.metrics, *self.watchers, self.finisher,
                                      *self.printers, self.reader, self.intake, self.control]
        self.started_at = ""
        self.last_reload: dict[str, str | bool] = {}
        self.runtime = RuntimeFile(settings.runtime_file)
        self._status_said = ""  # what STATUS= last said

    def printers_up(self) -> dict[str, bool]:
        """Up: the worker runs without error and the device is not stopped."""
        return {r.printer_name: r.alive and r.error is None and
                (r.device is None or r.device["state"] != "stopped") for r in self.printers}

    def _wake_all(self) -> None:
        """After an operator's change: every stage looks at the journal again now."""
        for runner in self.runners:
            runner.wake()

    def _ask_reload(self) -> Reply:
        self.flags.reload = True
        self.flags.poke()
        return Reply(out=[f"asked the running daemon (pid {os.getpid()}) to reload"])

    def _apply(self, change: Callable[[Config], Config]) -> None:
        """An operator's change to the config in force (a clerk's offset, daemon/
        control_ops.py), made in one assignment as a reload is; per-job settings are read
        afresh by every job, so no stage needs telling."""
        with self._config_lock:
            self.ctx.config = change(self.ctx.config)

    def _ask_wake(self) -> Reply:
        """The CLI wrote the journal itself (it found no daemon, and one started since):
        every stage looks at the journal again now."""
        self._wake_all()
        return Reply(out=[f"woke the daemon (pid {os.getpid()})"])

    def _ask_sync(self) -> Reply:
        self.flags.sync_now = True
        self.flags.poke()
        return Reply(out=[f"asked the daemon (pid {os.getpid()}) to sync now"])

    def _wake_printers(self) -> None:
        for runner in self.printers:
            runner.wake()
        self.finisher.wake()

    def prepare(self) -> None:
        """Folders, font, journal, and files claimed before a crash but never journaled."""
        s = self.ctx.settings
        folders = [s.station.data_dir, s.intake.drop_dir, s.intake.rejected_dir,
                   s.intake.results_dir]
        try:
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
            self.ctx.spool.create()
        except OSError as exc:
            raise ConfigInvalid(f"cannot create {exc.filename}: {exc.strerror}") from None
        tighten(s.station.data_dir)
        check_sync_settings(s)
        # A missing font (69) and a journal of another station or a newer schema (78)
        # carry their exit codes in their classes (base/errors.py).
        ensure_font()
        self._check_continuity()
        journal = self.ctx.open_journal()
        try:
            self._stamped_seq = continuity.begin(journal, s.station.data_dir,
                                                 self._starting_anew).seq
            startup.recover_orphans(self.ctx, journal)
            startup.hold_for_missing_printers(self.ctx, journal)
        finally:
            journal.close()
        # A connection kept open for the daemon's life: it notices the journal moved or
        # removed, and can still copy it out if so.
        self.watch = continuity.Watch(self.ctx.open_journal())

    def _check_continuity(self) -> None:
        """Refuse a journal that lost the station's history; `--new-journal` sets such a
        journal aside (never deleting it) and begins a new one, journaled."""
        data_dir = self.ctx.settings.station.data_dir
        try:
            continuity.check(data_dir, self.ctx.settings.station.id)
        except continuity.JournalDiscontinuity as exc:
            if self.new_journal is None:
                raise
            aside = continuity.set_aside(self.ctx.settings.journal_path, "replaced")
            logs.warning("journal.set_aside", reason=str(exc), moved_to=aside)
            self._starting_anew = self.new_journal

    def run(self) -> int:
        self.flags.install()
        # Files this daemon creates are its own: readable by clerks (group), writable by
        # none of them (SPEC §12).
        os.umask(0o027)
        data_dir = self.ctx.settings.station.data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigInvalid(f"cannot create {exc.filename}: {exc.strerror}") from None
        # One daemon per data folder, before anything is read or written there.
        self.lock.acquire(data_dir)
        try:
            return self._run()
        finally:
            self.lock.release()

    def _run(self) -> int:
        self.started_at = iso(utc_now())
        try:
            self.prepare()
        except BaseException:
            if self.watch is not None:
                self.watch.close()
            raise
        for runner in self.runners:
            runner.start()
        self.write_runtime()
        s = self.ctx.settings
        logs.info("daemon.ready", station=s.station.id, inbox=s.intake.drop_dir,
                  printers=",".join(p.name for p in s.printers))
        self.notifier.ready(self.status_line())
        # systemd wants the ping at half its WatchdogSec (30 s in the shipped unit).
        tick = min(TICK_S, self.notifier.watchdog_s / 2) if self.notifier.watchdog_s \
            else TICK_S
        journal_writes = JournalWrites(s.journal_path)
        while not self.flags.stop:
            # While any stage works, `status` (read from the runtime file) follows within
            # BUSY_TICK_S, as before; an idle daemon looks every `tick`.
            self.flags.wait(tick if all(r.sleeping for r in self.runners) else
                            min(tick, BUSY_TICK_S))
            if self.flags.sync_now:
                self.flags.sync_now = False
                logs.info("sync.now")
                self.sync.kick()
            if self.flags.reload:
                self.flags.reload = False
                now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
                self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={now_usec}")
                self.reload()
                self.notifier.ready(self.status_line())
            # The watchdog is fed only while the stages make progress.
            if self.healthy():
                self.notifier.watchdog()
            self._check_journal()
            self._check_head_office()
            # A journal written (by anyone: it may be another process) is looked at
            # again by every stage; the daemon's own commits cost an idle pass at most.
            journal_changed = journal_writes.changed()
            if journal_changed:
                self._wake_all()
            line = self.status_line()
            if line != self._status_said:
                self._status_said = line
                self.notifier.status(line)
            self.write_runtime(only_if_changed=True)
            if journal_changed:
                self._keep_writing("journal.stamp", self._restamp)
        self.notifier.stopping()
        logs.info("daemon.stopping")
        self.stop()
        self.render_pool.close()
        jail.close()
        if self.exit_code == 0 or self.sync.journal_behind is not None:
            self._keep_writing("journal.stamp", self._restamp)
        else:
            self._salvage()
        assert self.watch is not None
        self.watch.close()
        self.ctx.settings.runtime_file.unlink(missing_ok=True)
        logs.info("daemon.stopped", exit=self.exit_code)
        return self.exit_code

    def _check_journal(self) -> None:
        """A journal moved or removed under the daemon: stop taking files at once, then
        stop (exit 78: a restart would refuse the same way until an operator acts); the
        journal is copied out once every stage has stopped writing to it."""
        assert self.watch is not None
        lost = self.watch.lost()
        if lost is None or self.flags.stop:
            return
        self.intake.stop()
        logs.error("journal.lost", how=lost, path=self.ctx.settings.journal_path)
        self.exit_code = continuity.JournalDiscontinuity.exit_code
        self.flags.stop = True

    def _check_head_office(self) -> None:
        """Head office holds more events than this whole journal: the station's history
        is gone from it, and an invoice it forgot could print again. Stop taking files
        and stop (78), as for a journal lost on disk; `run --new-journal` (journaled)
        is the way on when no backup is left."""
        behind = self.sync.journal_behind
        if behind is None or self.flags.stop:
            return
        self.intake.stop()
        logs.error("journal.behind_head_office", acked_through=behind[0], last_seq=behind[1],
                   recovery=continuity.RECOVERY)
        self.exit_code = continuity.JournalDiscontinuity.exit_code
        self.flags.stop = True

    def _salvage(self) -> None:
        assert self.watch is not None
        saved = self.watch.salvage()
        logs.error("journal.saved", saved=saved,
                   recovery=f"printstation journal restore {saved}" if saved else
                   continuity.RECOVERY)

    def _restamp(self) -> None:
        """Keep the stamp at the journal's end (only ever from the journal we checked)."""
        assert self.watch is not None
        if self.watch.lost() is not None:
            return
        found = continuity.tail(self.watch.journal.conn)
        if found.seq != self._stamped_seq:
            continuity.write_stamp(self.ctx.settings.station.data_dir,
                                   self.ctx.settings.station.id, found)
            self._stamped_seq = found.seq

    def stop(self) -> None:
        deadline = time.monotonic() + STOP_BUDGET_S
        for runner in reversed(self.runners):
            runner.stop()
            budget = max(0.1, deadline - time.monotonic())
            if not runner.join(min(budget, runner.stop_budget_s or budget)):
                logs.warning("runner.stop_timeout", runner=runner.name)

    def reload(self) -> None:
        """Validate, then swap (SIGHUP): an invalid config is logged and the old one kept.

        Offsets, stocks, validation rules and the other per-job settings apply from the
        next job on. A change to the station, its folders or the set of printers needs a
        restart: it is refused with a message and the old config stays.
        """
        with self._config_lock:
            old = self.ctx.config
            try:
                new = load_config(old.settings.main_file, cwd=old.settings.config_dir.parent
                                  if old.settings.main_file is None else None)
                check_sync_settings(new.settings)
            except Exception as exc:
                self._reloaded(False, str(exc).replace("\n", "; "))
                return
            if _structure(new.settings) != _structure(old.settings):
                self._reloaded(False, "station, folders or printers changed: restart to apply")
                return
            # One assignment: every stage sees either the old settings and stocks or the new.
            self.ctx.config = new
        for runner in self.runners:
            runner.reconfigure(old, new)
        self._reloaded(True, "")
        logs.info("config.reloaded", files=",".join(new.settings.origin))

    def _reloaded(self, ok: bool, error: str) -> None:
        self.last_reload = {"at": iso(utc_now()), "ok": ok, "error": error}
        if not ok:
            logs.error("config.reload_rejected", error=error)
        self.write_runtime()

    def write_runtime(self, only_if_changed: bool = False) -> None:
        """`data_dir/status.json`: what only the running daemon knows, for `status`
        (`only_if_changed`: see daemon/upkeep.py)."""
        doc = {"pid": os.getpid(), "started_at": self.started_at, "updated_at": iso(utc_now()),
               "config": list(self.ctx.settings.origin), "last_reload": self.last_reload,
               "runners": health.runner_report(self.runners, self.ctx.settings),
               "sync": self.sync.snapshot(),
               "printers": [{"name": r.printer_name, "up": up, "error": r.error,
                             "device": r.device}
                            for r, up in zip(self.printers, self.printers_up().values(),
                                             strict=True)]}
        self._keep_writing("status.json", lambda: self.runtime.write(doc, only_if_changed))

    def _keep_writing(self, what: str, write: Callable[[], None]) -> None:
        """A write of the daemon's own small files that fails (the disk is full) is logged
        once and tried again on the next round; it never stops the daemon."""
        try:
            write()
        except (OSError, sqlite3.Error) as exc:
            if what not in self._write_failed:
                self._write_failed.add(what)
                logs.error("daemon.write_failed", file=what, error=exc)
            return
        if what in self._write_failed:
            self._write_failed.discard(what)
            logs.info("daemon.write_ok", file=what)

    def healthy(self) -> bool:
        """Every stage runs and comes round, and no spool file waits for a restart to be
        registered (for the systemd watchdog: daemon/health.py)."""
        return health.healthy(self.runners, self.ctx.settings)

    def status_line(self) -> str:
        errors = [f"{r.name}: {r.error}" for r in self.runners if r.error]
        printers = ", ".join(p.name for p in self.ctx.settings.printers)
        line = f"watching {self.ctx.settings.intake.drop_dir}; printers: {printers}"
        return line + (f"; errors: {'; '.join(errors)}" if errors else "")


def _structure(settings: Settings) -> tuple:
    """What a reload cannot change under running workers."""
    s, i = settings.station, settings.intake
    return (s.id, s.data_dir, i.drop_dir, i.rejected_dir, i.results_dir, i.observer,
            tuple((p.name, p.driver, p.queue, p.path) for p in settings.printers))
