"""`[retention]` (SPEC §12) on the real daemon: files past their age leave archive/,
rejected/ and results/, but never one whose events head office lacks; each removal from
the archive is journaled, and a backup takes it for a removal, not a loss."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from printstation.harness.kit import drop_by_rename, invoice, running, station_at, wait_for
from printstation.harness.receiver import Receiver, add_sync

pytestmark = pytest.mark.e2e
DAY = 86400


def test_old_files_go_unsynced_and_unknown_ones_stay_and_backup_knows(tmp_path: Path) -> None:
    ho = Receiver(tmp_path / "ho")
    ho.start()
    station = station_at(tmp_path)
    add_sync(station, ho.url)
    with station.config.open("a", encoding="utf-8") as fh:
        fh.write("\n[retention]\narchive_days = 30\nrejected_days = 30\nresults_days = 60\n")
    clock = tmp_path / "clock"
    clock.write_text("0")
    try:
        with running(station, env={"PRINTSTATION_TEST_CLOCK": str(clock)}):
            drop_by_rename(station, "a.json", json.dumps(invoice("00071001")).encode())
            drop_by_rename(station, "bad.json", b"{")
            wait_for(lambda: station.result("a.json") and station.result("bad.json"),
                     what="both finished")
            wait_for(lambda: json.loads(station.cli("sync", "--json").stdout)["backlog"] == 0,
                     what="head office holds everything")
            ho.stop()
            # Printed while head office is away: its events stay unsynced.
            drop_by_rename(station, "c.json", json.dumps(invoice("00071002")).encode())
            wait_for(lambda: station.result("c.json"), what="c printed")
            a_files = [p for p in station.archived() + station.renders()
                       if station.result("a.json")["job"] in p.name]
            c_files = [p for p in station.archived() + station.renders()
                       if station.result("c.json")["job"] in p.name]
            assert len(a_files) == 2 and len(c_files) == 2  # the file and its page
            bad = [station.rejected / "bad.json", station.rejected / "bad.json.error.txt"]
            assert all(p.exists() for p in bad)
            # Nothing the journal knows of: left alone, however old.
            stray = station.rejected / "stray.json"
            stray.write_text("{}")
            os.utime(stray, (time.time() - 400 * DAY,) * 2)
            # Forty days on (the station's clock), the results kept 60 days are still young.
            clock.write_text(str(40 * DAY))
            wait_for(lambda: not any(p.exists() for p in a_files + bad), timeout=30,
                     what="the old, synced files removed")
            assert all(p.exists() for p in c_files) and stray.exists()
            assert station.result("a.json") and station.result("bad.json")
            # Seventy days on: results too, but c's, whose events head office lacks.
            clock.write_text(str(70 * DAY))
            wait_for(lambda: station.result("a.json") is None
                     and station.result("bad.json") is None, timeout=30,
                     what="old results removed")
            assert station.result("c.json") and all(p.exists() for p in c_files)
            log = station.log_text()
    finally:
        ho.stop()
    assert "event=retention.swept" in log and "kept_unsynced=" in log
    with station.db() as conn:
        expired = {json.loads(r["payload"])["folder"]: json.loads(r["payload"])
                   for r in conn.execute("SELECT payload FROM events"
                                         " WHERE type = 'file.expired'")}
    a_paths = sorted(str(p.relative_to(station.data / "archive")) for p in a_files)
    assert sorted(expired["archive"]["paths"]) == a_paths and expired["archive"]["days"] == 30
    assert sorted(expired["rejected"]["paths"]) == ["bad.json", "bad.json.error.txt"]
    assert set(expired) == {"archive", "rejected"}  # results are removed unjournaled
    # The backup knows those files are gone on purpose: no problem, exit 0.
    done = station.cli("backup", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stdout + done.stderr
    index = json.loads((tmp_path / "backup" / "archive-index.json").read_text())
    assert index["problems"] == []
    assert {e["path"] for e in index["files"]} == {
        str(p.relative_to(station.data / "archive")) for p in c_files}
