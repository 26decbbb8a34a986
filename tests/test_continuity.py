"""Journal continuity and one daemon per data folder (issue 14, points 2 and 3).

Each attack on the journal is made for real on a station that has printed: the journal
moved away, emptied, rolled back to an old copy, edited, or removed under the running
daemon. The daemon must refuse to print on top of it with a message that says how to
recover, the documented recovery must work, and no invoice may print twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from contextlib import closing

import pytest

from printstation.harness.kit import EXE, Station, drop_by_rename, invoice, running, wait_for
from printstation.spool import Journal, connect, verify_chain

pytestmark = pytest.mark.e2e  # each runs the real daemon or CLI

CODE = invoice()["code"]


def encode(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def run_once(station: Station, *extra: str) -> subprocess.CompletedProcess:
    """`printstation run` expected to refuse at start (it must not hang)."""
    return subprocess.run([str(EXE), "--config", str(station.config), "run", *extra],
                          capture_output=True, text=True, timeout=30, cwd=station.folder)


def print_one(station: Station, name: str, number: str) -> None:
    drop_by_rename(station, name, encode(invoice(number)))
    wait_for(lambda: (station.result(name) or {}).get("state") == "printed",
             what=f"{name} printed")


def printed(station: Station) -> list[str]:
    with station.db() as conn:
        return [r[0] for r in conn.execute(
            "SELECT invoice_key FROM jobs WHERE state = 'printed' ORDER BY created_at")]


def refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 78, result.stderr
    assert "Traceback" not in result.stderr
    for word in ("journal restore", "--new-journal", *words):
        assert word in result.stderr, result.stderr


def test_a_journal_moved_away_is_refused_and_restored(station: Station) -> None:
    with running(station):
        print_one(station, "a.json", "00070001")
    moved = station.folder / "elsewhere.db"
    os.rename(station.data / "journal.db", moved)
    refused(run_once(station), "missing")
    # The documented recovery: restore it; then the same invoice is a duplicate.
    restored = station.cli("journal", "restore", str(moved))
    assert restored.returncode == 0, restored.stderr
    with running(station):
        drop_by_rename(station, "again.json", encode(invoice("00070001")))
        wait_for(lambda: station.result("again.json"), what="second copy settled")
        assert station.result("again.json")["state"] == "rejected"
    assert printed(station) == [f"{CODE}-00070001"]
    with station.db() as conn:
        types = [r[0] for r in conn.execute("SELECT type FROM events ORDER BY seq")]
        assert verify_chain(conn)[1] is None
    assert "journal.restored" in types


def test_an_emptied_or_rolled_back_journal_is_refused(station: Station) -> None:
    with running(station):
        print_one(station, "a.json", "00071001")
    old_copy = station.folder / "old.db"
    shutil.copy(station.data / "journal.db", old_copy)
    with running(station):
        print_one(station, "b.json", "00071002")
    current = station.folder / "current.db"
    shutil.copy(station.data / "journal.db", current)
    # Rolled back to the older copy: it forgets b.json's invoice.
    shutil.copy(old_copy, station.data / "journal.db")
    refused(run_once(station), "older")
    # Emptied: a fresh journal of the same station.
    (station.data / "journal.db").unlink()
    Journal(station.data / "journal.db", "TEST-001").close()
    refused(run_once(station), "no events")
    # Edited: an event's payload changed in place.
    shutil.copy(current, station.data / "journal.db")
    with closing(sqlite3.connect(station.data / "journal.db")) as conn, conn:
        conn.execute("UPDATE events SET payload = '{}' WHERE seq = 2")
    refused(run_once(station), "hash chain")
    shutil.copy(current, station.data / "journal.db")
    with running(station):
        drop_by_rename(station, "b2.json", encode(invoice("00071002")))
        wait_for(lambda: station.result("b2.json"), what="b2 settled")
    assert station.result("b2.json")["state"] == "rejected"  # a duplicate, not a reprint


def test_new_journal_is_explicit_and_journaled(station: Station) -> None:
    with running(station):
        print_one(station, "a.json", "00072001")
    with closing(sqlite3.connect(station.data / "journal.db")) as conn, conn:
        conn.execute("UPDATE events SET payload = '{}' WHERE seq = 1")
    refused(run_once(station), "hash chain")
    station.start(args=("--new-journal",))
    try:
        with station.db() as conn:
            first = conn.execute("SELECT type, payload FROM events ORDER BY seq LIMIT 1"
                                 ).fetchone()
        assert first["type"] == "journal.new"
        payload = json.loads(first["payload"])
        assert payload["operator"] == "root" and payload["previous"]["seq"] >= 3
        # The broken journal was set aside, not deleted.
        assert len(list(station.data.glob("journal.db.replaced-*Z"))) == 1
    finally:
        station.stop()
    # From then on the new journal is the station's: a plain start accepts it.
    with running(station):
        pass


def test_journal_removed_while_running_is_saved_and_stops_intake(station: Station) -> None:
    station.start()
    print_one(station, "a.json", "00073001")
    (station.data / "journal.db").unlink()
    assert station.proc is not None
    code = station.proc.wait(15)
    assert code == 78
    log = station.log_text()
    assert "event=journal.lost" in log and "how=removed" in log
    saved = sorted(station.data.glob("journal.db.saved-*"))
    assert len(saved) == 1
    conn = connect(saved[0], readonly=True)
    assert verify_chain(conn)[1] is None
    assert conn.execute("SELECT count(*) FROM jobs WHERE state = 'printed'").fetchone()[0] == 1
    conn.close()
    # A file dropped now waits in the drop folder; after the restore it prints once.
    drop_by_rename(station, "b.json", encode(invoice("00073002")))
    refused(run_once(station))
    assert station.cli("journal", "restore", str(saved[0])).returncode == 0
    with running(station):
        wait_for(lambda: station.result("b.json"), what="b printed after restore")
    assert printed(station) == [f"{CODE}-00073001", f"{CODE}-00073002"]


def test_a_second_daemon_on_the_same_folder_exits_75_naming_the_first(station: Station) -> None:
    with running(station):
        assert station.proc is not None
        second = run_once(station)
        assert second.returncode == 75, second.stderr
        assert f"pid {station.proc.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        # A pid planted in the pid file changes nothing: the lock's holder is the daemon.
        print_one(station, "a.json", "00074001")
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            (station.data / "status.json").write_text(json.dumps(
                {**json.loads((station.data / "status.json").read_text()),
                 "pid": sleeper.pid}))
            assert station.cli("calibrate", "pdf", "--stock", "einvoice",
                               "--offset", "0,0").returncode in (0, 2)
            assert station.cli("sync", "--now").returncode in (0, 2)
            assert sleeper.poll() is None  # never signalled
        finally:
            sleeper.send_signal(signal.SIGKILL)
            sleeper.wait()
    assert printed(station) == [f"{CODE}-00074001"]


def test_a_doctored_journal_is_refused_at_start_and_by_restore(station: Station) -> None:
    # A copy whose hash chain is intact but whose tables were doctored: the duplicate
    # check forgets an invoice (its row deleted, or a trigger that deletes every new one).
    with running(station):
        print_one(station, "a.json", "00075001")
    honest = station.folder / "honest.db"
    shutil.copy(station.data / "journal.db", honest)
    for doctoring in ("DELETE FROM invoices",
                      "CREATE TRIGGER forget AFTER INSERT ON invoices BEGIN "
                      "DELETE FROM invoices WHERE key = NEW.key; END"):
        doctored = station.folder / "doctored.db"
        shutil.copy(honest, doctored)
        with closing(sqlite3.connect(doctored)) as conn, conn:
            conn.execute(doctoring)
        with closing(connect(doctored, readonly=True)) as conn:
            assert verify_chain(conn)[1] is None  # the events alone look fine
        restored = station.cli("journal", "restore", str(doctored))
        assert restored.returncode == 78 and "cannot be restored" in restored.stderr
        assert "Traceback" not in restored.stderr
        # The same doctoring in place is refused at start.
        shutil.copy(doctored, station.data / "journal.db")
        refused(run_once(station))
        shutil.copy(honest, station.data / "journal.db")
    # Not a journal at all: one line, not a traceback.
    junk = station.folder / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    result = station.cli("journal", "restore", str(junk))
    assert result.returncode == 78 and "cannot be read as a journal" in result.stderr
    with running(station):
        drop_by_rename(station, "again.json", encode(invoice("00075001")))
        wait_for(lambda: station.result("again.json"), what="again settled")
    assert station.result("again.json")["state"] == "rejected"
    assert printed(station) == [f"{CODE}-00075001"]


def test_restore_takes_only_an_earlier_copy_of_the_stations_journal(station: Station) -> None:
    with running(station):
        print_one(station, "a.json", "00076001")
    # Another station's journal, and another journal of this station (a new id).
    other = station.folder / "other.db"
    Journal(other, "OTHER-9").close()
    result = station.cli("journal", "restore", str(other))
    assert result.returncode == 78 and "station 'OTHER-9'" in result.stderr
    stranger = station.folder / "stranger.db"
    journal = Journal(stranger, "TEST-001")
    with journal.transaction() as conn:
        conn.execute("INSERT INTO meta VALUES ('journal_id', 'feedfacefeedface')")
        journal.append_event("paper.loaded", payload={})
    journal.close()
    result = station.cli("journal", "restore", str(stranger))
    assert result.returncode == 78 and "another journal" in result.stderr


def test_head_office_holding_more_than_the_journal_stops_the_station(
        tmp_path, headoffice_db: str | None) -> None:
    # Every local trace of the station's history is gone (journal, stamp, archive,
    # spool): only head office remembers. The station must not print on a blank journal.
    from printstation.harness.kit import station_at
    from printstation.harness.receiver import Receiver, add_sync

    receiver = Receiver(tmp_path / "ho", db=headoffice_db)
    receiver.start()
    try:
        station = station_at(tmp_path)
        add_sync(station, receiver.url)
        with running(station):
            print_one(station, "a.json", "00077001")
            wait_for(lambda: receiver.station()["acked_through"] >= 5, what="synced")
        shutil.rmtree(station.data)
        station.start()
        assert station.proc is not None
        assert station.proc.wait(20) == 78
        assert "event=journal.behind_head_office" in station.log_text()
        # The operator's explicit new journal goes on (and head office must be told).
        station.start(args=("--new-journal",))
        drop_by_rename(station, "b.json", encode(invoice("00077002")))
        wait_for(lambda: station.result("b.json"), what="b settled on the new journal")
        station.stop()
    finally:
        receiver.stop()


def test_jobs_of_a_printer_removed_at_a_restart_are_held_not_stranded(tmp_path) -> None:
    from printstation.harness.drops import sample
    from printstation.harness.kit import write_config

    folder = tmp_path / "station"
    two = """
[printers.a]
driver = "directory"
path = "printed-a"
stocks = ["vat-special"]

[printers.b]
driver = "directory"
path = "not-a-folder"
stocks = ["vat-ordinary"]
"""
    station = Station(folder, write_config(folder, printers=two))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "not-a-folder").write_text("a file: printer b cannot print")
    with running(station):
        drop_by_rename(station, "o.json", encode(sample("vat-ordinary", "00079001")))
        wait_for(lambda: any(j["state"] == "queued" for j in station.jobs()),
                 what="queued for printer b")
    write_config(folder, printers=two.split("[printers.b]")[0])
    with running(station):
        wait_for(lambda: station.jobs()[0]["state"] == "held", what="held")
        assert station.jobs()[0]["reason"] == "printer.missing"
        check = station.cli("status", "--check")
        assert check.returncode == 1 and "printer.missing" in check.stdout
