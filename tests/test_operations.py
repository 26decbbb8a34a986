"""Operator actions and the journal: a random state-machine walk, tampering, permissions,
and the commands' human and JSON output."""

from __future__ import annotations

import contextlib
import json
import random
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from printstation.base.errors import StationError
from printstation.harness.docs import js, special
from printstation.harness.kit import EXE, Station, drop_by_rename, wait_for, write_config
from printstation.spool import Journal, Outcome, State, operations, paper, verify_chain
from printstation.spool.states import TRANSITIONS


def invoice_json(number: str) -> str:
    doc = special(number=number)
    doc["date"] = "2026-11-20"
    return json.dumps(doc, ensure_ascii=False)


class Walk:
    """Random pipeline steps and operator commands on one journal."""

    def __init__(self, journal: Journal, rng: random.Random):
        self.j, self.rng, self.n = journal, rng, 0

    def jobs(self, *states: str) -> list[str]:
        return [r[0] for r in self.j.conn.execute(
            f"SELECT id FROM jobs WHERE state IN ({','.join('?' * len(states))})", states)]

    def pick(self, *states: str) -> str | None:
        found = self.jobs(*states)
        return self.rng.choice(found) if found else None

    def step(self) -> None:
        j, rng = self.j, self.rng
        action = rng.choice(["file", "file", "submit", "print", "lose", "hold", "release",
                             "requeue", "cancel", "resolve", "void", "reprint", "load", "spoil",
                             "any_operator"])
        if action == "file":
            self.n += 1
            job = j.register_source(f"S{self.n}", f"{self.n}.json".encode(),
                                    f"S{self.n}--{self.n}.json", None, 10)
            row = j.next_incoming()
            good = rng.random() < 0.8
            j.settle_read(row, [Outcome(State.QUEUED, kind="vat-special",
                                        invoice_key=f"1100243130-{self.n:08d}", printer="p",
                                        invoice_json=invoice_json(f"{self.n:08d}"))
                                if good else Outcome(State.REJECTED, "parse.json")])
            assert job
        elif action == "submit" and (job := self.pick("queued")):
            sheet = paper.next_free(j.conn, "p", "vat-special")
            with j.transaction() as c:
                j.transition(job, State.SUBMITTED, cups_job_id=f"x-{job}")
                if sheet:
                    paper.reserve(c, sheet, "vat-special", job, j.now())
        elif action == "print" and (job := self.pick("submitted")):
            j.mark_printed(job)
        elif action == "lose" and (job := self.pick("submitted")):
            with j.transaction():
                j.transition(job, State.UNCERTAIN, "printer.lost_job")
        elif action == "load":
            start = 10_000 + self.n * 10
            with contextlib.suppress(paper.PaperError):  # that range is loaded already
                paper.load(j, "p", "vat-special", "", f"{start:08d}", f"{start + 2:08d}", "op")
        elif action == "spoil":
            with contextlib.suppress(paper.PaperError):  # no free sheet
                paper.spoil(j, "p", "vat-special", 1, "jam", "op")
        else:
            self.operator(action)

    def operator(self, action: str) -> None:
        j, rng = self.j, self.rng
        everyone = self.jobs(*[s.value for s in State])
        if not everyone:
            return
        job = rng.choice(everyone)
        try:
            if action in ("hold", "release", "requeue", "cancel"):
                getattr(operations, action)(j, job, "op")
            elif action == "resolve":
                operations.resolve(j, job, rng.random() < 0.5, "op", "checked")
            elif action == "void":
                operations.void(j, rng.choice(self.keys() or ["none"]), "wrong", "op")
            elif action == "reprint":
                operations.reprint(j, rng.choice(self.keys() or ["none"]), "asked", "op", None)
            else:
                getattr(operations, rng.choice(["hold", "release", "requeue", "cancel"]))(
                    j, job, "op")
        except operations.Refused:
            pass

    def keys(self) -> list[str]:
        return [r[0] for r in self.j.conn.execute("SELECT key FROM invoices")]


