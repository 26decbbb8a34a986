"""The paper ledger end to end: numbered sheets in match and assign mode."""

from __future__ import annotations

import json
import sqlite3

import pytest

from printstation.harness.docs import js, special
from printstation.harness.kit import Station, drop_by_rename, wait_for, write_config

pytestmark = pytest.mark.e2e


def invoice_file(number: str) -> bytes:
    return js(special(code="1100243130", number=number))


def printed_order(station: Station) -> list[str]:
    with sqlite3.connect(station.data / "journal.db") as conn:
        return [key.split("-")[1] for (key,) in conn.execute(
            "SELECT invoice_key FROM events WHERE type = 'job.printed' ORDER BY seq")]


def paper(station: Station) -> dict:
    run = station.cli("paper", "show", "--json")
    assert run.returncode == 0, run.stderr
    (row,) = json.loads(run.stdout)
    return row


@pytest.fixture
def match_station(tmp_path) -> Station:
    st = Station(tmp_path, write_config(tmp_path, extra='paper_check = "match"\n'))
    load = st.cli("paper", "load", "pdf", "--stock", "vat-special", "--code", "1100243130",
                  "--from", "00012001", "--to", "00012010")
    assert load.returncode == 0, load.stderr
    yield st
    st.kill()


def test_match_mode_prints_in_sheet_order_and_holds_early_invoices(
        match_station: Station) -> None:
    station = match_station
    station.start()
    drop_by_rename(station, "01.json", invoice_file("00012001"))
    wait_for(lambda: printed_order(station) == ["00012001"], what="00012001")
    # 00012005 arrives before 00012002-4: it is held, saying both numbers.
    drop_by_rename(station, "05.json", invoice_file("00012005"))
    held = wait_for(lambda: [j for j in station.jobs() if j["state"] == "held"], what="held")
    assert held[0]["reason"] == "paper.mismatch"
    detail = json.loads(held[0]["errors"])[0]
    assert "1100243130-00012002" in detail["en"] and "1100243130-00012005" in detail["en"]
    assert "00012002" in detail["zh"]
    for number in ("00012002", "00012003"):
        drop_by_rename(station, f"{number}.json", invoice_file(number))
    wait_for(lambda: len(printed_order(station)) == 3, what="02 and 03")
    assert [j["state"] for j in station.jobs() if j["invoice_key"].endswith("05")] == ["held"]
    # 00012004 never comes: its sheet is spoiled, and 00012005 prints by itself.
    spoil = station.cli("paper", "spoil", "pdf", "--reason", "sheet 04 jammed")
    assert spoil.returncode == 0 and "00012004" in spoil.stdout, spoil.stderr
    wait_for(lambda: len(printed_order(station)) == 4, what="05 after the spoil")
    for number in ("00012006", "00012007", "00012008", "00012009", "00012010"):
        drop_by_rename(station, f"{number}.json", invoice_file(number))
    wait_for(lambda: len(printed_order(station)) == 9, what="06-10")
    assert printed_order(station) == ["00012001", "00012002", "00012003", "00012005",
                                      "00012006", "00012007", "00012008", "00012009", "00012010"]
    # Every sheet is accounted for: 9 used, 1 spoiled, none left.
    row = paper(station)
    assert (row["loaded"], row["used"], row["spoiled"], row["free"], row["next"]) == \
        (10, 9, 1, 0, None)
    # Voiding an invoice voids its sheet; every sheet still ends used, spoiled or voided.
    void = station.cli("void", "1100243130-00012006", "--reason", "开错抬头", "--yes")
    assert void.returncode == 0 and "sheet 1100243130-00012006 voided" in void.stdout
    row = paper(station)
    assert (row["used"], row["spoiled"], row["voided"]) == (8, 1, 1)
    with sqlite3.connect(station.data / "journal.db") as conn:
        assert conn.execute("SELECT count(*) FROM sheets WHERE state NOT IN "
                            "('used', 'spoiled', 'voided')").fetchone()[0] == 0
        assert conn.execute("SELECT paper_number FROM invoices WHERE key = ?",
                            ("1100243130-00012007",)).fetchone()[0] == "00012007"
    status = station.cli("status")
    assert "paper" in status.stdout and "LOW" in status.stdout
    station.stop()


def test_assign_mode_records_the_sheet_against_each_invoice(tmp_path) -> None:
    station = Station(tmp_path, write_config(tmp_path, extra='paper_check = "assign"\n'))
    station.start()
    drop_by_rename(station, "a.json", invoice_file("00050001"))
    wait_for(lambda: any(j["state"] == "held" for j in station.jobs()),
             what="held for want of paper")
    jobs = station.jobs()
    assert jobs[0]["state"] == "held" and jobs[0]["reason"] == "paper.mismatch"
    assert station.cli("paper", "load", "pdf", "--stock", "vat-special", "--from", "900",
                       "--to", "902").returncode == 0
    wait_for(lambda: station.result("a.json"), what="printed once paper is loaded")
    drop_by_rename(station, "b.json", invoice_file("00050002"))
    wait_for(lambda: station.result("b.json"), what="second")
    with sqlite3.connect(station.data / "journal.db") as conn:
        assigned = dict(conn.execute("SELECT number, paper_number FROM invoices"))
    assert assigned == {"00050001": "900", "00050002": "901"}
    station.stop()
    station.kill()
