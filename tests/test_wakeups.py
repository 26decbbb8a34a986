"""An idle daemon sleeps; an operator's change still reaches it at once (issue 19).

Runners sleep until woken unless something is due (daemon/runner.py): an idle daemon's
threads are counted waking in /proc (voluntary context switches: one per sleep), and a
clerk's change made through the CLI, or written to the journal by another process, is
acted on within a second.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from printstation.config import load_settings
from printstation.daemon import control, health, runner
from printstation.daemon.control_ops import perform
from printstation.harness.kit import (
    EXE,
    Station,
    drop_by_rename,
    invoice,
    running,
    wait_for,
    write_config,
)
from printstation.spool import Journal

# A long rescan, as a quiet station has it: the intake's own timer stays out of the count.
QUIET = {"rescan_s": 3600}


def js(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def wakeups(pid: int) -> dict[int, tuple[str, int]]:
    """Each thread of `pid`: its name and how often it has gone to sleep so far."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            status = (task / "status").read_text()
        except OSError:
            continue  # ended meanwhile
        found[int(task.name)] = (name, int(re.search(
            r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1)))
    return found


def printed_one(station: Station, name: str, number: str) -> str:
    """Drop an invoice, wait until it is printed; its invoice key."""
    drop_by_rename(station, name, js(invoice(number)))
    wait_for(lambda: (station.result(name) or {}).get("state") == "printed",
             what=f"{name} printed")
    return next(j["invoice_key"] for j in station.jobs()
                if j["source_name"] == name and j["state"] == "printed")


def page_of(station: Station, job: str) -> bool:
    return any(station.printed.glob(f"{job}--*.pdf"))


# -- the runner loop, in process ---------------------------------------------------------


class _Idle(runner.Runner):
    name = "idle"

    def run_once(self) -> bool:
        return False


def test_an_idle_runner_sleeps_until_woken_and_is_not_stuck(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "station"))
    idle = _Idle()
    idle.start()
    try:
        wait_for(lambda: idle.sleeping, what="asleep")
        time.sleep(1.3)
        assert idle.passes == 1  # it did not come round by itself (it did every 1 s)
        # Asleep long past its stall limit is not stuck.
        report = health.runner_report([idle], settings, now=idle.beat + 10 * runner.STALL_S)
        assert report[0]["stuck"] is False and report[0]["sleeping"] is True
        idle.wake()
        wait_for(lambda: idle.passes == 2 and idle.sleeping, what="one pass when woken")
    finally:
        idle.stop()
        assert idle.join(2)


# -- the daemon ----------------------------------------------------------------------------


@pytest.mark.e2e
def test_an_idle_daemon_does_not_come_round_every_second(tmp_path: Path) -> None:
    station = Station(tmp_path, write_config(tmp_path, **QUIET))
    with running(station):
        assert station.proc is not None
        printed_one(station, "a.json", "00081001")
        # The writes that follow a print (the metrics file, the runtime file and the
        # journal's stamp, each with its fsyncs, which count as switches too) are done
        # within one look of the metrics runner and one tick of the main loop (5 s).
        time.sleep(5.5)
        before = wakeups(station.proc.pid)
        window = 4.0
        time.sleep(window)
        after = wakeups(station.proc.pid)
        woke = {tid: (name, after[tid][1] - before.get(tid, (name, 0))[1])
                for tid, (name, _) in after.items()}
        total = sum(n for _, n in woke.values())
        # Before: every runner each second, the control socket twice a second, the main
        # loop each second with a status file written (two fsyncs) every two: about 15
        # a second. Left now: timers that are due (metrics' look every 5 s, retention's
        # clock, the printer's polling until it says when it is due), the drop folder
        # watcher's own threads, the main loop every 5 s.
        assert total / window < 6, sorted(woke.values(), key=lambda v: -v[1])
        by_name: dict[str, int] = {}
        for name, n in woke.values():
            by_name[name] = by_name.get(name, 0) + n
        for quiet in ("reader", "finisher", "control", "sync", "alerts"):
            assert quiet in by_name, f"no thread named {quiet}: {sorted(by_name)}"
            assert by_name[quiet] <= 1, (quiet, by_name)
        code, took = station.stop()
        # The control socket sleeps in select without a timeout: a stop still ends it.
        assert code == 0 and took < 5


