"""The web console's reads (spool/console_queries.py) on a real journal on disk.

A small journal is made through the spool API, the way the daemon makes one, and every
query is checked against what was done to it. Then the journal is grown to 100,000 jobs
and each query's plan is read with EXPLAIN QUERY PLAN: each must walk an index (a few
ms however long the journal grows), never read or sort every job.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from printstation.harness.docs import special
from printstation.spool import Journal, Outcome, State, connect, operations, paper
from printstation.spool import console_queries as cq

CODE = "1100243130"
ERRORS = json.dumps([{"code": "parse.json", "field": "", "zh": "不是有效的 JSON",
                      "en": "not valid JSON"}], ensure_ascii=False)


class Ticks:
    """A clock one second further on at each reading: every change has its own time."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def good(number: str, printer: str, buyer: str = "某某公司") -> Outcome:
    doc = special(number=number, date="2026-11-20")
    doc["buyer"] = {**doc["buyer"], "name": buyer}
    return Outcome(State.QUEUED, kind="vat-special", invoice_key=f"{CODE}-{number}",
                   printer=printer, invoice_json=json.dumps(doc, ensure_ascii=False))


def bad(code: str) -> Outcome:
    return Outcome(State.REJECTED, code, errors=ERRORS)


class Made:
    """The journal below, and what was done to it."""

    def __init__(self, journal: Journal):
        self.j = journal
        self.n = 0

    def drop(self, name: str, *outcomes: Outcome) -> list[str]:
        self.n += 1
        source = f"S{self.n:03d}"
        self.j.register_source(source, name.encode(), f"{source}--{name}", None, 10)
        return self.j.settle_read(self.j.next_incoming(), list(outcomes))

    def submit(self, job: str, printer: str) -> None:
        sheet = paper.next_free(self.j.conn, printer, "vat-special")
        with self.j.transaction() as c:
            self.j.transition(job, State.SUBMITTED, cups_job_id=f"x-{job}",
                              paper_code=sheet.code if sheet else None,
                              paper_number=sheet.number if sheet else None)
            if sheet is not None:
                paper.reserve(c, sheet, "vat-special", job, self.j.now())


@pytest.fixture
def made(tmp_path: Path) -> Iterator[Made]:
    journal = Journal(tmp_path / "journal.db", "ST-1", Ticks())
    m = Made(journal)
    paper.load(journal, "p1", "vat-special", "", "00000101", "00000110", "op1")
    paper.load(journal, "p2", "vat-special", "", "00000201", "00000205", "op2")
    m.drop("a.json", good("00000001", "p1"))                                    # S001
    m.drop("b.json", good("00000002", "p2"))                                    # S002
    m.drop("bad%_1.json", bad("parse.json"))                                    # S003
    m.drop("BATCH.json", good("00000004", "p1"), good("00000005", "p1"),
           good("00000006", "p1"))                                            # S004, -2, -3
    m.drop("c.json", good("00000007", "p1", "Beta Trading 贸易"))                # S005
    m.submit("S005", "p1")
    journal.mark_printed("S005")
    m.drop("d.json", good("00000008", "p2", "北京某某科技"))                     # S006
    m.submit("S006", "p2")
    journal.mark_printed("S006")
    operations.void(journal, f"{CODE}-00000008", "wrong buyer", "op2")
    m.drop("e.json", bad("invoice.total"))                                      # S007
    m.drop("f.json", good("00000009", "p1"))                                    # S008
    operations.hold(journal, "S008", "op1")
    m.drop("g.json", good("00000010", "p2"))                                    # S009
    with journal.transaction():
        journal.transition("S009", State.FAILED, "printer.refused")
    m.drop("h.json", good("00000011", "p1"))                                    # S010
    m.submit("S010", "p1")
    with journal.transaction():
        journal.transition("S010", State.UNCERTAIN, "printer.lost_job")
    paper.spoil(journal, "p1", "vat-special", 2, "jam", "op1")
    # The oldest job changes last: the last errors go by when, not by arrival.
    operations.hold(journal, "S001", "op1")
    yield m
    journal.close()


# In the order the jobs were made (a batch's invoices right after their file's first).
MADE = ["S001", "S002", "S003", "S004", "S004-2", "S004-3", "S005", "S006", "S007", "S008",
        "S009", "S010"]


@pytest.fixture
def conn(made: Made) -> Iterator[sqlite3.Connection]:
    """Read-only, as the web console opens the journal."""
    reader = connect(made.j.path, readonly=True)
    yield reader
    reader.close()


