"""Head office's storage on both backends, without HTTP: what a batch stores, what it
derives, and that concurrent posts of one station neither duplicate nor reorder events."""

from __future__ import annotations

import json
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from printstation.headoffice import derive, store_schema
from printstation.headoffice.store import Store, Unstorable, open_store
from printstation.spool.journal import GENESIS, event_hash

AT = "2026-11-28T17:30:00.000Z"  # 01:30 on 29 November in China


def chain(count: int, station: str = "ST-1", first: int = 1, prev: str = GENESIS,
          make=None, at: str = AT) -> list[dict]:
    """`count` linked events from seq `first`, at `at`; `make(seq)` gives (type,
    invoice_key, payload), by default a printed invoice per event."""
    events = []
    for seq in range(first, first + count):
        kind, key, payload = (make or printed_invoice)(seq)
        body = {"seq": seq, "id": f"e{seq}", "at": at, "station": station, "type": kind,
                "job_id": f"J{seq}", "invoice_key": key, "payload": payload}
        digest = event_hash(prev, body)
        events.append({**body, "prev_hash": prev, "hash": digest})
        prev = digest
    return events


def printed_invoice(seq: int) -> tuple[str, str, dict]:
    return "job.printed", f"044001900111-{seq:08d}", {
        "total": "0.10", "invoice": {"code": "044001900111", "number": f"{seq:08d}",
                                     "kind": "vat_normal", "date": "2026-11-28",
                                     "buyer_name": "某某公司", "buyer_tin": "91440300X"}}


def more(events: list[dict], count: int, make=None) -> list[dict]:
    last = events[-1]
    return chain(count, last["station"], last["seq"] + 1, last["hash"], make)


@pytest.fixture
def store(tmp_path: Path, headoffice_db: str | None):
    s = open_store(headoffice_db or tmp_path / "ho.db")
    yield s
    s.close()


def held(store: Store, station: str = "ST-1") -> list[dict]:
    return store.read("SELECT seq, hash, prev_hash FROM events WHERE station = ?"
                      " ORDER BY seq", (station,))


def assert_chain(store: Store, station: str, count: int) -> None:
    rows = held(store, station)
    assert [r["seq"] for r in rows] == list(range(1, count + 1))
    prev = GENESIS
    for r in rows:
        assert r["prev_hash"] == prev
        prev = r["hash"]


# -- derive, pure ---------------------------------------------------------------------------

@pytest.mark.parametrize(("total", "fen"), [
    ("0.1", 10), ("0.2", 20), ("1.00", 100), ("-12.34", -1234), ("1e2", 10000),
    ("1.005", None), ("abc", None), ("NaN", None), ("Infinity", None), ("", None),
    (None, None), (1.5, None), ("9" * 41, None), ("1e20", None),
    # The ceiling: 1,000,000,000.00 yuan is an amount, a fen more is not.
    ("1000000000.00", 10**11), ("-1000000000", -10**11), ("1000000000.01", None),
    ("9999999999999.99", None)])
def test_amounts_are_exact_fen_or_nothing(total: object, fen: int | None) -> None:
    assert derive.amount_fen(total) == fen


def test_fen_add_up_exactly() -> None:
    assert derive.amount_fen("0.1") + derive.amount_fen("0.2") == derive.amount_fen("0.3")
    assert Decimal(derive.amount_fen("0.3")) / 100 == Decimal("0.3")


def test_fold_keeps_the_order_of_prints_and_voids() -> None:
    events = chain(1) + chain(3, first=2, make=lambda seq: (
        ("invoice.voided", "044001900111-00000001", {}) if seq == 2 else
        ("job.printed", "044001900111-00000001", {"total": "5.00"}) if seq == 3 else
        ("invoice.voided", "X-9", {})))
    changes = {c.invoice_key: c for c in derive.fold("ST-1", events)}
    again = changes["044001900111-00000001"]
    assert (again.prints, again.state, again.voided_at, again.total_fen) == (2, "printed",
                                                                           None, 500)
    assert again.day == "2026-11-29" and again.seq == 3
    assert (changes["X-9"].prints, changes["X-9"].state) == (0, "voided")


def test_a_time_past_year_9999_in_china_has_no_day() -> None:
    assert derive.china_day("9999-12-31T23:59:59Z") is None
    assert derive.china_day("9999-12-31T15:59:59Z") == "9999-12-31"


