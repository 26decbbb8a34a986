"""`[alerts]` (SPEC §12) against the real daemon: one alert when an incident starts, one
when it ends, to a real command and a real webhook; failures of either only logged."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from printstation.base import logs
from printstation.config.settings import AlertSettings
from printstation.daemon import alert_send
from printstation.daemon.printer_health import TroubleLog
from printstation.drivers import health_words
from printstation.harness.kit import EXE, Station, running, wait_for, write_config
from printstation.harness.receiver import add_sync

STATION = "TEST-001"


class Listener:
    """One real HTTP listener on 127.0.0.1: the webhook (`POST /hook`) and a head office
    (`/events`, `/stations/ID`) that answers 409 while `halt` is set."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.halt = True
        self.acked = 0
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def answer(self, status: int, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self.answer(200, {"acked_through": listener.acked})

            def do_POST(self) -> None:
                doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/hook":
                    listener.alerts.append(doc)
                    self.answer(200, {})
                elif listener.halt:
                    self.answer(409, {"error": "seq 1 is held with another hash"})
                else:
                    listener.acked = max(listener.acked, doc["events"][-1]["seq"])
                    self.answer(200, {"acked_through": listener.acked})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def command_script(folder: Path) -> tuple[Path, Path]:
    """A real command: writes its stdin (the alert) to a file of its own."""
    out = folder / "command-out"
    out.mkdir()
    script = folder / "alert.sh"
    script.write_text(f'#!/bin/sh\ncat > "{out}/alert-$$-$(date +%s%N).json"\n')
    script.chmod(0o755)
    return script, out


def received(out: Path) -> list[dict[str, Any]]:
    found = []
    for path in out.glob("alert-*.json"):
        with contextlib.suppress(ValueError):  # still being written
            found.append(json.loads(path.read_text(encoding="utf-8")))
    return found


def tally(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for alert in alerts:
        key = (alert["incident"], alert["status"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def metric(folder: Path, name: str, **labels: str) -> float | None:
    """One sample of `[metrics] path` (a folder: printstation.prom in it), parsed strictly."""
    try:
        text = (folder / "textfile" / "printstation.prom").read_text()
    except FileNotFoundError:
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


@pytest.fixture
def listener():
    found = Listener()
    yield found
    found.close()


PRINTER = """
[printers.front]
driver = "cups"
queue = "ps-alert"
stocks = ["vat-special"]
paper_check = "match"
"""


def test_printer_sync_and_paper_incidents_alert_once_and_once_more_when_over(
        tmp_path: Path, cupsd, listener: Listener) -> None:
    cupsd.add_queue("ps-alert", "printstation-pdf.ppd")
    cupsd.lp("cupsenable", "ps-alert")
    script, out = command_script(tmp_path)
    folder = tmp_path / "station"
    station = Station(folder, write_config(folder, printers=PRINTER, cups_server=cupsd.server))
    add_sync(station, listener.url, backoff_max_s=2)
    with station.config.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[alerts]\ncommand = "{script}"\nwebhook = "{listener.url}/hook"\n'
                 f'low_sheets = 5\nbehind_s = 0\n\n[metrics]\npath = "{tmp_path}/textfile"\n')
    (tmp_path / "textfile").mkdir()
    expected = {"printer.down:front", "sync.halted", "paper.low:front:vat-special"}
    try:
        with running(station):
            # Three incidents at once: the printer disabled, 3 sheets loaded (alert below
            # 5), and head office answering 409 to the event that records them.
            cupsd.lp("cupsdisable", "ps-alert")
            loaded = station.cli("paper", "load", "front", "--stock", "vat-special", "--from",
                                 "00000001", "--to", "00000003")
            assert loaded.returncode == 0, loaded.stderr
            wait_for(lambda: {a["incident"] for a in listener.alerts} >= expected
                     and {a["incident"] for a in received(out)} >= expected, timeout=30,
                     what="an alert for each incident, by webhook and by command")

            def health() -> dict:
                status = json.loads(station.cli("status", "--json").stdout)
                return next(p["health"] for p in status["printers"] if p["name"] == "front")

            found = wait_for(lambda: (h := health())["zh"] == "已暂停" and h,
                             what="status says the printer is paused")
            assert found["reasons"] == ["paused"] and found["en"] == "paused"
            check = station.cli("status", "--check").stdout
            assert "printer front is down: 已暂停 / paused (paused)" in check, check
            # The same in the metrics, written where [metrics] path says.
            # The metrics file is rewritten every few seconds: wait for one written after
            # both the printer stopped and sync halted.
            wait_for(lambda: metric(tmp_path, "printstation_printer_state",
                                    printer="front", state="stopped") == 1
                     and metric(tmp_path, "printstation_sync_state", state="halted") == 1,
                     what="the printer stopped and sync halted in the metrics")
            assert metric(tmp_path, "printstation_paper_sheets_free", printer="front",
                          stock="vat-special") == 3
            assert metric(tmp_path, "printstation_sync_state", state="halted") == 1
            assert metric(tmp_path, "printstation_printer_health", printer="front") == 2
            assert metric(tmp_path, "printstation_printer_reason", printer="front",
                          reason="paused") == 1
            assert not (station.data / "metrics.prom").exists()
            shown = subprocess.run([EXE, "--config", station.config, "status"], text=True,
                                   capture_output=True, timeout=60,
                                   env={**os.environ, "LC_ALL": "", "LC_MESSAGES": "",
                                        "LANG": "zh_CN.UTF-8"}).stdout
            assert "已暂停 (paused)" in shown, shown
            # Each put right: enabled, more paper, head office takes the events again.
            cupsd.lp("cupsenable", "ps-alert")
            loaded = station.cli("paper", "load", "front", "--stock", "vat-special", "--from",
                                 "00000004", "--to", "00000010")
            assert loaded.returncode == 0, loaded.stderr
            listener.halt = False
            assert station.cli("sync", "--now").returncode == 0
            wait_for(lambda: sum(s == "resolved" for _, s in tally(listener.alerts)) >= 3
                     and sum(s == "resolved" for _, s in tally(received(out))) >= 3,
                     timeout=40, what="each incident over")
            log = station.log_text()
    finally:
        cupsd.lp("cupsenable", "ps-alert")
    want = {(key, status): 1 for key in expected for status in ("firing", "resolved")}
    assert tally(listener.alerts) == want, listener.alerts
    assert tally(received(out)) == want
    for alert in listener.alerts:
        assert alert["station"] == STATION and alert["summary"]["zh"] and alert["since"]
    down = next(a for a in listener.alerts if a["incident"] == "printer.down:front")
    assert "已暂停" in down["summary"]["zh"] and down["detail"]["health"]["reasons"] == ["paused"]
    low = next(a for a in listener.alerts if a["incident"].startswith("paper.low"))
    assert low["detail"]["free"] == 3
    assert "<4>" in log and "event=alert.firing incident=sync.halted" in log
    assert log.count("event=printer.trouble printer=front") == 1
    assert log.count("event=printer.trouble_over printer=front") == 1


@pytest.fixture
def records(caplog):
    """The daemon's log records (base/logs.py does not propagate them by itself)."""
    logs.log.propagate = True
    caplog.set_level("DEBUG", logger="printstation")
    yield caplog
    logs.log.propagate = False


def test_cups_reasons_in_words_a_clerk_knows() -> None:
    def said(state: str, *reasons: str, up: bool | None = True) -> tuple[str, str, str]:
        found = health_words.health({"state": state, "reasons": list(reasons),
                                     "accepting": True}, None, up)
        return found["zh"], found["en"], found["level"]

    assert said("printing", "media-empty-error") == ("缺纸", "out of paper", "error")
    assert said("printing", "media-jam-error")[0] == "卡纸"
    assert said("printing", "offline-report")[::2] == ("脱机", "error")
    assert said("processing", "connecting-to-device")[0] == "脱机"
    assert said("stopped", "paused", up=False)[::2] == ("已暂停", "error")
    assert said("stopped", up=False)[1] == "stopped"
    assert said("idle", "door-open-error")[0] == "门打开"
    assert said("idle", "marker-supply-low-warning")[::2] == ("墨粉/色带将用完", "warning")
    assert said("idle", "toner-empty-error")[0] == "墨粉/色带用完"
    assert said("idle", "cups-waiting-for-job-completed") == ("正常", "ready", "ok")
    assert said("idle", "com.example-odd-error") == ("com.example-odd-error",) * 2 + ("error",)
    found = health_words.health({"state": "printing", "accepting": True, "reasons": [
        "media-empty-error", "cups-waiting-for-job-completed"]})
    assert health_words.line(found) == "缺纸 / out of paper (media-empty-error)"


def test_a_printer_trouble_is_logged_when_it_starts_and_once_when_it_is_over(
        records) -> None:
    now = [0.0]
    trouble = TroubleLog("front", clock=lambda: now[0])
    paused = {"state": "stopped", "reasons": ["paused"], "accepting": True}
    fine = {"state": "idle", "reasons": [], "accepting": True}
    for at, device in ((0, paused), (5, paused), (10, fine), (15, paused), (20, fine),
                       (25, fine), (29, fine), (30, fine), (35, fine)):
        now[0] = at
        trouble.seen(device)
    said = [(r.getMessage(), r.levelname) for r in records.records
            if r.getMessage().startswith("printer.")]
    # Fine at 10 was not fine for long enough: the pause at 15 is the same trouble.
    assert said == [("printer.trouble", "ERROR"), ("printer.trouble_over", "INFO")]


def test_an_alert_that_cannot_be_delivered_is_logged_and_given_up(tmp_path: Path,
                                                                   records) -> None:
    failing = tmp_path / "fail.sh"
    failing.write_text("#!/bin/sh\necho 'no route to the pager' >&2\nexit 3\n")
    failing.chmod(0o755)
    settings = AlertSettings(command=(str(failing),), webhook="http://127.0.0.1:9/hook")
    sender = alert_send.Sender(lambda: settings)
    pauses, alert_send.RETRY_PAUSES_S = alert_send.RETRY_PAUSES_S, (0.01,)
    try:
        sender.deliver({"incident": "printer.down:x", "kind": "printer.down",
                        "status": "firing"})
    finally:
        alert_send.RETRY_PAUSES_S = pauses
    failed = {r.fields["target"]: r.fields for r in records.records
              if r.getMessage() == "alert.failed"}
    assert failed["command"]["tries"] == 2 and "exited with 3: no route to the pager" in \
        failed["command"]["error"]
    assert failed["webhook"]["tries"] == 2 and "127.0.0.1:9" in failed["webhook"]["error"]


def test_job_incidents_once_each_and_not_again_after_a_restart(tmp_path: Path,
                                                               monkeypatch) -> None:
    from printstation.config import load_config
    from printstation.daemon.alerts import AlertRunner
    from printstation.daemon.context import Context
    from printstation.daemon.stage_sync import SyncRunner
    from printstation.spool import State

    script, out = command_script(tmp_path)
    config = write_config(tmp_path / "station", extra=f'\n[alerts]\ncommand = "{script}"\n')
    ctx = Context.of(load_config(config))
    ctx.settings.station.data_dir.mkdir(parents=True)
    monkeypatch.setattr("printstation.daemon.alerts.CLOSE_AFTER_S", 0.0)
    journal = ctx.open_journal()

    def job(name: str, *states: State, **payload: str) -> None:
        journal.register_source(name, name.encode(), f"{name}--x.json", None, 1)
        with journal.transaction():
            journal.transition(name, State.QUEUED, printer="pdf", invoice_key=f"K-{name}",
                               invoice_json="{}")
            for new in states:
                journal.transition(name, new, "printer.lost_job" if new is State.UNCERTAIN
                                   else None, payload=payload or None)

    def started() -> AlertRunner:
        runner = AlertRunner(ctx, [], SyncRunner(ctx))
        runner.setup()
        return runner

    try:
        runner = started()
        runner.run_once()  # the first look: nothing is wrong, nothing is told
        job("J1", State.SUBMITTED, State.UNCERTAIN)
        job("J2", State.FAILED, error="the printer refused it ten times")
        runner.run_once()
        runner.run_once()
        wait_for(lambda: len(received(out)) == 2, what="two alerts")
        runner.teardown()
        runner = started()  # a restart: the incidents are remembered, not told again
        runner.run_once()
        with journal.transaction():
            journal.transition("J1", State.FAILED, "operator.spoiled",
                               payload={"operator": "clerk"})
        runner.run_once()
        wait_for(lambda: len(received(out)) == 3, what="the uncertain job settled")
        runner.run_once()
        runner.teardown()
    finally:
        journal.close()
    alerts = sorted(received(out), key=lambda a: (a["incident"], a["status"]))
    assert [(a["incident"], a["status"]) for a in alerts] == [
        ("job.failed:J2", "firing"), ("job.uncertain:J1", "firing"),
        ("job.uncertain:J1", "resolved")]
    assert alerts[0]["resolves"] is False and "ten times" in alerts[0]["summary"]["en"]
    assert alerts[1]["detail"]["invoice"] == "K-J1" and "resolve" in alerts[1]["summary"]["zh"]