def ids(rows: list[Any], key: str = "id") -> list[str]:
    return [r[key] for r in rows]


def walk(fetch: Any, limit: int) -> list[str]:
    """Every page, each from the last seq of the one before, joined."""
    found: list[str] = []
    before = None
    while page := fetch(before, limit):
        assert len(page) <= limit
        found += ids(page)
        before = page[-1]["seq"]
    return found


def test_state_counts_names_every_state(conn: sqlite3.Connection) -> None:
    counts = cq.state_counts(conn)
    assert set(counts) == {s.value for s in State}
    assert counts == {"incoming": 0, "queued": 4, "submitted": 0, "printed": 2, "rejected": 2,
                      "held": 2, "deferred": 0, "uncertain": 1, "failed": 1, "cancelled": 0}


def test_jobs_page_is_newest_first_and_pages_without_gaps(conn: sqlite3.Connection) -> None:
    newest = list(reversed(MADE))
    assert ids(cq.jobs_page(conn)) == newest
    for limit in (1, 3, 5, 12):
        assert walk(lambda before, n: cq.jobs_page(conn, before_seq=before, limit=n),
                    limit) == newest
    row = cq.jobs_page(conn, limit=1)[0]
    # The page never drags the invoices along (a Row iterates over values, not names).
    assert "invoice_json" not in row.keys()  # noqa: SIM118
    assert (row["state"], row["reason"], row["printer"]) == ("uncertain", "printer.lost_job",
                                                             "p1")


def test_jobs_page_filters(conn: sqlite3.Connection) -> None:
    assert ids(cq.jobs_page(conn, state="queued")) == ["S004-3", "S004-2", "S004", "S002"]
    assert ids(cq.jobs_page(conn, printer="p2")) == ["S009", "S006", "S002"]
    assert ids(cq.jobs_page(conn, printer="p1", state="held")) == ["S008", "S001"]
    assert walk(lambda before, n: cq.jobs_page(conn, printer="p1", before_seq=before,
                                               limit=n), 2) == \
        ["S010", "S008", "S005", "S004-3", "S004-2", "S004", "S001"]
    # The text is part of an invoice key, or of a file name in any case.
    assert ids(cq.jobs_page(conn, text="00000005")) == ["S004-2"]
    assert ids(cq.jobs_page(conn, text="batch")) == ["S004-3", "S004-2", "S004"]
    assert ids(cq.jobs_page(conn, text="batch", state="queued", before_seq=cq.jobs_page(
        conn, text="batch")[0]["seq"])) == ["S004-2", "S004"]
    # What a clerk types is compared, never read as a LIKE pattern.
    assert ids(cq.jobs_page(conn, text="%")) == ["S003"]
    assert ids(cq.jobs_page(conn, text="_")) == ["S003"]
    assert ids(cq.jobs_page(conn, text="a_json")) == []
    assert cq.jobs_page(conn, printer="nowhere") == []


def test_rejected_page_has_the_files_and_their_reasons(conn: sqlite3.Connection) -> None:
    rows = cq.rejected_page(conn)
    assert ids(rows, "job") == ["S007", "S003"]
    assert [r["file"] for r in rows] == ["e.json", "bad%_1.json"]
    assert [r["reason"] for r in rows] == ["invoice.total", "parse.json"]
    problem = json.loads(rows[1]["errors"])[0]
    assert problem["zh"] and problem["en"] == "not valid JSON"
    assert rows[0]["at"] > rows[1]["at"]
    assert rows[0]["file_state"] == "open"  # not finished yet: the daemon moves it
    assert ids(cq.rejected_page(conn, before=rows[0]["seq"]), "job") == ["S003"]
    assert cq.rejected_page(conn, before=rows[1]["seq"]) == []


def test_invoice_search(conn: sqlite3.Connection) -> None:
    both = cq.invoice_search(conn)
    assert ids(both, "key") == [f"{CODE}-00000008", f"{CODE}-00000007"]  # newest print first
    assert [r["state"] for r in both] == ["voided", "printed"]
    assert ids(cq.invoice_search(conn, text="00000007"), "key") == [f"{CODE}-00000007"]
    assert ids(cq.invoice_search(conn, text="beta trading"), "key") == [f"{CODE}-00000007"]
    assert ids(cq.invoice_search(conn, text="某某科技"), "key") == [f"{CODE}-00000008"]
    assert cq.invoice_search(conn, text="%") == []
    later = both[0]["printed_at"]
    assert ids(cq.invoice_search(conn, since=later), "key") == [f"{CODE}-00000008"]
    assert ids(cq.invoice_search(conn, until=later), "key") == [f"{CODE}-00000007"]
    assert cq.invoice_search(conn, text="00000007", since=later) == []
    assert len(cq.invoice_search(conn, limit=1)) == 1