def test_legacy_events_give_code_and_number_from_the_key() -> None:
    old = chain(2, make=lambda seq: ("job.printed", "044001900111-00000007" if seq == 1
                                     else "24442000000001234567", {"total": "3.00"}))
    first, second = derive.fold("ST-1", old)
    assert (first.code, first.number, first.buyer_name) == ("044001900111", "00000007", None)
    assert (second.code, second.number) == (None, "24442000000001234567")


# -- accept -------------------------------------------------------------------------------

def test_a_batch_sent_again_is_counted_not_stored_twice(store: Store) -> None:
    events = chain(10)
    assert store.accept("ST-1", events[:4]).acked_through == 4
    again = store.accept("ST-1", events[:6])
    assert (again.acked_through, again.stored, again.duplicates) == (6, 2, 4)
    assert store.station("ST-1") == (6, events[5]["hash"])
    assert store.read("SELECT duplicates FROM stations")[0]["duplicates"] == 4
    assert_chain(store, "ST-1", 6)


def test_unknown_station_is_at_genesis(store: Store) -> None:
    assert store.station("NOBODY") == (0, GENESIS)


def test_past_a_gap_nothing_is_stored(store: Store) -> None:
    events = chain(10)
    store.accept("ST-1", events[:3])
    result = store.accept("ST-1", events[5:])
    assert (result.acked_through, result.stored, result.gap_at) == (3, 0, 4)
    assert_chain(store, "ST-1", 3)


def test_conflicts_by_hash_and_by_prev_hash(store: Store) -> None:
    events = chain(5)
    store.accept("ST-1", events)
    forged = chain(3, first=4, prev=events[2]["hash"], make=lambda s: ("job.cancelled",
                                                                      None, {}))
    result = store.accept("ST-1", forged, report={"pending": 3})
    assert (result.conflict, result.acked_through, result.stored) == (4, 5, 0)
    row = store.read("SELECT * FROM stations WHERE station = ?", ("ST-1",))[0]
    assert row["chain_status"] == "conflict" and row["chain_seq"] == 4
    assert json.loads(row["report"]) == {"pending": 3} and row["report_at"]
    unlinked = chain(1, first=6, prev="f" * 64)
    assert store.accept("ST-1", unlinked).conflict == 6
    assert_chain(store, "ST-1", 5)
    # A later post that stores events puts the chain back to ok.
    store.accept("ST-1", more(events, 1))
    row = store.read("SELECT chain_status, chain_seq FROM stations")[0]
    assert row == {"chain_status": "ok", "chain_seq": None}


def test_refusals_and_touch_are_recorded(store: Store) -> None:
    store.record_refusal("ST-2", "bad_hash", 7, "hash does not match")
    row = store.read("SELECT * FROM stations WHERE station = ?", ("ST-2",))[0]
    assert (row["chain_status"], row["chain_seq"], row["acked_through"]) == ("bad_hash", 7, 0)
    assert row["last_contact"] and row["chain_error_at"]
    store.touch("ST-3", {"pending": 0, "invoices": []})
    row = store.read("SELECT * FROM stations WHERE station = ?", ("ST-3",))[0]
    assert row["last_contact"] and json.loads(row["report"])["pending"] == 0
    with pytest.raises(ValueError, match="refusal kind"):
        store.record_refusal("ST-2", "whatever", None, "")


def test_invoices_are_derived_printed_reprinted_voided(store: Store) -> None:
    events = chain(3)
    store.accept("ST-1", events)
    key = "044001900111-00000002"
    events += more(events, 2, make=lambda seq: ("job.printed", key, {"total": "0.20"})
                   if seq == 4 else ("invoice.voided", "044001900111-00000001", {}))
    store.accept("ST-1", events[3:])
    rows = {r["invoice_key"]: r for r in store.read(
        "SELECT * FROM invoices WHERE station = ? ORDER BY invoice_key", ("ST-1",))}
    assert rows[key]["print_count"] == 2 and rows[key]["total_fen"] == 20
    assert rows[key]["seq"] == 4 and rows[key]["buyer_name"] == "某某公司"
    one = rows["044001900111-00000001"]
    assert (one["state"], one["voided_at"], one["print_count"]) == ("voided", AT, 1)
    assert one["day"] == "2026-11-29" and one["printed_at"] == AT
    total = store.read("SELECT sum(total_fen) AS fen FROM invoices WHERE day = ?",
                       ("2026-11-29",))[0]["fen"]
    assert total == 10 + 20 + 10
    # Duplicates derive nothing.
    store.accept("ST-1", events)
    assert store.read("SELECT print_count FROM invoices WHERE invoice_key = ?",
                      (key,))[0]["print_count"] == 2


