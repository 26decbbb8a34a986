"""The head-office dashboard through Flask's test client, over a real store filled by
`Store.accept` with real hash-chained events (tests/harness/board.py): the login every page
needs, CSRF, each page's content, the search and its filters, the CSV bytes, money to the
fen, missing invoices, problem stations first, Chinese and English. The queries also run
on PostgreSQL and must give the same rows.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from printstation.base import logs
from printstation.harness import board as b
from printstation.harness.kit import EXE
from printstation.headoffice.dashboard import board_queries as q
from printstation.headoffice.dashboard.board_app import create_app
from printstation.headoffice.store import Store, open_store
from printstation.spool.journal import event_hash

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    found = open_store(tmp_path / "headoffice.db")
    yield found
    found.close()


@pytest.fixture
def facts(store: Store) -> dict:
    return b.fill(store, NOW)


@pytest.fixture
def app(store: Store, facts: dict, tmp_path: Path) -> Flask:
    b.set_users(tmp_path / "users")
    return create_app(store, tmp_path / "users", tmp_path / "secret", now=lambda: NOW)


def token(client: FlaskClient, path: str = "/login") -> str:
    return TOKEN.search(client.get(path).text).group(1)


def log_in(client: FlaskClient, password: str = b.PASSWORD, **environ: str):
    return client.post("/login", data={"user": b.USER, "password": password,
                                       "csrf": token(client), "next": "/"},
                       environ_base=environ)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    found = app.test_client()
    assert log_in(found).status_code == 303
    return found


def rows_of(html: str, attr: str = "data-station") -> list[str]:
    import html as markup

    return [markup.unescape(v) for v in re.findall(rf'<tr[^>]* {attr}="([^"]*)"', html)]


# -- logins ---------------------------------------------------------------------------

def test_every_page_needs_a_login(app: Flask) -> None:
    visitor = app.test_client()
    for path in ("/", f"/stations/{b.OK}", "/invoices?buyer=x", "/invoices.csv", "/daily",
                 "/daily.csv"):
        answer = visitor.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["Location"].startswith("/login?next="), path
    assert visitor.get("/static/board.css").status_code == 200
    assert "finance.wang" not in visitor.get("/login").text


def test_login_csrf_wrong_password_and_logout(app: Flask) -> None:
    visitor = app.test_client()
    # No token, or a made-up one: refused before the password is looked at.
    assert visitor.post("/login", data={"user": b.USER, "password": b.PASSWORD}
                        ).status_code == 403
    assert visitor.post("/login", data={"user": b.USER, "password": b.PASSWORD,
                                        "csrf": "f" * 64}).status_code == 403
    assert log_in(visitor, password="wrong one").status_code == 401
    answer = visitor.post("/login", data={"user": b.USER, "password": b.PASSWORD,
                                          "csrf": token(visitor),
                                          "next": f"/stations/{b.OK}"})
    assert answer.status_code == 303 and answer.headers["Location"] == f"/stations/{b.OK}"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert visitor.get("/").status_code == 200
    # Another site as `next` goes to the overview instead.
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        again = app.test_client()
        answer = again.post("/login", data={"user": b.USER, "password": b.PASSWORD,
                                            "csrf": token(again), "next": target})
        assert answer.headers["Location"] == "/", target
    page = visitor.get("/").text
    assert visitor.post("/logout").status_code == 403  # no token
    assert visitor.post("/logout", data={"csrf": TOKEN.search(page).group(1)}
                        ).status_code == 303
    assert visitor.get("/").status_code == 303


def test_wrong_passwords_are_slowed(app: Flask) -> None:
    visitor = app.test_client()
    answers = [log_in(visitor, password="wrong").status_code for _ in range(6)]
    assert answers == [401] * 5 + [429]


def test_https_cookie_is_secure_and_headers_protect(app: Flask) -> None:
    secure = app.test_client()
    page = secure.get("/login", base_url="https://ho.example")
    answer = secure.post("/login", base_url="https://ho.example",
                         data={"user": b.USER, "password": b.PASSWORD,
                               "csrf": TOKEN.search(page.text).group(1), "next": "/"})
    assert answer.status_code == 303 and "Secure" in answer.headers["Set-Cookie"]
    for path in ("/", "/login", "/nope", "/invoices.csv"):
        headers = secure.get(path, base_url="https://ho.example").headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert "script-src 'self'" in headers["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path


def test_the_secret_file_is_made_private(app: Flask, tmp_path: Path) -> None:
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600


# -- pages ----------------------------------------------------------------------------

def test_overview_lists_problem_stations_first_with_totals(client: FlaskClient,
                                                           facts: dict) -> None:
    page = client.get("/").text
    assert rows_of(page) == facts["order"]
    assert 'id="total-stations">5<' in page and 'id="total-problems">3<' in page
    # Today: OK 100.10 + 200.20 + 0.05 (999.99 voided, so not in the total), CONFLICT
    # 10.00 + 20.00, HOSTILE 5.00.
    assert 'id="total-amount">335.35<' in page and 'id="total-printed">7<' in page
    assert 'id="total-pending">12<' in page  # CONFLICT 5 - 3, BACKLOG 11 - 1
    assert "冲突：序号 2" in page and "日志链断开" in page
    assert "超过 1 小时未联系" in page and "积压超过 1 小时" in page
    assert "10 个事件，最早 2 小时前" in page and "90%" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


def test_overview_in_english(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).text
    assert "conflict at seq 2" in page and "no contact for over 1 h" in page
    assert "10 events, oldest 2 h ago" in page and 'lang="en"' in page
    # The switch keeps the choice over the browser's.
    client.get("/lang/zh?next=/")
    assert "冲突：序号 2" in client.get("/", headers={"Accept-Language": "en"}).text


def test_station_page_shows_missing_invoices_and_days(client: FlaskClient,
                                                       facts: dict) -> None:
    page = client.get(f"/stations/{b.CONFLICT}").text
    assert rows_of(page, "data-invoice")[:1] == facts["missing"][b.CONFLICT]
    missing = page.split('id="missing"')[1].split("</table>")[0]
    assert "00020003" in missing and "30.00" in missing and "00020002" not in missing
    days = page.split('id="days"')[1].split("</table>")[0]
    assert f'data-day="{facts["today"]}"' in days and "30.00" in days
    ok = client.get(f"/stations/{b.OK}").text
    assert 'id="missing-none"' in ok
    days = ok.split('id="days"')[1].split("</table>")[0]
    assert rows_of(days, "data-day") == [facts["today"], facts["yesterday"]]
    assert "300.35" in days and "50.00" in days
    assert client.get("/stations/NOPE").status_code == 404


def test_station_ids_with_sql_and_markup_are_data(client: FlaskClient, store: Store) -> None:
    page = client.get(f"/stations/{b.HOSTILE}")
    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;alert(&#39;buyer&#39;)" in page.text
    assert store.read("SELECT COUNT(*) AS n FROM invoices")[0]["n"] == 9


def test_search_filters(client: FlaskClient, facts: dict) -> None:
    def keys(query: str) -> list[str]:
        answer = client.get("/invoices?" + query)
        assert answer.status_code == 200, query
        return sorted(rows_of(answer.text, "data-invoice"))

    assert keys("number=00010002") == ["1100243130-00010002"]
    assert keys("number=1100243130-00020001") == ["1100243130-00020001"]
    # LIKE wildcards typed are characters: only the buyer named with them matches.
    assert keys("buyer=50%25_") == ["1100243130-00010003"]
    assert keys("buyer=%25") == ["1100243130-00010003"]
    assert keys("buyer=折扣") == ["1100243130-00010003"]
    assert len(keys("buyer=91110105MA00000001")) == 9
    assert keys(f"station={b.SILENT}") == ["1100243130-00030001"]
    assert keys("station=x%27%3B%20DROP%20TABLE%20invoices%3B--%3Cscript%3Ealert(1)"
                "%3C%2Fscript%3E") == ["'; ---00050001"]
    assert keys("state=voided") == ["1100243130-00010004"]
    assert keys(f"since={facts['yesterday']}&until={facts['yesterday']}") == \
        ["1100243130-00009999", "1100243130-00030001"]
    assert keys("buyer=' OR 1=1 --") == []
    assert client.get("/invoices?since=2024-13-01").status_code == 400
    assert client.get("/invoices?since=20240101").status_code == 400
    assert client.get("/invoices?state=x").status_code == 400


def test_keyset_pages_cover_every_invoice_once(store: Store, facts: dict) -> None:
    everything = {r["invoice_key"] for r in q.search_page(store, q.Search(), limit=100)}
    seen: list[str] = []
    after = None
    while True:
        page = q.search_page(store, q.Search(), after, limit=3)
        seen += [r["invoice_key"] for r in page]
        if len(page) < 3:
            break
        after = (page[-1]["day"], page[-1]["station"], page[-1]["invoice_key"])
    assert sorted(seen) == sorted(everything) and len(seen) == len(everything) == 9


def test_invoice_csv_bytes(client: FlaskClient, facts: dict) -> None:
    answer = client.get("/invoices.csv?number=00010002")
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in answer.headers["Content-Disposition"]
    day = facts["today"]
    # Printed a second before NOW (harness `fill`), shown in China time.
    at = (NOW - dt.timedelta(seconds=1)).astimezone(b.CHINA).strftime("%Y-%m-%d %H:%M:%S")
    expected = (
        "\ufeff站点,发票代码,发票号码,种类,开票日期,购买方,购买方税号,金额,状态,打印次数,"
        "打印时间,作废时间,任务,发票\r\n"
        f"BJ-CY-001,1100243130,00010002,vat-special,{day},"
        "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"点我\"\")\",91110105MA00000001,"
        f"200.20,已打印,1,{at},,J00010002,1100243130-00010002\r\n")
    assert answer.data == expected.encode("utf-8")
    english = client.get("/invoices.csv?number=00010002",
                         headers={"Accept-Language": "en"}).data
    assert english.startswith("\ufeffStation,Code,Number,".encode())
    assert b",printed," in english


def test_daily_page_and_csv(client: FlaskClient, facts: dict) -> None:
    page = client.get(f"/daily?station={b.OK}").text
    assert rows_of(page, "data-day") == [facts["today"], facts["yesterday"]]
    answer = client.get(f"/daily.csv?station={b.OK}&since={facts['yesterday']}")
    assert answer.data == (
        "\ufeff日期,站点,打印张数,作废,金额,无金额\r\n"
        f"{facts['today']},BJ-CY-001,4,1,300.35,0\r\n"
        f"{facts['yesterday']},BJ-CY-001,1,0,50.00,0\r\n").encode()


def test_the_dashboard_works_under_its_mount(app: Flask) -> None:
    # As the receiver mounts it: SCRIPT_NAME /dashboard, paths below it.
    mounted = app.test_client()
    base = "http://ho.example/dashboard"
    first = mounted.get("/", base_url=base)
    assert first.status_code == 303
    assert first.headers["Location"].startswith("/dashboard/login?next=")
    page = mounted.get("/login", base_url=base).text
    assert 'action="/dashboard/login"' in page and 'href="/dashboard/static/board.css"' in page
    answer = mounted.post("/login", base_url=base, data={
        "user": b.USER, "password": b.PASSWORD, "csrf": TOKEN.search(page).group(1),
        "next": f"/stations/{b.OK}"})
    assert answer.headers["Location"] == f"/dashboard/stations/{b.OK}"
    page = mounted.get("/", base_url=base).text
    assert f'href="/dashboard/stations/{b.OK}"' in page and 'href="/dashboard/daily"' in page


def test_the_overview_query_uses_the_day_index(store: Store, facts: dict) -> None:
    plan = " ".join(str(r) for r in store.read("EXPLAIN QUERY PLAN " + q.STATIONS,
                                               (facts["today"],)))
    assert "invoices_day" in plan or "invoices_station_day" in plan, plan


# -- PostgreSQL -----------------------------------------------------------------------

@pytest.mark.e2e
def test_queries_give_the_same_rows_on_postgresql(pg, store: Store, facts: dict) -> None:
    other = open_store(pg.new_database())
    try:
        b.fill(other, NOW)

        def same(rows: list[dict]) -> list[dict]:
            drop = ("report", "report_at", "last_contact", "first_contact", "chain_error_at")
            return [{k: v for k, v in r.items() if k not in drop} for r in rows]

        assert same(q.stations(other, facts["today"])) == same(q.stations(store, facts["today"]))
        for search in (q.Search(), q.Search(buyer="50%_"), q.Search(station=b.HOSTILE),
                       q.Search(state="voided"), q.Search(number="1100243130-00020001")):
            assert q.search_page(other, search) == q.search_page(store, search), search
            assert list(q.search_rows(other, search)) == list(q.search_rows(store, search))
        assert q.daily(other, facts["yesterday"], facts["today"]) == \
            q.daily(store, facts["yesterday"], facts["today"])
        row = q.station(other, b.CONFLICT, facts["today"])
        assert [m["invoice_key"] for m in q.missing_invoices(other, row)] == \
            facts["missing"][b.CONFLICT]
        assert q.station_days(other, b.OK, facts["yesterday"]) == \
            q.station_days(store, b.OK, facts["yesterday"])
        plan = " ".join(str(r) for r in other.read("EXPLAIN " + q.STATIONS, (facts["today"],)))
        assert "invoices" in plan
    finally:
        other.close()


# -- red team (issue 18): odd data stored before the receiver refused it ----------------

def test_one_stations_huge_amounts_cannot_break_the_sums(client: FlaskClient, store: Store,
                                                         facts: dict, monkeypatch) -> None:
    # 9,300 invoices of 9,999,999,999,999.99 yuan, as stored before the ceiling came down
    # (total_fen up to 10**15): their sum is past 64 bits, which SQLite's SUM refuses.
    with sqlite3.connect(store.path) as conn:  # type: ignore[attr-defined]
        conn.executemany(
            "INSERT INTO invoices (station, invoice_key, total, total_fen, printed_at, day,"
            " print_count, state) VALUES (?, ?, '9999999999999.99', 999999999999999, ?, ?,"
            " 1, 'printed')", [(b.OK, f"BIG-{n}", NOW.isoformat(), facts["today"])
                               for n in range(9300)])
    pages = ("/", "/daily", "/daily.csv", f"/stations/{b.OK}", f"/stations/{b.SILENT}")
    assert [client.get(path).status_code for path in pages] == [200] * 5
    # Past the ceiling they count as invoices without an amount; the rest still add up.
    assert f"{facts['today']},BJ-CY-001,9304,1,300.35,9300" in client.get("/daily.csv").text
    # Were the ceiling not there, the overflow shows a marker instead of a 500.
    monkeypatch.setattr(q, "MAX_FEN", 2**63 - 1)
    answers = [client.get(path) for path in pages]
    assert [(a.status_code, "金额过大" in a.text) for a in answers] == [(200, True)] * 4 + [
        (200, False)]  # the silent station printed nothing today: nothing to add up
    assert f"{facts['today']},BJ-CY-001,9304,1,金额过大，无法合计,0" in \
        client.get("/daily.csv").text


def test_a_time_past_year_9999_is_shown_as_stored(client: FlaskClient, store: Store) -> None:
    odd = b.Chain("T2")
    odd.printed("00060001", "6.00", NOW)
    odd.voided("00060001", dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
    store.accept("T2", odd.events)
    assert client.get("/stations/T2").status_code == 200  # and the CSV is whole:
    assert client.get("/invoices.csv?station=T2").text.endswith(
        ",9999-12-31T23:59:59.000Z,J00060001,1100243130-00060001\r\n")


def test_the_more_link_goes_past_invoices_without_a_day(client: FlaskClient,
                                                         store: Store) -> None:
    odd = b.Chain("T3")
    for n in range(60):
        odd.printed(f"{n:08d}", "1.00", NOW)
    # Their time is not ISO-8601, so they have no day (the hashes made anew to match).
    prev = odd.events[0]["prev_hash"]
    for event in odd.events:
        event["at"], event["prev_hash"] = "noon", prev
        prev = event["hash"] = event_hash(prev, {k: event[k] for k in b.BODY})
    store.accept("T3", odd.events)
    seen: list[str] = []
    path: str | None = "/invoices"
    while path and len(seen) < 500:  # a pager that loops would not end by itself
        page = client.get(path).text
        seen += rows_of(page, "data-invoice")
        found = re.search(r'id="page-more" href="([^"]+)"', page)
        path = found and found.group(1).replace("&amp;", "&")
    assert path is None and len(seen) == len(set(seen)) == 60 + 9


def test_a_failed_login_logs_only_a_known_name(app: Flask, caplog, monkeypatch) -> None:
    monkeypatch.setattr(logs.log, "propagate", True)  # off once logs.setup has run
    caplog.set_level("WARNING", logger="printstation")
    visitor = app.test_client()
    # A password typed in the name field is not logged; a login's name is.
    for name in ("MySecret.Pass1", b.USER):
        visitor.post("/login", data={"user": name, "password": "wrong one",
                                     "csrf": token(visitor)})
    failed = {str(r.fields) for r in caplog.records if "login_failed" in r.getMessage()}
    assert len(failed) == 2 and not any("MySecret" in f for f in failed)
    assert any("'(invalid)'" in f for f in failed) and any(b.USER in f for f in failed)


def test_receiver_passwd_keeps_what_it_finds_and_names_the_dashboard(tmp_path: Path) -> None:
    users = tmp_path / "receiver-users"

    def passwd(name: str) -> None:
        subprocess.run([str(EXE), "receiver", "passwd", name, "--users", str(users)],
                       input="a good pass 1\n", text=True, check=True, timeout=60)

    passwd("wang.fang")
    assert "head-office dashboard" in users.read_text() and "console" not in users.read_text()
    assert users.stat().st_mode & 0o777 == 0o640
    if os.geteuid() != 0:
        pytest.skip("giving the file to another owner and group needs root")
    # As IT does after the first passwd (`chgrp printstation-receiver`): kept by the next.
    os.chown(users, 65534, 1)
    users.chmod(0o660)
    passwd("li.na")
    assert (users.stat().st_uid, users.stat().st_gid, users.stat().st_mode & 0o777) == (
        65534, 1, 0o660)
    assert {line.split(":")[0] for line in users.read_text().splitlines()
            if not line.startswith("#")} == {"wang.fang", "li.na"}
