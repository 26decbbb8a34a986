"""Running as a real service: units, install, notify protocol, metrics, logs, health."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from printstation.harness.docs import js, special
from printstation.harness.kit import EXE, ROOT, Station, drop_by_rename, wait_for, write_config


def staged(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    subprocess.run(["bash", ROOT / "scripts" / "install", "--root", root, "--no-venv"],
                   check=True, capture_output=True)
    return root


def test_install_stages_units_user_membership_and_folders(tmp_path: Path) -> None:
    root = staged(tmp_path)
    for path in ("etc/systemd/system/printstation.service", "usr/lib/sysusers.d/printstation.conf",
                 "usr/lib/tmpfiles.d/printstation.conf", "etc/printstation/printstation.toml"):
        assert (root / path).is_file(), path
    users = {line.split(":")[0]: line.split(":") for line in
             (root / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in
              (root / "etc/group").read_text().splitlines()}
    assert "printstation" in users and users["printstation"][6] == "/usr/sbin/nologin"
    assert "printstation" in groups["lp"][3].split(",")
    uid, gid = int(users["printstation"][2]), int(groups["printstation"][2])
    inbox = os.stat(root / "srv/printstation/inbox")
    assert (oct(inbox.st_mode & 0o7777), inbox.st_uid, inbox.st_gid) == ("0o2770", uid, gid)
    state = os.stat(root / "var/lib/printstation")
    assert (oct(state.st_mode & 0o777), state.st_uid) == ("0o751", uid)
    # A second install keeps an edited config.
    (root / "etc/printstation/printstation.toml").write_text("# edited\n")
    subprocess.run(["bash", ROOT / "scripts" / "install", "--root", root, "--no-venv"],
                   check=True, capture_output=True)
    assert (root / "etc/printstation/printstation.toml").read_text() == "# edited\n"
    subprocess.run(["bash", ROOT / "scripts" / "uninstall", "--root", root], check=True,
                   capture_output=True)
    assert not (root / "etc/systemd/system/printstation.service").exists()
    assert (root / "var/lib/printstation").is_dir() and (root / "etc/printstation").is_dir()


def analysable(tmp_path: Path) -> Path:
    """A staged root with systemd's own units and stubs for the unit's programs."""
    root = staged(tmp_path)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system",
                    dirs_exist_ok=True, symlinks=True)
    for exe in ("opt/printstation/bin/printstation", "bin/kill"):
        path = root / exe
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return root


def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    root = analysable(tmp_path)
    run = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                          "/etc/systemd/system/printstation.service"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "printstation" not in run.stderr, run.stderr
    # The check can fail: a unit with a typo does.
    unit = root / "etc/systemd/system/printstation.service"
    unit.write_text(unit.read_text().replace("Type=notify", "Type=notifyy"))
    broken = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                             "/etc/systemd/system/printstation.service"],
                            capture_output=True, text=True)
    assert "printstation.service:" in broken.stderr and "notifyy" in broken.stderr


def test_systemd_analyze_security_rates_2_or_lower(tmp_path: Path) -> None:
    root = analysable(tmp_path)
    run = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={root}",
                          "printstation.service"], capture_output=True, text=True)
    level = re.search(r"Overall exposure level for printstation.service: ([0-9.]+)", run.stdout)
    assert level, run.stdout[-500:] + run.stderr
    assert float(level.group(1)) <= 2.0


def test_unit_settings_the_issue_asks_for() -> None:
    unit = (ROOT / "systemd/printstation.service").read_text()
    for line in ("Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=on-failure",
                 "RestartPreventExitStatus=78", "ExecStartPre=/opt/printstation/bin/printstation"
                 " check-config", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "SupplementaryGroups=lp"):
        assert line in unit, line


class NotifyListener:
    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def seen(self, text: str) -> bool:
        return any(text in m for _, m in self.messages)

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.mark.e2e
def test_notify_ready_status_watchdog_reload_and_stopping(station: Station) -> None:
    listener = NotifyListener(station.folder / "notify.sock")
    try:
        station.start(env={"NOTIFY_SOCKET": str(station.folder / "notify.sock"),
                           "WATCHDOG_USEC": "1000000"})
        wait_for(lambda: listener.seen("READY=1"), what="READY")
        ready = next(m for _, m in listener.messages if "READY=1" in m)
        assert "STATUS=watching" in ready
        started = time.monotonic()
        time.sleep(2.6)
        pings = [t for t, m in listener.messages if m == "WATCHDOG=1" and t >= started]
        # WatchdogSec of 1 s: pings every half second from the main loop.
        assert 4 <= len(pings) <= 7, len(pings)
        station.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: listener.seen("RELOADING=1"), what="RELOADING")
        reloading = next(i for i, (_, m) in enumerate(listener.messages) if "RELOADING=1" in m)
        assert re.search(r"MONOTONIC_USEC=\d+", listener.messages[reloading][1])
        wait_for(lambda: any("READY=1" in m for _, m in listener.messages[reloading + 1:]),
                 what="READY after the reload")
        code, took = station.stop()
        assert code == 0 and took < 10
        assert listener.seen("STOPPING=1")
    finally:
        listener.close()


def metrics(station: Station) -> dict[str, list]:
    text = (station.data / "metrics.prom").read_text()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


@pytest.mark.e2e
def test_metrics_parse_and_match_the_journal(station: Station) -> None:
    station.start()
    for i in range(4):
        drop_by_rename(station, f"ok{i}.json", js(special(number=f"0009000{i}")))
    drop_by_rename(station, "bad1.json", b"{")
    drop_by_rename(station, "bad2.json", js(special(number="00090009", total="1.00")))
    names = [f"ok{i}.json" for i in range(4)] + ["bad1.json", "bad2.json"]
    wait_for(lambda: all(station.result(n) for n in names), what="all settled")

    def current() -> dict | None:
        try:
            found = metrics(station)
        except FileNotFoundError:
            return None
        printed = found.get("printstation_printed_jobs", [])
        return found if printed and printed[0].value == 4 else None

    found = wait_for(current, timeout=15, what="metrics after the run")
    with sqlite3.connect(station.data / "journal.db") as conn:
        by_state = dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state"))
        totals = [Decimal(t) for (t,) in conn.execute(
            "SELECT i.total FROM jobs j JOIN invoices i ON i.key = j.invoice_key"
            " WHERE j.state = 'printed'")]
        rejects = dict(conn.execute("SELECT reason, count(*) FROM jobs WHERE state = 'rejected'"
                                    " GROUP BY reason"))
    jobs = {}
    for sample in found["printstation_jobs"]:
        jobs[sample.labels["state"]] = jobs.get(sample.labels["state"], 0) + sample.value
    assert jobs == by_state
    assert Decimal(str(found["printstation_printed_amount_yuan"][0].value)) == sum(totals)
    assert {s.labels["code"]: s.value for s in found["printstation_rejected_jobs"]} == rejects
    assert {s.labels["printer"]: s.value for s in found["printstation_printer_up"]} == {"pdf": 1}
    histogram = {s.name: s for s in found["printstation_pickup_to_submit_seconds"]}
    assert histogram["printstation_pickup_to_submit_seconds_count"].value == 4
    station.stop()


@pytest.mark.e2e
def test_json_logs_carry_job_and_invoice(tmp_path: Path) -> None:
    station = Station(tmp_path, write_config(tmp_path))
    log = tmp_path / "json.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([EXE, "--log-format", "json", "--config", station.config,
                                 "run"], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_for(lambda: '"event": "daemon.ready"' in log.read_text(), what="ready")
        drop_by_rename(station, "a.json", js(special(number="00095001")))
        wait_for(lambda: '"event": "job.printed"' in log.read_text(), what="printed")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    events = [json.loads(line) for line in log.read_text().splitlines()
              if line.startswith("{")]
    assert {"daemon.ready", "job.incoming", "job.queued", "job.printed"} <= \
        {e["event"] for e in events}
    for event in events:
        assert {"ts", "level", "event"} <= set(event)
        if event["event"] in ("job.queued", "job.submitted", "job.printed"):
            assert event["job"] and event["invoice"] == "1100243130-00095001"


@pytest.mark.e2e
def test_status_check_for_monitoring(station: Station) -> None:
    down = station.cli("status", "--check")
    assert down.returncode == 1 and "the daemon is not running" in down.stdout
    station.start()
    drop_by_rename(station, "a.json", js(special(number="00096001")))
    wait_for(lambda: station.result("a.json"), what="printed")
    wait_for(lambda: station.cli("status", "--check").returncode == 0, what="healthy")
    assert station.cli("status", "--check").stdout.strip() == "OK"
    shown = station.cli("status")
    assert "running (pid" in shown.stdout and "pdf" in shown.stdout
    # An uncertain job (made so directly in the journal, for the test) is unhealthy.
    with sqlite3.connect(station.data / "journal.db") as conn:
        conn.execute("UPDATE jobs SET state = 'uncertain'")
    check = station.cli("status", "--check")
    assert check.returncode == 1 and "1 job(s) uncertain" in check.stdout
    station.stop()


@pytest.mark.e2e
def test_reload_during_a_run_disturbs_no_job(station: Station) -> None:
    station.start()
    (station.folder / "conf.d").mkdir()
    names = []
    for i in range(20):
        names.append(f"r{i:02d}.json")
        drop_by_rename(station, names[-1], js(special(number=f"{97000 + i:08d}")))
        if i == 8:
            (station.folder / "conf.d" / "50-calibration-pdf.toml").write_text(
                "[printers.pdf]\noffsets = { vat-special = [0.5, 0.5] }\n")
            station.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: all(station.result(n) for n in names), timeout=30, what="all printed")
    assert "event=config.reloaded" in station.log_text()
    assert sorted(p.name.rsplit("-", 1)[1] for p in station.printed.glob("*.pdf")) == \
        [f"{97000 + i:08d}.pdf" for i in range(20)]
    assert all(station.result(n)["state"] == "printed" for n in names)
    assert "level=error" not in station.log_text()
    station.stop()


@pytest.mark.e2e
def test_reload_applies_intake_and_validation_settings(station: Station) -> None:
    station.start()
    drop_by_rename(station, "a.json", js(special(number="00098001")))
    wait_for(lambda: station.result("a.json"), what="first")
    (station.folder / "conf.d").mkdir()
    (station.folder / "conf.d" / "60-limits.toml").write_text(
        '[intake]\nmax_file_mb = 1\n[validation]\nmax_total = "1000.00"\n')
    station.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "event=config.reloaded" in station.log_text(), what="reloaded")
    drop_by_rename(station, "big.json", b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    drop_by_rename(station, "over.json", js(special(number="00098002")))
    wait_for(lambda: station.result("big.json") and station.result("over.json"), what="both")
    assert station.result("big.json")["errors"][0]["code"] == "file.too_large"
    assert station.result("over.json")["errors"][0]["code"] == "total.limit"
    station.stop()