def test_read_and_stream_take_question_mark_params(store: Store) -> None:
    store.accept("ST-1", chain(25))
    rows = store.read("SELECT number FROM invoices WHERE number LIKE ? AND station = ?"
                      " ORDER BY number", ("%1_", "ST-1"))
    assert [r["number"] for r in rows] == [f"{n:08d}" for n in range(10, 20)]
    streamed = list(store.stream("SELECT seq FROM invoices WHERE seq > ? ORDER BY seq",
                                 (5,), size=7))
    assert [r["seq"] for r in streamed] == list(range(6, 26))
    with pytest.raises(Exception):  # noqa: B017 - either backend's own error
        store.read("DELETE FROM events")
    assert len(held(store)) == 25


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_posts_of_one_station_store_each_event_once_in_order(
        store: Store, threads: int) -> None:
    """Every thread posts the same 400 events in overlapping batches of varied size at
    once: whatever the interleaving, each event is stored once, in order, linked."""
    events = chain(400)
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    stored: list[int] = []

    def post(n: int) -> None:
        try:
            barrier.wait()
            # Some threads skip a few events after each batch: their next post lands
            # past a gap unless another thread filled it, and resumes from the answer.
            size, skip, start = 37 + 11 * n, (n % 3) * 4, 0
            while start < len(events):
                result = store.accept("ST-1", events[start:start + size])
                assert result.conflict is None, result
                stored.append(result.stored)
                start = result.acked_through if result.gap_at else start + size + skip
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=post, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not errors, errors
    assert sum(stored) == 400
    assert_chain(store, "ST-1", 400)
    assert store.read("SELECT count(*) AS n, sum(print_count) AS p FROM invoices") == [
        {"n": 400, "p": 400}]


def test_stations_post_side_by_side(store: Store) -> None:
    names = [f"ST-{n}" for n in range(6)]

    def post(name: str) -> None:
        events = chain(300, station=name)
        for start in range(0, 300, 50):
            store.accept(name, events[start:start + 50])

    workers = [threading.Thread(target=post, args=(n,)) for n in names]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    for name in names:
        assert_chain(store, name, 300)


@pytest.mark.parametrize("station", ["x'; DROP TABLE events; --", 'a"b', "名字 %s ?",
                                     "a\\b%%"])
def test_sql_metacharacters_are_stored_as_data(store: Store, station: str) -> None:
    weird = "'); DELETE FROM invoices; -- %s ? :name"
    events = chain(2, station=station, make=lambda seq: (
        "job.printed", f"{weird}-{seq}", {"total": "1.00", "invoice": {
            "number": weird, "buyer_name": weird}}))
    assert store.accept(station, events).stored == 2
    assert store.station(station) == (2, events[-1]["hash"])
    rows = store.read("SELECT * FROM invoices WHERE station = ? ORDER BY seq", (station,))
    assert [r["number"] for r in rows] == [weird, weird]
    assert [r["invoice_key"] for r in rows] == [f"{weird}-1", f"{weird}-2"]
    assert store.read("SELECT count(*) AS n FROM events")[0]["n"] == 2


def test_a_nul_character_is_refused_by_both_backends(store: Store) -> None:
    events = chain(1, make=lambda seq: ("job.printed", "A\x00B", {"total": "1"}))
    with pytest.raises(Unstorable):
        store.accept("ST-1", events)
    assert store.station("ST-1") == (0, GENESIS)


