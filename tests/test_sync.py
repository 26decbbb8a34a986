"""Sync with head office (SPEC §11): the real daemon, the reference receiver, and faults
between them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from printstation.harness.faultproxy import FaultProxy
from printstation.harness.kit import (
    EXE,
    Station,
    drop_by_rename,
    invoice,
    running,
    station_at,
    wait_for,
    write_config,
)
from printstation.harness.receiver import TOKEN, Receiver, add_sync, verify_received

# Every test here runs the real daemon, and most the receiver too, as processes.
pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver(tmp_path: Path, headoffice_db: str | None):
    ho = Receiver(tmp_path / "ho", db=headoffice_db)
    ho.start()
    yield ho
    ho.stop()


def sync_doc(station: Station) -> dict:
    done = station.cli("sync", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_events_reach_head_office_once_and_in_order(tmp_path: Path, receiver: Receiver) -> None:
    station = station_at(tmp_path)
    add_sync(station, receiver.url, batch=7)
    with running(station):
        for n in range(5):
            drop_by_rename(station, f"{n}.json", json.dumps(invoice(f"0001200{n}")).encode())
        wait_for(lambda: len(station.renders()) == 5 or None, what="5 printed")
        doc = wait_for(lambda: (d := sync_doc(station))["backlog"] == 0 and
                       d["state"] == "idle" and d, what="backlog empty")
    assert doc["state"] == "idle" and doc["acked_through"] == receiver.station()["acked_through"]
    assert verify_received(receiver, station) == doc["acked_through"]
    printed = [e for e in receiver.events() if e["type"] == "job.printed"]
    assert len(printed) == 5 and all(json.loads(e["payload"])["total"] for e in printed)


def batch_file(first: int, count: int) -> bytes:
    return json.dumps({"invoices": [invoice(f"{n:08d}") for n in
                                    range(first, first + count)]}).encode()


def printed_count(station: Station) -> int:
    with station.db() as conn:
        return conn.execute("SELECT count(*) FROM jobs WHERE state = 'printed'").fetchone()[0]


def test_faults_between_station_and_head_office_lose_and_duplicate_nothing(
        tmp_path: Path, receiver: Receiver) -> None:
    """2,000 invoices print while the link refuses, answers 503/429, resets after head
    office committed, answers slower than the timeout, and blacks out for 12 s (six
    times the longest backoff, so the outage spans many tries)."""
    proxy = FaultProxy(receiver.port, slow_s=2.5)
    station = station_at(tmp_path)
    add_sync(station, proxy.url, batch=50, timeout_s=1, backoff_max_s=2)
    injected: list[str] = []

    def inject(*faults: str) -> None:
        for fault in faults:
            before = proxy.counts[fault]
            proxy.push(fault)
            injected.append(fault)
            wait_for(lambda f=fault, b=before: proxy.counts[f] > b, timeout=60,
                     what=f"fault {fault} used")
            # Let a request through between faults, so that outages are separate episodes.
            passed = proxy.counts["pass"]
            deadline = time.monotonic() + 10
            while proxy.counts["pass"] == passed and time.monotonic() < deadline:
                time.sleep(0.05)

    def chaos() -> None:
        inject("503", "429", "reset", "slow", "reset", "503", "429", "slow", "reset")
        proxy.down()  # connections refused for 3 s
        time.sleep(3)
        proxy.up()
        proxy.blackout(12).join()
        inject("reset", "503", "slow", "reset")

    try:
        with running(station):
            for k in range(20):
                drop_by_rename(station, f"batch-{k:02d}.json", batch_file(10_000 + k * 100, 100))
            thread = threading.Thread(target=chaos, daemon=True)
            thread.start()
            wait_for(lambda: printed_count(station) == 2000, timeout=240, what="2000 printed")
            thread.join(120)
            assert not thread.is_alive(), "the fault schedule did not finish"
            doc = wait_for(lambda: (d := sync_doc(station))["backlog"] == 0 and
                           d["state"] == "idle" and d, timeout=120, what="backlog empty")
            log = station.log_text()
    finally:
        proxy.close()
    held = verify_received(receiver, station)
    assert held == doc["acked_through"] > 2000 * 3
    # A reset after head office committed made the station send those events again, and
    # head office counted them as duplicates instead of storing them twice.
    assert receiver.station()["duplicates"] > 0
    assert all(proxy.counts[f] >= 1 for f in ("503", "429", "reset", "slow"))
    assert proxy.refused_windows >= 2
    # Outages are logged when they begin and end, not once per try.
    outages = log.count("event=sync.outage")
    assert 2 <= outages <= len(injected) + 2
    assert log.count("event=sync.restored") == outages
    assert "Traceback" not in log


def test_receiver_restored_from_backup_gets_everything_again(tmp_path: Path,
                                                             receiver: Receiver) -> None:
    station = station_at(tmp_path)
    add_sync(station, receiver.url, batch=20)
    with running(station):
        drop_by_rename(station, "a.json", batch_file(20_000, 5))
        wait_for(lambda: sync_doc(station)["backlog"] == 0 and printed_count(station) == 5,
                 what="first five synced")
        backup = receiver.backup(tmp_path / "ho-backup.db")
        old_acked = receiver.station()["acked_through"]
        drop_by_rename(station, "b.json", batch_file(20_005, 5))
        wait_for(lambda: printed_count(station) == 10 and sync_doc(station)["backlog"] == 0,
                 what="next five synced")
        # Head office loses its disk and restores yesterday's backup.
        receiver.stop()
        receiver.restore(backup)
        receiver.start()
        assert receiver.station()["acked_through"] == old_acked
        # Reconcile asks head office itself: the five later invoices are missing there.
        done = station.cli("reconcile", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["head_office_acked_through"] == old_acked
        assert report["station_believes_acked_through"] > old_acked
        assert sorted(m["invoice"] for m in report["unacknowledged"]) == \
            [f"{invoice()['code']}-{n:08d}" for n in range(20_005, 20_010)]
        # `sync --now` makes the station ask, see acked_through go back, and resend.
        assert station.cli("sync", "--now").returncode == 0
        wait_for(lambda: receiver.station()["acked_through"] ==
                 sync_doc(station)["acked_through"] and sync_doc(station)["backlog"] == 0,
                 what="resent")
        log = station.log_text()
    assert verify_received(receiver, station) > old_acked
    assert "event=sync.behind" in log
    done = station.cli("reconcile")
    assert "every printed invoice is acknowledged" in done.stdout


def test_sigterm_during_a_long_retry_after_stops_within_2_s(tmp_path: Path,
                                                           receiver: Receiver) -> None:
    proxy = FaultProxy(receiver.port)
    proxy.push(*["503:3600"] * 5)
    station = station_at(tmp_path)
    add_sync(station, proxy.url)
    try:
        with running(station):
            drop_by_rename(station, "a.json", json.dumps(invoice("00030001")).encode())
            wait_for(lambda: proxy.counts["503:3600"] >= 1, what="a 503 with Retry-After")
            wait_for(lambda: sync_doc(station)["next_attempt_at"], what="waiting to retry")
            time.sleep(0.5)
            code, took = station.stop()
    finally:
        proxy.close()
    assert code == 0 and took < 2.0, (code, took)
    assert proxy.counts["503:3600"] == 1  # the wait was honoured: no second try
    assert "retry_in_s=3600.0" in station.log_text()


def test_sigterm_during_a_hanging_request_does_not_wait_for_it(tmp_path: Path,
                                                               receiver: Receiver) -> None:
    proxy = FaultProxy(receiver.port, slow_s=60)
    proxy.push("pass", "slow")  # the first request asks what head office holds
    station = station_at(tmp_path)
    add_sync(station, proxy.url, timeout_s=60)
    try:
        with running(station):
            drop_by_rename(station, "a.json", json.dumps(invoice("00030002")).encode())
            wait_for(lambda: proxy.counts["slow"] == 1, what="a request hanging")
            code, took = station.stop()
        assert code == 0 and took < 2.0, (code, took)
        # The request had reached head office; its answer never came back. After the
        # restart the station sends those events again, and head office counts the
        # repeat as duplicates.
        with running(station):
            wait_for(lambda: sync_doc(station)["backlog"] == 0 or None, what="synced")
    finally:
        proxy.close()
    assert receiver.station()["duplicates"] > 0
    assert verify_received(receiver, station) > 0


def test_offline_limit_holds_new_jobs_until_head_office_catches_up(
        tmp_path: Path, headoffice_db: str | None) -> None:
    ho = Receiver(tmp_path / "ho", db=headoffice_db)
    ho.start()
    port = ho.port
    ho.stop()  # head office is unreachable for now
    station = station_at(tmp_path)
    add_sync(station, f"http://127.0.0.1:{port}", backoff_max_s=1, offline_max_hours=4)
    clock = tmp_path / "clock"
    clock.write_text("0")
    env = {"PRINTSTATION_TEST_CLOCK": str(clock)}
    with running(station, env):
        drop_by_rename(station, "a.json", json.dumps(invoice("00040001")).encode())
        wait_for(lambda: printed_count(station) == 1, what="printed while offline")
        # 3.5 hours later (over 80 % of the 4 h budget): a warning, still printing.
        clock.write_text(str(3.5 * 3600))
        done = subprocess.run([str(EXE), "--config", str(station.config), "status"],
                              capture_output=True, text=True, env={**os.environ, **env})
        assert "WARNING: offline limit near" in done.stdout, done.stdout
        drop_by_rename(station, "b.json", json.dumps(invoice("00040002")).encode())
        wait_for(lambda: printed_count(station) == 2, what="printed within the budget")
        # 4.5 hours after the first: new jobs wait.
        clock.write_text(str(4.5 * 3600))
        drop_by_rename(station, "c.json", json.dumps(invoice("00040003")).encode())
        held = wait_for(lambda: [j for j in station.jobs() if j["reason"] == "offline.limit"],
                        what="held for the offline limit")
        assert held[0]["state"] == "held"
        detail = json.loads(held[0]["errors"])[0]
        assert "离线" in detail["zh"] and "4.5 h old (limit 4 h)" in detail["en"]
        check = subprocess.run([str(EXE), "--config", str(station.config), "status", "--check"],
                               capture_output=True, text=True, env={**os.environ, **env})
        assert check.returncode == 1 and "offline limit" in check.stdout
        # Head office comes back: sync catches up, and the job prints by itself.
        ho.start()
        wait_for(lambda: printed_count(station) == 3, timeout=30, what="released and printed")
    ho.stop()
    with station.db() as conn:
        types = [r[0] for r in conn.execute(
            "SELECT type FROM events WHERE job_id = ? AND type LIKE 'job.%' ORDER BY seq",
            (held[0]["id"],))]
    assert types[-4:] == ["job.held", "job.queued", "job.submitted", "job.printed"]


def test_offline_amount_limit_counts_the_job_itself(tmp_path: Path) -> None:
    station = station_at(tmp_path)
    total = invoice()["total"]
    # Room for two invoices, not three; head office never answers.
    add_sync(station, "http://127.0.0.1:9", backoff_max_s=1,
             offline_max_total=str(Decimal(total) * 2 + Decimal("0.01")))
    with running(station):
        drop_by_rename(station, "a.json", batch_file(50_000, 3))
        held = wait_for(lambda: [j for j in station.jobs() if j["reason"] == "offline.limit"],
                        what="the third held")
        wait_for(lambda: printed_count(station) == 2, what="two printed")
    assert [j["invoice_key"][-8:] for j in held] == ["00050002"]
    assert "exceeds the limit" in json.loads(held[0]["errors"])[0]["en"]


def test_a_different_event_under_a_held_seq_halts_sync_loudly(tmp_path: Path,
                                                              receiver: Receiver) -> None:
    station = station_at(tmp_path)
    add_sync(station, receiver.url)
    with running(station):
        drop_by_rename(station, "a.json", json.dumps(invoice("00060001")).encode())
        wait_for(lambda: printed_count(station) == 1 and sync_doc(station)["backlog"] == 0,
                 what="synced")
    # The station's journal is lost and, by an operator's explicit choice, started afresh
    # (a plain start refuses: tests/test_continuity.py): its seq 1 is not head office's.
    for path in station.data.glob("journal.db*"):
        path.unlink()
    station.start(args=("--new-journal",))
    try:
        drop_by_rename(station, "b.json", json.dumps(invoice("00060002")).encode())
        doc = wait_for(lambda: (d := sync_doc(station))["state"] == "halted" and d,
                       what="sync halted")
        check = station.cli("status", "--check")
        log = station.log_text()
    finally:
        station.stop()
    # Whichever comes first halts it: the resent seq 1 with another hash (409), or head
    # office's acknowledgement above anything this journal sent (sync.ahead).
    assert ("HTTP 409" in doc["last_error"] and "sync --now" in doc["last_error"]) or \
        "level=error event=sync.ahead" in log, (doc, log[-2000:])
    assert check.returncode == 1 and "sync is halted" in check.stdout
    assert "level=error event=sync.halted" in log
    assert receiver.station()["acked_through"] < 10  # nothing of the new journal was taken


def test_a_wrong_token_pauses_sync_until_a_reload(tmp_path: Path, receiver: Receiver) -> None:
    station = station_at(tmp_path)
    token_file = add_sync(station, receiver.url, token="not-the-token")
    with running(station):
        drop_by_rename(station, "a.json", json.dumps(invoice("00070001")).encode())
        doc = wait_for(lambda: (d := sync_doc(station))["state"] == "paused" and d,
                       what="sync paused")
        assert "HTTP 401" in doc["last_error"] and doc["backlog"] > 0
        token_file.write_text(TOKEN)
        station.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: (d := sync_doc(station))["backlog"] == 0 and d["state"] == "idle",
                 what="synced after the reload")
        log = station.log_text()
    assert log.count("event=sync.paused") == 1  # a permanent error is not retried
    assert verify_received(receiver, station) > 0


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    station = station_at(tmp_path)
    token_file = add_sync(station, "https://ho.example.com")
    token_file.chmod(0o644)
    done = subprocess.run([str(EXE), "--config", str(station.config), "run"],
                          capture_output=True, text=True, timeout=30, cwd=station.folder)
    assert done.returncode == 78
    assert "readable by its group and others" in done.stderr
    assert f"chmod 600 {token_file}" in done.stderr


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    ca_key, ca, key, csr, cert = (folder / n for n in
                                  ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    for cmd in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "2", "-subj", "/CN=printstation test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):
        subprocess.run(["openssl", *map(str, cmd)], check=True, capture_output=True)
    return ca, cert, key


def test_https_verifies_head_office_against_the_configured_ca(
        tmp_path: Path, headoffice_db: str | None) -> None:
    ca, cert, key = make_tls(tmp_path)
    ho = Receiver(tmp_path / "ho", db=headoffice_db)
    ho.start("--tls-cert", str(cert), "--tls-key", str(key))
    url = f"https://127.0.0.1:{ho.port}"
    try:
        trusting = Station(tmp_path / "a", write_config(tmp_path / "a"))
        add_sync(trusting, url, ca_file=str(ca))
        with running(trusting):
            drop_by_rename(trusting, "a.json", json.dumps(invoice("00080001")).encode())
            wait_for(lambda: printed_count(trusting) == 1 and
                     sync_doc(trusting)["backlog"] == 0, what="synced over TLS")
        assert verify_received(ho, trusting) > 0
        # Without the CA the same server is not trusted; nothing turns the check off.
        doubting = Station(tmp_path / "a", trusting.config)
        doubting.config.write_text(trusting.config.read_text().replace(
            f'ca_file = "{ca}"', 'ca_file = ""'))
        done = doubting.cli("sync", "--now")
    finally:
        ho.stop()
    assert done.returncode == 69
    assert "not trusted" in done.stderr and "sync.ca_file" in done.stderr


def test_killed_between_delivery_and_its_record_resends_and_loses_nothing(
        tmp_path: Path, receiver: Receiver) -> None:
    station = station_at(tmp_path)
    add_sync(station, receiver.url)
    station.start({"PRINTSTATION_CRASH_AT": "sync_after_post"})
    drop_by_rename(station, "a.json", json.dumps(invoice("00090001")).encode())
    assert station.proc.wait(15) == -signal.SIGKILL
    station.kill()
    held_before = receiver.station()["acked_through"]
    assert held_before > 0  # head office committed what the station never recorded
    with running(station):
        wait_for(lambda: printed_count(station) == 1 and sync_doc(station)["backlog"] == 0,
                 what="printed and synced after the restart")
    assert receiver.station()["duplicates"] >= held_before
    assert verify_received(receiver, station) > held_before