def test_paper_ledger_counts_each_range(conn: sqlite3.Connection) -> None:
    p2, p1 = cq.paper_ledger(conn)
    assert (p1["printer"], p1["first"], p1["last"], p1["loaded_by"]) == \
        ("p1", "00000101", "00000110", "op1")
    # S005 printed on 101, S010 (uncertain) holds 102, two spoiled, six free.
    assert {k: p1[k] for k in ("sheets", "free", "in_printer", "used", "spoiled",
                               "voided")} == {"sheets": 10, "free": 6, "in_printer": 1,
                                              "used": 1, "spoiled": 2, "voided": 0}
    # S006 printed on 201, then voided with its invoice.
    assert {k: p2[k] for k in ("sheets", "free", "used", "voided")} == \
        {"sheets": 5, "free": 4, "used": 0, "voided": 1}
    assert [r["printer"] for r in cq.paper_ledger(conn, "p1")] == ["p1"]
    assert cq.paper_ledger(conn, "nowhere") == []
    # The ranges' counts agree with the ledger's own totals.
    totals = {r["printer"]: r for r in paper.summary(conn)}
    for entry in (p1, p2):
        for key in ("free", "in_printer", "used", "spoiled", "voided"):
            assert entry[key] == totals[entry["printer"]][key]


def test_last_errors_latest_change_first(conn: sqlite3.Connection) -> None:
    assert ids(cq.last_errors(conn)) == ["S001", "S010", "S009", "S008", "S007", "S003"]
    rows = cq.last_errors(conn, limit=3)
    assert ids(rows) == ["S001", "S010", "S009"]
    assert [r["reason"] for r in rows] == ["operator", "printer.lost_job", "printer.refused"]


def test_changed_since_follows_the_journal(made: Made, conn: sqlite3.Connection) -> None:
    seq = cq.changed_since(conn, 0)
    assert seq == made.j.last_seq() > 0
    assert cq.changed_since(conn, seq) == seq
    operations.release(made.j, "S001", "op1")
    assert cq.changed_since(conn, seq) == seq + 1


# -- 100,000 jobs --------------------------------------------------------------------------