def test_the_first_receivers_file_migrates(tmp_path: Path) -> None:
    """A head-office file written by the first receiver (stations and events only)."""
    from printstation.headoffice import store_schema as schema

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(schema.V1.format(**schema.DIALECTS["sqlite"]))
    events = chain(3) + chain(1, first=4, prev=chain(3)[-1]["hash"], make=lambda seq: (
        "invoice.voided", "044001900111-00000002", {}))
    old.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
        ("ST-1", e["seq"], e["id"], e["at"], e["type"], e["job_id"], e["invoice_key"],
         json.dumps({"total": "2.50"}, ensure_ascii=False), e["prev_hash"], e["hash"],
         AT) for e in events])
    old.execute("INSERT INTO stations VALUES ('ST-1', 4, ?, 1, ?)", (events[-1]["hash"], AT))
    old.commit()
    old.close()
    store = open_store(path)
    try:
        assert store.station("ST-1") == (4, events[-1]["hash"])
        rows = store.read("SELECT * FROM invoices ORDER BY invoice_key")
        assert [(r["code"], r["number"], r["state"], r["total_fen"]) for r in rows] == [
            ("044001900111", "00000001", "printed", 250),
            ("044001900111", "00000002", "voided", 250),
            ("044001900111", "00000003", "printed", 250)]
        row = store.read("SELECT * FROM stations")[0]
        assert row["chain_status"] == "ok" and row["last_contact"] == AT
        assert store.read("SELECT max(version) AS v FROM schema_version")[0]["v"] == \
            store_schema.LATEST == 3
        assert store.accept("ST-1", more(events, 1)).acked_through == 5
    finally:
        store.close()
    # Opening again runs nothing more.
    open_store(path).close()


def test_two_stores_on_one_sqlite_file_take_turns(tmp_path: Path) -> None:
    """As two receiver processes on one file: separate connections, separate locks; the
    file's own lock (BEGIN IMMEDIATE, busy timeout) keeps them from failing or mixing."""
    stores = [open_store(tmp_path / "ho.db") for _ in range(2)]
    events = chain(300)
    errors: list[BaseException] = []

    def post(store: Store, size: int) -> None:
        try:
            for start in range(0, 300, size):
                assert store.accept("ST-1", events[start:start + size]).conflict is None
        except BaseException as exc:
            errors.append(exc)

    try:
        workers = [threading.Thread(target=post, args=(s, size))
                   for s, size in zip(stores, (20, 30), strict=True)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        assert not errors, errors
        assert_chain(stores[1], "ST-1", 300)
    finally:
        for s in stores:
            s.close()


# -- what the dashboard reads of odd invoices (red team, issue 18) -------------------------

def test_a_total_past_the_ceiling_keeps_its_text_without_fen(store: Store) -> None:
    # 9,000 of these once overflowed SQLite's SUM on every dashboard page.
    events = chain(2, make=lambda seq: ("job.printed", f"K-{seq}", {
        "total": "9999999999999.99" if seq == 1 else "1000000000.00"}))
    store.accept("ST-1", events)
    rows = store.read("SELECT total, total_fen FROM invoices ORDER BY seq")
    assert [(r["total"], r["total_fen"]) for r in rows] == [
        ("9999999999999.99", None), ("1000000000.00", 10**11)]


def test_search_pages_go_past_invoices_without_a_day(store: Store) -> None:
    from printstation.headoffice.dashboard import board_queries as q

    # Station A: 7 prints whose time is not ISO-8601 (no day), then 2 with one;
    # station B (sorting before A) has 3 with a day. On PostgreSQL NULLs would sort first.
    odd = chain(7, "A", at="yesterday noon")
    store.accept("A", odd)
    store.accept("A", chain(2, "A", first=8, prev=odd[-1]["hash"]))
    store.accept("B", chain(3, "B"))
    assert len(store.read("SELECT day FROM invoices WHERE day IS NULL")) == 7
    seen: list[tuple[str, str]] = []
    after = None
    for _ in range(10):
        page = q.search_page(store, q.Search(), after, limit=3)
        seen += [(r["station"], r["invoice_key"]) for r in page]
        if len(page) < 3:
            break
        after = (page[-1]["day"] or "", page[-1]["station"], page[-1]["invoice_key"])
    assert len(seen) == len(set(seen)) == 12
    # Rows with a day first (newest day, then station descending), those without last,
    # the same on both backends; the CSV's order is the reverse.
    assert [s for s, _ in seen[:5]] == ["B", "B", "B", "A", "A"]
    assert {s for s, _ in seen[5:]} == {"A"}
    streamed = [(r["station"], r["invoice_key"]) for r in q.search_rows(store, q.Search())]
    assert streamed == seen[::-1]
