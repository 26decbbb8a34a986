"""The head-office dashboard in Debian's Chromium (Playwright), served by the real
`printstation receiver` process at /dashboard/ over a store filled with real hash-chained
events (tests/harness/board.py): finance logs in, sees the station with a broken chain
first, opens it and its missing invoices, finds an invoice by its buyer, downloads the CSV
and logs out, and the browser never asks anything of another origin.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from printstation.harness import board as b
from printstation.harness.browser import Visit, chromium
from printstation.harness.receiver import Receiver
from printstation.headoffice.store import open_store

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver(tmp_path: Path):
    found = Receiver(tmp_path / "ho")
    store = open_store(found.db_path)
    try:
        facts = b.fill(store, dt.datetime.now(dt.UTC))
    finally:
        store.close()
    b.set_users(tmp_path / "ho" / "users")
    found.start("--users", str(tmp_path / "ho" / "users"),
                "--secret-file", str(tmp_path / "ho" / "secret"))
    yield found, facts
    found.stop()


def test_finance_walks_through_the_dashboard(receiver, tmp_path: Path) -> None:
    ho, facts = receiver
    site = SimpleNamespace(url=ho.url + "/dashboard")
    with chromium() as browser:
        visit = Visit(browser, site, "headoffice")
        try:
            page = visit.page
            visit.log_in(b.USER, b.PASSWORD, then="/")
            visit.shot("overview")
            order = page.eval_on_selector_all("#stations tr.station",
                                              "rows => rows.map(r => r.dataset.station)")
            assert order == facts["order"]
            first = page.locator("#stations tr.station").first
            assert first.get_attribute("data-chain") == "conflict"
            assert "冲突" in first.inner_text() and "日志链断开" in first.inner_text()
            # The broken station and what it printed that head office lacks.
            with page.expect_navigation():
                first.locator("a.station-link").click()
            page.wait_for_selector("#missing")
            visit.shot("station")
            missing = page.eval_on_selector_all("#missing tr[data-invoice]",
                                                "rows => rows.map(r => r.dataset.invoice)")
            assert missing == facts["missing"][b.CONFLICT]
            # An invoice found by its buyer.
            with page.expect_navigation():
                page.click("#nav-invoices")
            page.fill("#search-buyer", "折扣")
            with page.expect_navigation():
                page.click("#search-go")
            visit.shot("search")
            found = page.eval_on_selector_all("#results tr[data-invoice]",
                                              "rows => rows.map(r => r.dataset.invoice)")
            assert found == ["1100243130-00010003"]
            assert "50%_off 折扣店" in page.inner_text("#results")
            # Finance's CSV, as the browser saves it.
            with page.expect_download() as download:
                page.click("#export-csv")
            saved = tmp_path / "invoices.csv"
            download.value.save_as(saved)
            data = saved.read_bytes()
            assert data.startswith("\ufeff站点,发票代码,发票号码".encode())
            assert "50%_off 折扣店".encode() in data and data.count(b"\r\n") == 2
            # Logging out ends it: the overview asks for a login again.
            with page.expect_navigation():
                page.click("#logout")
            page.wait_for_selector("#login-form")
            visit.shot("logged-out")
            answer = page.goto(site.url + "/")
            assert answer is not None and "/dashboard/login" in page.url
            assert visit.foreign() == [], visit.foreign()
        finally:
            visit.close()