def check_invariants(conn: sqlite3.Connection) -> None:
    for payload, kind in conn.execute("SELECT payload, type FROM events WHERE type LIKE 'job.%'"
                                      " AND type NOT IN ('job.incoming', 'job.created')"):
        moved = json.loads(payload)
        assert State(moved["to"]) in TRANSITIONS[State(moved["from"])], (kind, moved)
    seqs = [s for (s,) in conn.execute("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert verify_chain(conn)[1] is None
    # No invoice is printed by two live jobs; a sheet is held by at most one job.
    assert conn.execute("SELECT count(*) FROM (SELECT job_id FROM sheets WHERE job_id IS NOT"
                        " NULL AND state = 'loaded' GROUP BY job_id HAVING count(*) > 1)"
                        ).fetchone()[0] == 0


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_walk_keeps_the_state_machine_and_the_chain(tmp_path: Path, seed: int) -> None:
    journal = Journal(tmp_path / "j.db", "WALK")
    walk = Walk(journal, random.Random(seed))
    for _ in range(250):
        before = journal.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        walk.step()
        after = journal.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        assert after >= before
        check_invariants(journal.conn)
    states = {r[0] for r in journal.conn.execute("SELECT DISTINCT state FROM jobs")}
    assert {"printed", "queued"} & states  # the walk went somewhere
    journal.close()


def test_a_refused_action_changes_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db", "X")
    journal.register_source("S1", b"a.json", "S1--a.json", None, 1)
    journal.settle_read(journal.next_incoming(), [Outcome(State.REJECTED, "parse.json")])
    before = journal.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    for action in ("hold", "release", "requeue", "cancel"):
        with pytest.raises(operations.Refused, match="is rejected"):
            getattr(operations, action)(journal, "S1", "op")
    with pytest.raises(operations.Refused, match="only uncertain"):
        operations.resolve(journal, "S1", True, "op", "")
    with pytest.raises(operations.Refused, match="never printed or read"):
        operations.reprint(journal, "nope", "r", "op", None)
    assert journal.conn.execute("SELECT count(*) FROM events").fetchone()[0] == before


@pytest.mark.e2e
def test_operator_commands_act_on_a_running_daemon(tmp_path: Path) -> None:
    station = Station(tmp_path, write_config(tmp_path, extra='paper_check = "match"\n'))
    try:
        assert station.cli("paper", "load", "pdf", "--stock", "vat-special", "--code",
                           "1100243130", "--from", "00070001", "--to", "00070002"
                           ).returncode == 0
        station.start()
        drop_by_rename(station, "early.json", js(special(number="00070002")))
        drop_by_rename(station, "stray.json", js(special(number="00070009")))
        held = wait_for(lambda: len([j for j in station.jobs() if j["state"] == "held"]) == 2,
                        what="both held for paper")
        assert held
        stray = next(j["id"] for j in station.jobs() if j["invoice_key"].endswith("09"))
        cancel = subprocess.run([EXE, "--config", station.config, "cancel", "-",
                                 "--note", "wrong invoice"], input=f"{stray}\n",
                                capture_output=True, text=True)
        assert cancel.returncode == 0 and "held -> cancelled" in cancel.stdout, cancel.stderr
        # The daemon notices: the file is finished as cancelled, with its report.
        result = wait_for(lambda: station.result("stray.json"), timeout=5, what="cancelled")
        assert result["state"] == "cancelled"
        again = station.cli("cancel", stray)
        assert again.returncode == 1 and "is cancelled" in again.stderr
        drop_by_rename(station, "first.json", js(special(number="00070001")))
        wait_for(lambda: station.result("first.json") and station.result("early.json"),
                 what="both printed in sheet order")
        assert station.result("early.json")["state"] == "printed"
        station.stop()
    finally:
        station.kill()


def test_tampering_makes_journal_verify_fail_at_that_event(station: Station) -> None:
    station.start()
    for i in range(3):
        drop_by_rename(station, f"t{i}.json", js(special(number=f"0006200{i}")))
    wait_for(lambda: all(station.result(f"t{i}.json") for i in range(3)), what="printed")
    station.stop()
    ok = station.cli("journal", "--verify")
    assert ok.returncode == 0 and ok.stdout.startswith("OK: ")
    with sqlite3.connect(station.data / "journal.db") as conn:
        seq = conn.execute("SELECT seq FROM events WHERE type = 'job.printed' LIMIT 1"
                           ).fetchone()[0]
        conn.execute("UPDATE events SET payload = ? WHERE seq = ?",
                     ('{"from":"submitted","to":"printed","note":"edited"}', seq))
    broken = station.cli("journal", "--verify")
    assert broken.returncode == 1
    assert f"BROKEN: event seq {seq} does not match its hash" in broken.stdout


def test_a_change_without_a_daemon_is_refused_in_words(tmp_path: Path, monkeypatch) -> None:
    from printstation.config import load_settings
    from printstation.daemon import control

    settings = load_settings(None, cwd=tmp_path)
    (tmp_path / "printstation-data").mkdir()
    monkeypatch.setattr(control.os, "access", lambda path, mode: False)
    # An outsider: the one-line permission error naming the group (77).
    monkeypatch.setattr(control, "is_clerk", lambda settings: False)
    with pytest.raises(StationError) as info:
        control.change(settings, "queue", {"action": "hold", "ids": ["J1"], "note": ""})
    assert info.value.exit_code == 77 and "group printstation" in str(info.value)
    # A clerk: the daemon must run for changes (69), and reads still work.
    monkeypatch.setattr(control, "is_clerk", lambda settings: True)
    with pytest.raises(StationError) as info:
        control.change(settings, "queue", {"action": "hold", "ids": ["J1"], "note": ""})
    assert info.value.exit_code == 69 and "not running" in str(info.value)


def test_queue_show_and_journal_output(station: Station) -> None:
    station.start()
    drop_by_rename(station, "a.json", js(special(number="00063001")))
    drop_by_rename(station, "b.json", b"{")
    wait_for(lambda: station.result("a.json") and station.result("b.json"), what="settled")
    station.stop()
    listing = station.cli("queue", "--all").stdout.splitlines()
    header = listing[0]
    assert header.split() == ["ID", "STATE", "REASON", "INVOICE", "PRINTER", "AGE"]
    starts = [header.index(c) for c in ("STATE", "REASON", "INVOICE")]
    for row in listing[1:]:  # aligned columns: each value starts under its heading
        assert all(row[s - 1] == " " and row[s] != " " for s in starts), row
    rows = json.loads(station.cli("queue", "--all", "--json").stdout)
    assert {tuple(sorted(r)) for r in rows} == {
        ("age", "created_at", "file", "id", "invoice", "printer", "reason", "state")}
    job = station.result("a.json")["job"]
    shown = json.loads(station.cli("show", job, "--json").stdout)
    assert shown["state"] == "printed"
    assert [e["type"] for e in shown["events"]][-2:] == ["job.printed", "file.archived"]
    text = station.cli("show", job).stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  job.printed", text)
    events = json.loads(station.cli("journal", "--invoice", "1100243130-00063001",
                                    "--json").stdout)
    assert [e["type"] for e in events] == ["job.queued", "job.submitted", "job.printed"]
    as_csv = station.cli("journal", "--csv").stdout.splitlines()
    assert as_csv[0].startswith("seq,id,at,station,type") and len(as_csv) > 5
    since = station.cli("journal", "--since", "2999-01-01", "--json")
    assert json.loads(since.stdout) == []

