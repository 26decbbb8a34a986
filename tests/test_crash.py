"""Crash safety, tested: SIGKILL at each transition point, restart, and prove the promises.

`PRINTSTATION_CRASH_AT=NAME` makes the daemon kill itself when it reaches point NAME
(daemon/crash.py). After the restart every dropped file must be in exactly one place,
byte-identical, and no invoice printed twice. Also: a backup taken while 1,000 invoices
print restores to a sound journal.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from printstation.harness.docs import js, special
from printstation.harness.kit import (
    EXE,
    Station,
    drop_by_rename,
    printed_counts,
    settled_all,
    wait_for,
    write_config,
)
from printstation.spool import connect, verify_chain

pytestmark = pytest.mark.e2e

# Points a batch of several files reaches only (spool/batches.py): the intake between its
# claims and their one commit, the reader between its reads and their one commit.
BATCH_POINTS = ["after_claim_batch", "after_read_batch"]
POINTS = ["between_link_and_unlink", "after_claim", "after_register", "after_read",
          "before_create", "after_create_held", "after_submitted", "after_release",
          "after_printed", "after_plan_finish", "after_move", *BATCH_POINTS]


def drops() -> dict[str, bytes]:
    return {"v1.json": js(special(number="00110001")), "bad.json": b'{"kind": ',
            "v2.json": js(special(number="00110002"))}


@pytest.mark.parametrize("point", [p for p in POINTS if p not in BATCH_POINTS])
def test_sigkill_at_each_point_then_restart(station: Station, point: str) -> None:
    station.start(env={"PRINTSTATION_CRASH_AT": point})
    files = drops()
    for name, data in files.items():
        drop_by_rename(station, name, data)
    wait_for(lambda: station.proc.poll() is not None, timeout=15, what=f"the crash at {point}")
    assert station.proc.returncode == -9
    station.start()
    wait_for(lambda: settled_all(station, list(files)), timeout=20, what="everything settled")
    # Each valid invoice printed exactly once; the bad file rejected with its report.
    assert printed_counts(station) == {"00110001": 1, "00110002": 1}
    archived = {p.name.split("--", 1)[1]: p.read_bytes() for p in station.archived()}
    assert archived == {"v1.json": files["v1.json"], "v2.json": files["v2.json"]}
    assert (station.rejected / "bad.json").read_bytes() == files["bad.json"]
    assert (station.rejected / "bad.json.error.txt").exists()
    # Nothing left behind, nothing twice.
    assert not list(station.inbox.iterdir())
    assert not list((station.data / "spool").iterdir())
    assert len(list(station.rejected.glob("*.json"))) == 1
    assert verify_chain(connect(station.data / "journal.db", readonly=True))[1] is None
    station.stop()


@pytest.mark.parametrize("point", [*BATCH_POINTS, "between_link_and_unlink", "after_printed"])
def test_sigkill_in_the_middle_of_a_batch_of_20_files(station: Station, point: str) -> None:
    """Twenty files dropped at once are claimed and read in batches; a SIGKILL between a
    batch's claims (or reads) and its one commit loses none and prints none twice. In
    the backlog the printer marks a job printed in the commit that submits the next: a
    SIGKILL right after that commit finds the next one submitted, not yet released."""
    files = {f"m{i:02d}.json": js(special(number=f"{160000 + i:08d}")) for i in range(18)}
    files["bad.json"] = b'{"kind": '
    # The same invoice number twice: whichever batch they land in, one is a duplicate.
    files["m00-again.json"] = js(special(number="00160000")) + b"\n"
    staging = station.folder / "staging"
    staging.mkdir(exist_ok=True)
    for name, data in files.items():
        (staging / name).write_bytes(data)
    # For the printer's backlog every file waits before the start, so that the first job
    # already has others queued behind it.
    backlog = point == "after_printed"
    if not backlog:
        station.start(env={"PRINTSTATION_CRASH_AT": point})
    station.inbox.mkdir(exist_ok=True)
    for name in files:
        (staging / name).rename(station.inbox / name)
    if backlog:
        station.start(env={"PRINTSTATION_CRASH_AT": point})
    wait_for(lambda: station.proc.poll() is not None, timeout=15, what=f"the crash at {point}")
    assert station.proc.returncode == -9
    if backlog:
        states = [j["state"] for j in station.jobs()]
        assert states.count("printed") == 1 and states.count("submitted") == 1, states
        assert len(list(station.printed.glob("*.pdf"))) == 1  # the next one still held
    station.start()
    wait_for(lambda: settled_all(station, list(files)), timeout=30, what="everything settled")
    # Claimed files the crash left without a journal row were each adopted at start:
    # several after a batch's claims (the first batch may be of one file only).
    events = connect(station.data / "journal.db", readonly=True).execute(
        "SELECT payload FROM events WHERE type = 'job.incoming'").fetchall()
    recovered = sum('"recovered":true' in e["payload"] for e in events)
    assert recovered >= {"after_claim_batch": 2, "between_link_and_unlink": 1}.get(point, 0)
    counts = printed_counts(station)
    assert set(counts.values()) == {1} and set(counts) == {f"{160000 + i:08d}"
                                                           for i in range(18)}
    # Every file in exactly one place, byte-identical: 18 archived, two rejected.
    archived = {p.name.split("--", 1)[1]: p.read_bytes() for p in station.archived()}
    rejected = {p.name: p.read_bytes() for p in station.rejected.glob("*.json")}
    assert len(archived) == 18 and len(rejected) == 2
    assert {**archived, **rejected} == files
    assert station.result("bad.json")["state"] == "rejected"
    twins = [station.result(n) for n in ("m00.json", "m00-again.json")]
    assert sorted(r["state"] for r in twins) == ["printed", "rejected"]
    assert not list(station.inbox.iterdir())
    assert not list((station.data / "spool").iterdir())
    assert len(station.jobs()) == 20
    assert verify_chain(connect(station.data / "journal.db", readonly=True))[1] is None
    station.stop()


def test_a_released_job_the_printer_lost_is_uncertain_until_resolved(station: Station) -> None:
    station.start(env={"PRINTSTATION_CRASH_AT": "after_release"})
    drop_by_rename(station, "a.json", js(special(number="00120001")))
    wait_for(lambda: station.proc.poll() is not None, what="the crash")
    # The printer lost the job (here: its output vanished): the outcome is unknowable.
    for pdf in station.printed.glob("*.pdf"):
        pdf.unlink()
    station.start()
    wait_for(lambda: any(j["state"] == "uncertain" for j in station.jobs()), what="uncertain")
    assert station.result("a.json") is None  # never resubmitted, never finished
    job = station.jobs()[0]["id"]
    check = station.cli("status", "--check")
    assert check.returncode == 1 and "uncertain" in check.stdout
    resolve = station.cli("resolve", job, "--spoiled", "--reason", "nothing came out")
    assert resolve.returncode == 0, resolve.stderr
    result = wait_for(lambda: station.result("a.json"), what="finished")
    assert result["state"] == "failed"
    assert not list(station.printed.glob("*.pdf"))
    station.stop()


def test_backup_while_printing_1000_invoices_restores_sound(tmp_path: Path) -> None:
    station = Station(tmp_path, write_config(tmp_path))
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(1000):
        (staging / f"b{i:04d}.json").write_bytes(js(special(number=f"{200000 + i:08d}")))
    station.start()
    try:
        backups: list[Path] = []
        errors: list[str] = []

        def take_backups() -> None:
            for n in range(3):
                dest = tmp_path / f"backup{n}"
                run = subprocess.run([EXE, "--config", station.config, "backup", dest],
                                     capture_output=True, text=True, timeout=120)
                if run.returncode:
                    errors.append(run.stderr)
                backups.append(dest)

        for i, name in enumerate(sorted(p.name for p in staging.iterdir())):
            shutil.move(staging / name, station.inbox / name)
            if i == 300:
                worker = threading.Thread(target=take_backups)
                worker.start()
        worker.join()
        assert errors == []
        wait_for(lambda: len(list(station.printed.glob("*.pdf"))) == 1000, timeout=120,
                 what="1000 printed")
        for dest in backups:
            copy = sqlite3.connect(dest / "journal.db")
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert verify_chain(copy)[1] is None
            assert (dest / "archive-index.json").exists()
            # Restore: put it where a station reads it and let the command check it.
            restored = tmp_path / f"restored-{dest.name}"
            (restored / "data").mkdir(parents=True)
            shutil.copy(dest / "journal.db", restored / "data" / "journal.db")
            config = write_config(restored)
            verify = subprocess.run([EXE, "--config", config, "journal", "--verify"],
                                    capture_output=True, text=True)
            assert verify.returncode == 0 and verify.stdout.startswith("OK: "), verify.stdout
        station.stop()
    finally:
        station.kill()