class Traced:
    """The reader, recording each statement's query plan before running it."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.plans: list[list[str]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self.plans.append([r["detail"] for r in self.conn.execute(f"EXPLAIN QUERY PLAN {sql}",
                                                                  params)])
        return self.conn.execute(sql, params)


BIG = 100_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """A journal of BIG jobs: a file a minute, every 100th rejected, every 997th held,
    one in ten on printer p2; the printed ones with their invoices, and a paper ledger."""
    path = tmp_path_factory.mktemp("big") / "journal.db"
    journal = Journal(path, "ST-1")  # the daemon's schema, migrations and all
    for k in range(20):
        paper.load(journal, "p1" if k % 2 else "p2", "vat-special", "",
                   f"{k * 1000:08d}", f"{k * 1000 + 999:08d}", "op")
    c = journal.conn
    with journal.transaction():
        c.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO sources (id, name, spool_name, size, state, claimed_at)"
            " SELECT printf('S%06d', i), printf('invoice-%06d.json', i),"
            " printf('S%06d--invoice-%06d.json', i, i), 1000, 'archived',"
            " strftime('%Y-%m-%dT%H:%M:%S.000Z', '2026-01-01', printf('+%d minutes', i))"
            " FROM n", (BIG,))
        c.execute(
            "INSERT INTO jobs (id, source_id, source_name, source_seq, kind, invoice_key, state,"
            " reason, printer, created_at, updated_at)"
            " SELECT id, id, name, rowid, 'vat-special', printf('1100243130-%08d', rowid),"
            " CASE WHEN rowid % 100 = 0 THEN 'rejected' WHEN rowid % 997 = 0 THEN 'held'"
            " ELSE 'printed' END, CASE WHEN rowid % 100 = 0 THEN 'parse.json' END,"
            " CASE WHEN rowid % 10 = 0 THEN 'p2' ELSE 'p1' END, claimed_at, claimed_at"
            " FROM sources")
        c.execute(
            "INSERT INTO invoices (key, code, number, kind, date, buyer_name, total_amount,"
            " total_tax, total, state, printed_at, print_count, job_id)"
            " SELECT invoice_key, '1100243130', substr(invoice_key, 12), 'vat-special',"
            " '2026-01-01', printf('买方%d', rowid % 500), '100.00', '13.00', '113.00',"
            " 'printed', updated_at, 1, id FROM jobs WHERE state = 'printed'")
    journal.close()
    reader = connect(path, readonly=True)
    yield reader
    reader.close()


# Each query, and the index its plan must walk.
PLANS = {
    "counts": (lambda c: cq.state_counts(c), "COVERING INDEX jobs_state_new"),
    "page": (lambda c: cq.jobs_page(c, before_seq=50_000), "INTEGER PRIMARY KEY (rowid<?)"),
    "state": (lambda c: cq.jobs_page(c, state="printed", before_seq=50_000),
              "INDEX jobs_state_new (state=? AND rowid<?)"),
    "printer": (lambda c: cq.jobs_page(c, printer="p2"), "INDEX jobs_printer_new (printer=?"),
    "printer+state": (lambda c: cq.jobs_page(c, printer="p2", state="printed"),
                      "INDEX jobs_printer_state_new (printer=? AND state=?"),
    "text": (lambda c: cq.jobs_page(c, text="0004242"), "COVERING INDEX jobs_text"),
    "rejected": (lambda c: cq.rejected_page(c, before=50_000),
                 "INDEX jobs_state_new (state=? AND rowid<?)"),
    "invoices": (lambda c: cq.invoice_search(c), "INDEX invoices_search"),
    "invoices text": (lambda c: cq.invoice_search(c, text="买方42"), "INDEX invoices_search"),
    "invoices dates": (lambda c: cq.invoice_search(c, since="2026-02-01", until="2026-02-03"),
                       "INDEX invoices_search (printed_at>? AND printed_at<?)"),
    "ledger": (lambda c: cq.paper_ledger(c, "p1"), "COVERING INDEX sheets_range (range_id=?)"),
    "errors": (lambda c: cq.last_errors(c), "INDEX jobs_state_updated (state=?)"),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_each_query_walks_an_index(big: sqlite3.Connection, name: str) -> None:
    run, index = PLANS[name]
    traced = Traced(big)
    assert run(traced) is not None
    lines = [line for plan in traced.plans for line in plan]
    assert any(index in line for line in lines), lines
    # Never every job read from the table (its rows carry the invoices), nor sorted.
    assert not [line for line in lines if line.startswith("SCAN jobs")
                and "COVERING INDEX" not in line], lines
    assert not [line for line in lines if "TEMP B-TREE" in line and name != "errors"], lines


def test_the_big_journal_answers_right(big: sqlite3.Connection) -> None:
    counts = cq.state_counts(big)
    assert counts["rejected"] == BIG // 100
    assert counts["printed"] + counts["held"] + counts["rejected"] == BIG
    # The newest page of all, and from the middle on.
    assert ids(cq.jobs_page(big, limit=3)) == ["S100000", "S099999", "S099998"]
    assert ids(cq.jobs_page(big, before_seq=50_000, limit=2)) == ["S049999", "S049998"]
    held = walk(lambda before, n: cq.jobs_page(big, state="held", before_seq=before,
                                               limit=n), 50)
    assert len(held) == counts["held"] and held == sorted(held, reverse=True)
    assert ids(cq.jobs_page(big, text="00004242")) == ["S004242"]
    assert ids(cq.rejected_page(big, limit=2), "job") == ["S100000", "S099900"]
    assert ids(cq.invoice_search(big, text="00004243"), "key") == [f"{CODE}-00004243"]
    # Files 44,640 to 44,999 came in from 2026-02-01 00:00 for six hours.
    morning = cq.invoice_search(big, since="2026-02-01T00:00:00.000Z",
                                until="2026-02-01T06:00:00.000Z", limit=500)
    assert len(morning) == sum(1 for i in range(44_640, 45_000) if i % 100 and i % 997)
    assert morning[0]["job_id"] == "S044999" and morning[-1]["job_id"] == "S044640"
    ledger = cq.paper_ledger(big)
    assert len(ledger) == 20 and all(r["free"] == 1000 for r in ledger)
    assert cq.changed_since(big, 0) > 0
