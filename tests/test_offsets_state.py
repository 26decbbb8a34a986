"""Calibration offsets kept by the daemon (`data_dir/calibration.toml`), set by clerks.

In production `/etc/printstation` is root's and read-only to the services, so an offset a
clerk sets is operational state the daemon keeps, like the paper ledger. What is checked:
the loader puts the clerks' offsets over the config's (which stay the defaults, an old
`conf.d` drop-in included) and leaves out, with a log line, what the config cannot take;
`set-offset` checks a value as the config's own offsets are checked, journals it and
writes the file in one step, or changes nothing; and, as the real users, a clerk sets an
offset through the daemon (running as `printstation`), the file is the daemon's, the next
job prints with it, a restart keeps it, an outsider is refused (77), and with the daemon
down a clerk is told to start it while root writes as the data folder's owner.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from printstation.config import load_config, load_settings
from printstation.config.offset_file import STATE_NAME, state_file
from printstation.daemon.control_ops import perform
from printstation.harness.kit import EXE, invoice, wait_for, write_config
from printstation.harness.pdfpos import positions
from printstation.harness.users import (
    CLERK,
    OUTSIDER,
    SERVICE,
    Users,
    UserStation,
    as_user,
    user_station,
)
from printstation.spool import Journal

SPECIAL = "vat-special"


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    """The daemon's log records, whatever handlers an earlier test left on its logger."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    log = logging.getLogger("printstation")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def ignored(records: list[logging.LogRecord]) -> list[str]:
    return [r.fields["error"] for r in records  # type: ignore[attr-defined]
            if r.getMessage() == "calibration.ignored"]


# -- the loader: the clerks' offsets over the config's -------------------------------------

def test_a_clerks_offset_wins_and_the_config_and_an_old_dropin_stay_the_defaults(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, "offsets = { vat-special = [0.5, 0.5], "
                                    "vat-ordinary = [1, 1] }")
    # A drop-in as an earlier version's `calibrate` wrote it: plain config, still read.
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "50-calibration-pdf.toml").write_text(
        "[printers.pdf]\noffsets = { vat-roll-76 = [0.2, 0.3] }\n")
    assert load_settings(config).printer("pdf").offsets == {
        SPECIAL: (0.5, 0.5), "vat-ordinary": (1.0, 1.0), "vat-roll-76": (0.2, 0.3)}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / STATE_NAME).write_text("[pdf]\nvat-special = [2.0, -1.0]\n")
    printer = load_settings(config).printer("pdf")
    assert printer.offsets == {SPECIAL: (2.0, -1.0), "vat-ordinary": (1.0, 1.0),
                               "vat-roll-76": (0.2, 0.3)}
    assert printer.offset_for("einvoice") == (0.0, 0.0)


def test_what_the_config_cannot_take_is_logged_and_left_out(
        tmp_path: Path, logged: list[logging.LogRecord]) -> None:
    config = write_config(tmp_path, "offsets = { vat-ordinary = [1, 1] }")
    state = tmp_path / "data" / STATE_NAME
    state.parent.mkdir()
    state.write_text('stray = 5\n\n[pdf]\nvat-special = [1.5, -0.5]\n'
                     'vat-ordinary = [-25, 0]\nvat-roll-76 = [31, 0]\neinvoice = "left"\n'
                     'nosuch = [1, 1]\n\n[gone]\nvat-special = [1, 1]\n')
    printer = load_settings(config).printer("pdf")
    # Only the good entry counts; the config's value stays where the file's is refused.
    assert printer.offsets == {SPECIAL: (1.5, -0.5), "vat-ordinary": (1.0, 1.0)}
    problems = ignored(logged)
    assert len(problems) == 6, problems
    for words in ("stray: must be a table", "vat-ordinary: [-25, 0] would move",
                  "from -30 to 30 mm", "einvoice: must be [x, y]", "no stock 'nosuch'",
                  "no printer 'gone'"):
        assert any(words in p for p in problems), (words, problems)
    # A file that is not TOML at all: the config's offsets, and one line saying why.
    logged.clear()
    state.write_bytes(b"[pdf\nvat-special = [")
    assert load_settings(config).printer("pdf").offsets == {"vat-ordinary": (1.0, 1.0)}
    assert [p[:14] for p in ignored(logged)] == ["not valid TOML"]


