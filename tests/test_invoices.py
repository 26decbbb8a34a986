"""Invoices as a clerk knows them: `invoices` (发票查询), an invoice number as typed for
`show`, `void` and `reprint`, `void` asking on a terminal, a voided invoice never printed
again, and `validate` reporting the duplicates the daemon would refuse."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import select
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printstation.harness.docs import js
from printstation.harness.kit import (
    EXE,
    SAMPLES,
    Station,
    drop_by_rename,
    invoice,
    wait_for,
    write_config,
)
from printstation.spool import Journal, Outcome, State, operations

pytestmark = pytest.mark.e2e  # each runs the real daemon or CLI

PRINTERS = """
[printers.front]
driver = "directory"
path = "printed"
stocks = ["vat-special"]
paper_check = "assign"

[printers.plain]
driver = "directory"
path = "printed-plain"
stocks = ["einvoice", "vat-ordinary"]
"""
A, B = "1100243130-00012006", "1100243130-00022006"
E = "26112000000012345678"  # the 数电 sample: a 20-digit number, no code


def run(station: Station, *args: str, lang: str = "C.UTF-8",
        tz: str | None = None) -> subprocess.CompletedProcess:
    """The CLI as a script runs it: no terminal on stdin, the locale and zone chosen."""
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES")}
    env.update({"LANG": lang, **({"TZ": tz} if tz else {})})
    return subprocess.run([str(EXE), "--config", str(station.config), *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def on_terminal(station: Station, args: list[str], answer: str,
                lang: str = "C.UTF-8") -> tuple[int, str]:
    """The CLI on a pseudo-terminal: wait for its question, answer it, read to the end."""
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES")}
    env["LANG"] = lang
    master, slave = os.openpty()
    proc = subprocess.Popen([str(EXE), "--config", str(station.config), *args], env=env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen, answered = b"", False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if not answered and b"[y/N]" in seen:
                os.write(master, answer.encode() + b"\n")
                answered = True
            if not select.select([master], [], [], 0.2)[0]:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the command ended, and everything it wrote was read
                break
            if not chunk:
                break
            seen += chunk
        code = proc.wait(10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert answered, seen.decode(errors="replace")
    return code, seen.decode("utf-8", errors="replace")


def found(station: Station, *args: str) -> list[dict]:
    result = run(station, "invoices", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def keys(station: Station, *args: str) -> list[str]:
    return [r["key"] for r in found(station, *args)]


def events(station: Station) -> int:
    with sqlite3.connect(station.data / "journal.db") as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def invoice_row(station: Station, key: str) -> tuple:
    with sqlite3.connect(station.data / "journal.db") as conn:
        return conn.execute("SELECT state, print_count FROM invoices WHERE key = ?",
                            (key,)).fetchone()


def other_zone(printed_at: str) -> tuple[str, dt.date, dt.date]:
    """A zone in which `printed_at` falls on another day than in UTC, and both days: a
    filter that ignored the zone would pick the wrong day."""
    moment = dt.datetime.fromisoformat(printed_at.replace("Z", "+00:00"))
    # POSIX names the offset the other way round: Etc/GMT-14 is UTC+14.
    tz, hours = ("Etc/GMT-14", 14) if moment.hour >= 12 else ("Etc/GMT+12", -12)
    local = (moment + dt.timedelta(hours=hours)).date()
    assert local != moment.date()
    return tz, local, moment.date()


@pytest.fixture
def printed(tmp_path: Path) -> Iterator[Station]:
    """A running station that printed A, B (special, assign mode: each on its numbered
    sheet, numbers ending in the same digits) and the 数电 sample E, in that order."""
    station = Station(tmp_path, write_config(tmp_path, printers=PRINTERS))
    load = run(station, "paper", "load", "front", "--stock", "vat-special", "--code",
               "1100243130", "--from", "00090001", "--to", "00090010")
    assert load.returncode == 0, load.stderr
    station.start()
    drop_by_rename(station, "a.json", js(invoice("00012006")))
    wait_for(lambda: station.result("a.json"), what="a printed")
    buyer = {**invoice()["buyer"], "name": "上海乙贸易公司", "tin": "91310115MA1K3Q7D5C"}
    drop_by_rename(station, "b.json", js(invoice("00022006", buyer=buyer)))
    wait_for(lambda: station.result("b.json"), what="b printed")
    # One after the other: they print on two printers, in an order the test must know.
    drop_by_rename(station, "e.json", (SAMPLES / "einvoice-20-digit.json").read_bytes())
    wait_for(lambda: station.result("e.json"), what="e printed")
    assert [j["state"] for j in station.jobs()] == ["printed"] * 3
    yield station
    station.kill()


def test_invoices_are_found_by_number_buyer_day_and_state(printed: Station) -> None:
    station = printed
    everything = found(station)
    assert [r["key"] for r in everything] == [A, B, E]  # in the order they printed
    a = everything[0]
    assert (a["code"], a["number"], a["kind"], a["date"], a["total"], a["state"],
            a["print_count"], a["sheet"]) == ("1100243130", "00012006", "vat-special",
                                              "2026-11-20", "1413.00", "printed", 1,
                                              "1100243130-00090001")
    assert [j["state"] for j in a["jobs"]] == ["printed"] and everything[2]["sheet"] is None
    # A number as a clerk types it: in full, without its leading zeros, CODE-NUMBER, the
    # 20-digit 数电 number; digits several numbers end with find all of them.
    for typed, expected in (("00012006", [A]), ("12006", [A]), ("1100243130-12006", [A]),
                            (A, [A]), (E, [E]), ("2006", [A, B]), ("0000000012006", []),
                            ("9999-12006", []), ("%", [])):
        assert keys(station, "--number", typed) == expected, typed
    # The buyer by a part of the name or of the taxpayer id.
    assert keys(station, "--buyer", "乙贸易") == [B]
    assert keys(station, "--buyer", "91110108ma00") == [A, E]
    # Days are the clerk's local days: in a zone where the invoices printed on another
    # day than in UTC, that local day finds them and the UTC day does not.
    tz, local, utc = other_zone(a["printed_at"])
    day = local.isoformat()
    for args, expected in ((("--since", day, "--until", day), [A, B, E]),
                           (("--until", utc.isoformat()), [])
                           if utc < local else (("--since", utc.isoformat()), []),
                           (("--since", day, "--number", "2006"), [A, B])):
        result = run(station, "invoices", "--json", *args, tz=tz)
        assert [r["key"] for r in json.loads(result.stdout)] == expected, (args, tz)
    bad = run(station, "invoices", "--since", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr
    assert run(station, "invoices", "--state", "bogus").returncode == 2
    # CSV for a spreadsheet: every field, the time local with its offset, the jobs.
    rows = list(csv.DictReader(io.StringIO(run(station, "invoices", "--csv", "--number",
                                               "12006", tz=tz).stdout)))
    assert len(rows) == 1 and rows[0]["key"] == A and rows[0]["buyer_tin"] == a["buyer_tin"]
    assert rows[0]["jobs"] == a["jobs"][0]["id"] and rows[0]["sheet"] == a["sheet"]
    shown = dt.datetime.fromisoformat(rows[0]["printed_at"])
    assert shown.utcoffset() != dt.timedelta(0) and shown.date() == local
    assert shown == dt.datetime.fromisoformat(a["printed_at"].replace("Z", "+00:00")) \
        .replace(microsecond=0)
    # The table speaks the clerk's language.
    zh = run(station, "invoices", "--number", "12006", lang="zh_CN.UTF-8").stdout
    assert "发票" in zh.splitlines()[0] and "已打印" in zh and A in zh
    en = run(station, "invoices", "--number", "12006").stdout
    assert en.splitlines()[0].startswith("INVOICE") and "printed" in en
    # Voided invoices by their state.
    assert run(station, "void", "12006", "--reason", "开错抬头", "--yes").returncode == 0
    assert keys(station, "--state", "voided") == [A]
    assert keys(station, "--state", "printed") == [B, E]


def test_show_void_and_reprint_take_a_typed_number(printed: Station) -> None:
    station = printed
    # show: an invoice with its jobs and their whole history, times local.
    shown = run(station, "show", "12006", tz="Etc/GMT-14")
    assert shown.returncode == 0, shown.stderr
    printed_at = found(station, "--number", "12006")[0]["printed_at"]
    local = (dt.datetime.fromisoformat(printed_at.replace("Z", "+00:00"))
             + dt.timedelta(hours=14)).strftime("%Y-%m-%d %H:%M:%S")
    assert A in shown.stdout and local in shown.stdout and "job.printed" in shown.stdout
    doc = json.loads(run(station, "show", E, "--json").stdout)
    assert doc["key"] == E and [e["type"] for e in doc["events"]][-2:] == \
        ["job.printed", "file.archived"]
    job = doc["jobs"][0]["id"]
    assert json.loads(run(station, "show", job, "--json").stdout)["id"] == job  # a job still
    # Several invoices end so: exit 2 naming both; none: exit 1.
    for command in (["show", "2006"], ["void", "2006", "--reason", "r", "--yes"],
                    ["reprint", "2006", "--reason", "r"]):
        result = run(station, *command)
        assert result.returncode == 2 and A in result.stderr and B in result.stderr, command
    unknown = run(station, "show", "99999")
    assert unknown.returncode == 1 and "no job or invoice 99999" in unknown.stderr
    zh = run(station, "show", "99999", lang="zh_CN.UTF-8")
    assert zh.returncode == 1 and "没有任务或发票 99999" in zh.stderr
    before = events(station)
    for command in (["void", "99999", "--reason", "r", "--yes"],
                    ["reprint", "99999", "--reason", "r"]):
        result = run(station, *command)
        assert result.returncode == 1 and "99999" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr and "Error" not in result.stderr
    # A script without --yes is refused before anything changes (exit 2).
    script = run(station, "void", "12006", "--reason", "r")
    assert script.returncode == 2 and "--yes" in script.stderr
    assert events(station) == before and invoice_row(station, A) == ("printed", 1)
    # A reprint by its number: a new job, and the invoice printed twice.
    again = run(station, "reprint", "22006", "--reason", "卡纸，重打")
    assert again.returncode == 0 and B in again.stdout, again.stderr
    wait_for(lambda: invoice_row(station, B) == ("printed", 2), what="B reprinted")
    (b,) = found(station, "--number", "22006")
    assert [j["reprint_of"] for j in b["jobs"]] == [None, B]


def test_void_asks_on_a_terminal_and_a_voided_invoice_is_not_reprinted(
        printed: Station) -> None:
    station = printed
    before = events(station)
    # No: nothing is voided (exit 1), in Chinese under a Chinese locale.
    code, screen = on_terminal(station, ["void", "12006", "--reason", "开错抬头"], "n",
                               lang="zh_CN.UTF-8")
    assert code == 1 and "作废发票 1100243130-00012006" in screen and "确认作废" in screen
    assert "上海" not in screen and "北京样例网络科技有限公司" in screen and "1413.00" in screen
    assert "未作废" in screen
    assert events(station) == before and invoice_row(station, A) == ("printed", 1)
    # Yes: the clerk saw the number, buyer, total, when it printed and its sheet.
    code, screen = on_terminal(station, ["void", "12006", "--reason", "开错抬头"], "y")
    assert code == 0, screen
    for seen in ("void (作废) invoice 1100243130-00012006?", "1413.00",
                 "sheet", "1100243130-00090001", "copies: 1"):
        assert seen in screen, (seen, screen)
    assert "voided, sheet 1100243130-00090001 voided" in screen
    assert invoice_row(station, A) == ("voided", 1)
    # Voided already: no question, the daemon's refusal (exit 1).
    again = run(station, "void", A, "--reason", "r")
    assert again.returncode == 1 and "already voided" in again.stderr
    # A voided invoice is void for the tax bureau: never printed again, nothing journaled.
    before = events(station)
    refused = run(station, "reprint", "12006", "--reason", "客户要求")
    assert refused.returncode == 1 and "cannot be printed again" in refused.stderr
    assert "invoicing software" in refused.stderr
    zh = run(station, "reprint", "12006", "--reason", "客户要求", lang="zh_CN.UTF-8")
    assert zh.returncode == 1 and "已作废，不能再打印" in zh.stderr, zh.stderr
    assert events(station) == before and invoice_row(station, A) == ("voided", 1)
    assert [j["state"] for j in station.jobs()] == ["printed"] * 3


def test_validate_reports_what_the_daemon_would_refuse_when_it_can_read_the_journal(
        printed: Station, tmp_path: Path) -> None:
    station = printed
    files = tmp_path / "check"
    files.mkdir()
    (files / "same.json").write_bytes(js(invoice("00012006")))  # a.json's very bytes
    (files / "again.json").write_text(json.dumps(invoice("00022006"), indent=4),
                                      encoding="utf-8")  # B again, other bytes
    (files / "new.json").write_bytes(js(invoice("00012007")))
    result = run(station, "validate", "--json", *(str(files / n) for n in
                                                  ("same.json", "again.json", "new.json")))
    assert result.returncode == 1, result.stderr
    same, again, new = json.loads(result.stdout)
    assert [e["code"] for e in same["errors"]] == ["file.duplicate"] and not same["valid"]
    assert [e["code"] for e in again["invoices"][0]["errors"]] == ["invoice.duplicate"]
    assert B in again["invoices"][0]["errors"][0]["en"]
    assert new["valid"] and new["errors"] == [] and new["invoices"][0]["errors"] == []
    text = run(station, "validate", str(files / "same.json")).stdout
    assert "[file.duplicate]" in text
    # A voided invoice is no duplicate (SPEC §7): its file would be taken again.
    assert run(station, "void", "22006", "--reason", "r", "--yes").returncode == 0
    assert run(station, "validate", str(files / "again.json")).returncode == 0
    # With no journal to read (another station, never run), it validates as before.
    other = Station(tmp_path / "other", write_config(tmp_path / "other"))
    alone = run(other, "validate", str(files / "same.json"), str(files / "again.json"))
    assert alone.returncode == 0 and "duplicate" not in alone.stdout, alone.stdout
    assert not (other.data / "journal.db").exists()


# -- the refusals in the journal itself ------------------------------------------------------

def _printed(journal: Journal, source_id: str, key: str) -> str:
    journal.register_source(source_id, f"{source_id}.json".encode(), f"{source_id}--x.json",
                            None, 10)
    doc = {"kind": "vat-special", "code": "K", "number": key.split("-")[1],
           "date": "2026-11-20", "buyer": {"name": "b", "tin": "t"},
           "total_amount": "1.00", "total_tax": "0.13", "total": "1.13"}
    journal.settle_read(journal.next_incoming(), [
        Outcome(State.QUEUED, kind="vat-special", invoice_key=key, printer="p",
                invoice_json=json.dumps(doc))])
    with journal.transaction():
        journal.transition(source_id, State.SUBMITTED, cups_job_id="x")
    journal.mark_printed(source_id)
    return source_id


def _count(journal: Journal) -> int:
    return journal.conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_void_waits_for_a_copy_on_its_way_and_a_voided_one_is_not_reprinted(
        journal: Journal) -> None:
    _printed(journal, "S1", "K-1")
    copy = operations.reprint(journal, "K-1", "jammed", "op", None)
    before = _count(journal)
    # The queued copy would print after the void and make the invoice printed again.
    with pytest.raises(operations.Refused, match=f"job {copy} for it is still in the queue"):
        operations.void(journal, "K-1", "wrong buyer", "op")
    assert _count(journal) == before
    operations.cancel(journal, copy, "op")
    assert operations.void(journal, "K-1", "wrong buyer", "op") == "K-1: voided"
    before = _count(journal)
    with pytest.raises(operations.Refused, match="voided; a voided invoice cannot be printed"):
        operations.reprint(journal, "K-1", "asked", "op", None)
    assert _count(journal) == before
    assert journal.conn.execute("SELECT state FROM invoices").fetchone()[0] == "voided"