@pytest.mark.e2e
def test_the_drop_folder_watcher_wakes_for_arrivals_not_for_readers(tmp_path: Path) -> None:
    """With the rescan an hour away only the watcher's events bring files in: a file
    renamed in and one written in place (with a pause mid-write) are both taken at once.
    Someone listing the folder or reading a file in it (opens and closes that write
    nothing, as the intake's own rescans make) wakes none of the intake's threads."""
    station = Station(tmp_path, write_config(tmp_path, **QUIET))
    with running(station):
        assert station.proc is not None
        printed_one(station, "renamed.json", "00084001")
        with open(station.inbox / "in-place.json", "wb") as out:
            data = js(invoice("00084002"))
            out.write(data[:40])
            out.flush()
            time.sleep(0.05)  # well within settle_ms: a writer still at work
            out.write(data[40:])
        wait_for(lambda: (station.result("in-place.json") or {}).get("state") == "printed",
                 timeout=5.0, what="a file written in place taken without a rescan")
        time.sleep(1.5)
        # A hidden name: the intake leaves it alone.
        (station.inbox / ".readme").write_text("drop invoices here")
        time.sleep(1.0)
        before = wakeups(station.proc.pid)
        for _ in range(200):
            os.listdir(station.inbox)
            with open(station.inbox / ".readme", "rb") as reader:
                reader.read()
        time.sleep(0.5)
        after = wakeups(station.proc.pid)
        woke = sum(after[tid][1] - before.get(tid, (name, 0))[1]
                   for tid, (name, _) in after.items() if name == "intake")
        # Each look used to wake the watcher's threads (25 switches for these 400 opens,
        # the watcher gathering events as they come); now none.
        assert woke < 8, woke


@pytest.mark.e2e
def test_a_clerks_change_through_the_cli_is_acted_on_within_a_second(tmp_path: Path) -> None:
    station = Station(tmp_path, write_config(tmp_path, extra='paper_check = "match"\n',
                                             **QUIET))
    try:
        assert station.cli("paper", "load", "pdf", "--stock", "vat-special", "--code",
                           "1100243130", "--from", "00082001", "--to", "00082001"
                           ).returncode == 0
        station.start()
        drop_by_rename(station, "stray.json", js(invoice("00082009")))
        wait_for(lambda: [j for j in station.jobs() if j["state"] == "held"],
                 what="held for paper")
        stray = next(j["id"] for j in station.jobs() if j["state"] == "held")
        time.sleep(1.5)  # every stage asleep again
        done = station.cli("cancel", stray, "--note", "wrong invoice")
        returned = time.monotonic()
        assert done.returncode == 0, done.stderr
        wait_for(lambda: station.result("stray.json"), timeout=1.0, what="cancel acted on")
        assert time.monotonic() - returned < 1.0
        station.stop()
    finally:
        station.kill()


@pytest.mark.e2e
def test_a_reprint_through_the_cli_or_the_journal_wakes_the_daemon(tmp_path: Path) -> None:
    """Through the socket the daemon wakes at once. The CLI writes the journal itself
    when it found no daemon; a daemon that started meanwhile is poked (`control.poke`),
    and a write nobody told it of is noticed by the main loop from the journal's WAL
    file within its tick."""
    station = Station(tmp_path, write_config(tmp_path, **QUIET))
    settings = load_settings(station.config)
    with running(station):
        key = printed_one(station, "a.json", "00083001")
        # Through the CLI (the control socket): the printer runner wakes for the reprint.
        time.sleep(1.5)
        done = subprocess.run([EXE, "--config", station.config, "reprint", key, "--reason",
                               "jammed"], capture_output=True, text=True, timeout=60)
        returned = time.monotonic()
        assert done.returncode == 0, done.stderr
        job = re.search(r"job (\S+)", done.stdout).group(1)
        wait_for(lambda: page_of(station, job), timeout=1.0, what="reprint printed")
        assert time.monotonic() - returned < 1.0
        for poked, limit in ((True, 1.0), (False, 5.0 + 1.5)):
            time.sleep(1.5)
            journal = Journal(settings.journal_path, settings.station.id)
            try:
                reply = perform("reprint", journal, settings, "clerk",
                                {"invoice": key, "reason": "copy"})
            finally:
                journal.close()
            written = time.monotonic()
            if poked:
                control.poke(settings)
            job = reply.doc["job"]
            wait_for(lambda j=job: page_of(station, j), timeout=limit,
                     what=f"reprint printed ({'poked' if poked else 'not told'})")
            assert time.monotonic() - written < limit


def test_poke_without_a_daemon_does_nothing(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "station"))
    finished = threading.Event()
    threading.Thread(target=lambda: (control.poke(settings), finished.set()),
                     daemon=True).start()
    assert finished.wait(3)