# -- set-offset: checked, journaled and written in one step, or nothing changes --------------

def calibration_events(journal: Journal) -> list[dict]:
    return [json.loads(p) for (p,) in journal.conn.execute(
        "SELECT payload FROM events WHERE type = 'calibration.offset' ORDER BY seq")]


def test_set_offset_checks_journals_and_writes_the_file_or_changes_nothing(
        tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    settings = config.settings
    path = state_file(settings)
    path.parent.mkdir()
    # An entry of a printer the config has left out for now is kept for when it returns.
    path.write_text("[gone]\nvat-special = [1.0, 1.0]\n")
    journal = Journal(settings.journal_path, settings.station.id)
    try:
        reply = perform("set-offset", journal, settings, "li.na",
                        {"printer": "pdf", "stock": SPECIAL, "offset": ["1.5", "-0.5"]})
        assert reply.exit == 0, reply.err
        assert reply.doc == {"printer": "pdf", "stock": SPECIAL, "old": [0.0, 0.0],
                             "new": [1.5, -0.5], "file": str(path)}
        [event] = calibration_events(journal)
        assert event == {**reply.doc, "operator": "li.na"}
        text = path.read_text()
        assert "[pdf]\nvat-special = [1.5, -0.5]\n" in text
        assert "[gone]\nvat-special = [1.0, 1.0]\n" in text
        assert path.stat().st_mode & 0o777 == 0o644
        # What the daemon puts in force at once; the config it was given stays as it was.
        assert reply.apply is not None
        assert reply.apply(config).settings.printer("pdf").offset_for(SPECIAL) == (1.5, -0.5)
        assert config.settings.printer("pdf").offset_for(SPECIAL) == (0.0, 0.0)
        # Moved from where it is now, as read again with the file.
        settings = load_settings(write_config(tmp_path))
        assert settings.printer("pdf").offset_for(SPECIAL) == (1.5, -0.5)
        reply = perform("set-offset", journal, settings, "li.na",
                        {"printer": "pdf", "stock": SPECIAL, "adjust": ["0.5", "-1"]})
        assert (reply.exit, reply.doc["old"], reply.doc["new"]) == (0, [1.5, -0.5],
                                                                    [2.0, -1.5])
        settings = load_settings(write_config(tmp_path))
        before = path.read_bytes()
        for args in ({"offset": ["30.5", "0"]}, {"offset": ["1.25", "0"]},
                     {"offset": ["nan", "0"]}, {"offset": [True, 0]}, {"offset": ["1"]},
                     {"offset": "1,2"}, {"offset": ["-25", "0"]}, {"adjust": ["0", "29"]},
                     {"offset": ["1", "1"], "adjust": ["0", "0"]},
                     {"offset": ["1", "1"], "stock": "vat-special-x"},
                     {"offset": ["1", "1"], "printer": "nope"}, {"offset": ["1" * 21, "0"]}):
            reply = perform("set-offset", journal, settings, "li.na",
                            {"printer": "pdf", "stock": SPECIAL, **args})
            assert reply.exit == 2, (args, reply)
        assert path.read_bytes() == before and len(calibration_events(journal)) == 2
        # A file that cannot be written is not journaled either (69, in words).
        path.unlink()
        path.mkdir()
        reply = perform("set-offset", journal, settings, "li.na",
                        {"printer": "pdf", "stock": SPECIAL, "offset": ["1", "1"]})
        assert reply.exit == 69 and "the offset is unchanged" in reply.err[0]
        assert len(calibration_events(journal)) == 2
    finally:
        journal.close()


# -- as the real users ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def users() -> Iterator[Users]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create users and act as them")
    with Users() as made:
        yield made


def cli(user: str, station: UserStation, *args: str) -> subprocess.CompletedProcess:
    return as_user(user, ["--config", str(station.config), *args])


def drop_and_print(station: UserStation, number: str) -> tuple[float, float]:
    """An invoice dropped as the finance software would; where its number was printed."""
    name = f"{number}.json"
    staging = station.folder / "staging" / name
    staging.write_text(json.dumps(invoice(number), ensure_ascii=False), encoding="utf-8")
    os.rename(staging, station.inbox / name)
    result = wait_for(lambda: station.result(name), what=f"{name} settled")
    assert result["state"] == "printed", result
    (pdf,) = station.printed.glob(f"*{number}.pdf")
    return positions(pdf.read_bytes())[number]


def operators(station: UserStation) -> list[tuple[str, list[float]]]:
    with sqlite3.connect(station.data / "journal.db") as conn:
        return [(p["operator"], p["new"]) for p in (json.loads(r[0]) for r in conn.execute(
            "SELECT payload FROM events WHERE type = 'calibration.offset' ORDER BY seq"))]


@pytest.mark.e2e
def test_a_clerk_sets_an_offset_the_daemon_keeps_and_prints_with(users: Users) -> None:
    with user_station() as station:
        anchor = load_config(station.config).stocks[SPECIAL].fields["number"]
        station.start()
        run = cli(CLERK, station, "calibrate", "pdf", "--stock", SPECIAL, "--offset", "1.5,-0.5")
        assert run.returncode == 0, run.stderr
        assert "no running daemon" not in run.stdout and STATE_NAME in run.stdout
        # The daemon's file, readable by all; no config file was written by anyone.
        state = station.data / STATE_NAME
        service = pwd.getpwnam(SERVICE)
        assert (state.stat().st_uid, state.stat().st_mode & 0o777) == (service.pw_uid, 0o644)
        assert not (station.folder / "conf.d").exists()
        # In force for the next job, with no reload.
        x, y = drop_and_print(station, "00063001")
        assert (x, y) == (pytest.approx(anchor.x + 1.5, abs=0.1),
                          pytest.approx(anchor.y - 0.5, abs=0.1))
        status = cli(CLERK, station, "status", "--json")
        [printer] = json.loads(status.stdout)["printers"]
        assert printer["offsets"][SPECIAL] == [1.5, -0.5]
        # An outsider is refused in one line naming the group, and nothing changes.
        before = state.read_bytes()
        refused = cli(OUTSIDER, station, "calibrate", "pdf", "--stock", SPECIAL,
                      "--adjust", "5,5")
        assert refused.returncode == 77 and "group printstation" in refused.stderr
        assert "Traceback" not in refused.stderr and state.read_bytes() == before
        moved = cli(CLERK, station, "calibrate", "pdf", "--stock", SPECIAL, "--adjust", "0.5,0.5")
        assert moved.returncode == 0 and "x=+2.0 mm, y=+0.0 mm" in moved.stdout, moved.stderr
        station.stop()
        # With the daemon down a clerk is told to start it; root sets it as the owner.
        down = cli(CLERK, station, "calibrate", "pdf", "--stock", SPECIAL, "--offset", "0,0")
        assert down.returncode == 69 and "daemon is not running" in down.stderr
        root = subprocess.run([str(EXE), "--config", str(station.config), "calibrate", "pdf",
                               "--stock", SPECIAL, "--adjust", "0,1"],
                              capture_output=True, text=True, timeout=60)
        assert root.returncode == 0 and "no running daemon" in root.stdout, root.stderr
        assert state.stat().st_uid == service.pw_uid
        assert operators(station) == [(CLERK, [1.5, -0.5]), (CLERK, [2.0, 0.0]),
                                      ("root", [2.0, 1.0])]
        # A restart keeps it.
        station.start()
        x, y = drop_and_print(station, "00063002")
        assert (x, y) == (pytest.approx(anchor.x + 2.0, abs=0.1),
                          pytest.approx(anchor.y + 1.0, abs=0.1))
        station.stop()
