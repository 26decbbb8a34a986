"""The web console in real Chromium, as a clerk uses it: the real daemon and the real
`printstation web` process, one of each for the whole module (tests/harness/browser.py).

What is proved: a clerk logs in over plain HTTP on 127.0.0.1 and the session cookie is
kept; a dropped invoice appears in the open queue page and shows printed through the
page's own polling, with no navigation; its page picture loads; a rejected file's reason
shows in Chinese and English, word for word as in its `.error.txt`; a clerk holds a job
that waits for a printer that is down, and releases it; voids a printed invoice, only
once the confirm() is accepted; sets a calibration offset and sees the preview change.
Every action lands in the journal with the clerk's name and `"via": "web"`. No page asks
for anything but the console's own URLs. A full-page screenshot of every page visited is
kept in PRINTSTATION_ARTIFACTS (default tests/artifacts/web/).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from printstation.harness.browser import (
    CHROMIUM,
    CLERK,
    Console,
    Visit,
    chromium,
    console_station,
    serving,
    set_password,
)
from printstation.harness.kit import Station, drop_by_rename, invoice, running, wait_for
from printstation.spool import connect

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is missing: apt-get install chromium "
                              "(scripts/ensure-system-packages) to run the browser tests"),
]
CODE = "1100243130"
PNG = b"\x89PNG\r\n\x1a\n"


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertions (imported late: collecting this module must
    not need the browser's package)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture(scope="module")
def st(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    station = console_station(tmp_path_factory.mktemp("web") / "station")
    set_password(station.config)
    with running(station):
        yield station


@pytest.fixture(scope="module")
def console(st: Station) -> Iterator[Console]:
    with serving(st.config, st.folder / "console.log") as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


@pytest.fixture
def visit(browser: Any, console: Console, request: pytest.FixtureRequest) -> Iterator[Visit]:
    clerk = Visit(browser, console, request.node.name)
    try:
        yield clerk
    finally:
        clerk.close()
    # Works offline: every request of every page went to the console itself.
    assert clerk.requests and clerk.foreign() == []


def drop(st: Station, name: str, doc: dict) -> None:
    drop_by_rename(st, name, json.dumps(doc, ensure_ascii=False).encode())


def job_of(st: Station, name: str, state: str) -> str:
    """The id of the job of file `name`, once it is in `state`."""
    found = wait_for(lambda: [j["id"] for j in st.jobs()
                              if j["source_name"] == name and j["state"] == state],
                     what=f"{name} {state}")
    return found[0]


def events(st: Station, job: str | None = None,
           key: str | None = None) -> list[tuple[str, dict]]:
    """(type, payload) of a job's or an invoice's events, oldest first."""
    with contextlib.closing(connect(st.data / "journal.db", readonly=True)) as conn:
        rows = conn.execute("SELECT type, job_id, invoice_key, payload FROM events"
                            " ORDER BY seq").fetchall()
    return [(r["type"], json.loads(r["payload"])) for r in rows
            if (job is None or r["job_id"] == job) and (key is None or r["invoice_key"] == key)]


def by_web(found: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    return [(kind, payload) for kind, payload in found if payload.get("via") == "web"]


def row(visit: Visit, body: str, file_name: str) -> Any:
    """The row of `body` (a table body's id) showing the file `file_name`."""
    page = visit.page
    return page.locator(f"#{body} tr", has=page.locator("td.file", has_text=file_name))


# -- logging in ------------------------------------------------------------------------

def test_a_clerk_logs_in_over_plain_http_on_loopback_and_stays_logged_in(
        visit: Visit) -> None:
    page = visit.page
    visit.goto("/", shot="overview-anonymous")
    expect(page.locator("#login-link")).to_be_visible()
    expect(page.locator("#read-only")).to_be_visible()
    assert page.locator("#user").count() == 0
    visit.goto("/login?next=/queue")
    # Loopback over plain HTTP: the page does not warn that a login cannot work here.
    assert page.locator("#login-https").count() == 0
    page.fill("#login-user", CLERK)
    page.fill("#login-password", "not the password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_be_visible()
    visit.shot("login-wrong-password")
    assert page.locator("#user").count() == 0

    visit.log_in(then="/queue")
    assert page.url == visit.origin + "/queue"
    expect(page.locator("#user")).to_contain_text(CLERK)
    cookie = next(c for c in visit.context.cookies() if c["name"] == "printstation_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    # The cookie is kept: the next page is still the clerk's, with the actions shown.
    visit.goto("/queue?state=printed", shot="queue-logged-in")
    expect(page.locator("#user")).to_contain_text(CLERK)
    expect(page.locator("#queue-form")).to_be_visible()
    with page.expect_navigation():
        page.click("#logout")
    expect(page.locator("#login-link")).to_be_visible()
    assert page.locator("#queue-form").count() == 0


# -- live updates and the page picture ----------------------------------------------------

def test_a_dropped_invoice_appears_and_prints_without_reloading(visit: Visit,
                                                               st: Station) -> None:
    page = visit.page
    name = "live-00013001.json"
    visit.log_in(then="/queue")
    assert row(visit, "queue", name).count() == 0
    page.evaluate("window.sameDocument = 'never reloaded'")
    seen = len(visit.navigations)

    drop(st, name, invoice("00013001"))
    # Swapped in by the page's own polling of /api/changes: no reload, no navigation.
    expect(row(visit, "queue", name)).to_have_attribute("data-state", "printed",
                                                        timeout=15_000)
    assert len(visit.navigations) == seen
    assert page.evaluate("window.sameDocument") == "never reloaded"
    assert any("/api/changes?since=" in url for url in visit.requests)
    expect(page.locator("#live-status")).to_be_visible()
    visit.shot("queue-printed-live")

    job = job_of(st, name, "printed")
    with page.expect_navigation():
        row(visit, "queue", name).locator(f'a[href="/jobs/{job}"]').click()
    expect(page.locator("#job")).to_have_attribute("data-state", "printed")
    expect(page.locator("#job-file")).to_have_text(name)
    expect(page.locator("#job-invoice")).to_have_text(f"{CODE}-00013001")
    picture = visit.picture("#page-picture")
    assert picture.startswith(PNG)
    assert page.eval_on_selector("#page-picture", "i => i.naturalWidth") > 100
    # The history shown is the journal's.
    shown = page.locator("#job-events tr").evaluate_all("rows => rows.map(r => r.dataset.type)")
    assert shown == [kind for kind, _ in events(st, job)] and "job.printed" in shown
    visit.shot("job-printed")


# -- rejected files ------------------------------------------------------------------------

def test_a_rejected_files_reason_shows_in_chinese_and_english(visit: Visit,
                                                             st: Station) -> None:
    name = "bad-total-00013051.json"
    doc = invoice("00013051")
    doc["total"] = "1.00"  # not total_amount + total_tax, nor its capitals
    drop(st, name, doc)
    error_txt = st.rejected / f"{name}.error.txt"
    wait_for(error_txt.exists, what="the rejected file's reasons")
    visit.goto("/rejected", shot="rejected")
    problems = row(visit, "rejected", name).locator("li.problem")
    expect(problems.first).to_be_visible()
    said = error_txt.read_text(encoding="utf-8")
    shown = []
    for k in range(problems.count()):
        item = problems.nth(k)
        code = item.get_attribute("data-code")
        zh, en = item.locator(".zh").inner_text(), item.locator(".en").inner_text()
        field = item.locator(".field").inner_text()
        # Word for word the reason in the file the finance software reads.
        assert f"[{code}] {field}: {zh} / {en}" in said, (code, zh, en)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en[:1].isascii() and zh != en
        shown.append(code)
    assert shown == ["total.sum", "total.words"]
    assert "价税合计 1.00" in row(visit, "rejected", name).inner_text()
    assert "Total 1.00 does not equal" in row(visit, "rejected", name).inner_text()


# -- actions ---------------------------------------------------------------------------------

def test_a_clerk_holds_a_waiting_job_and_releases_it(visit: Visit, st: Station) -> None:
    page = visit.page
    name = "jam-00013101.json"
    drop(st, name, invoice("00013101", printer="jam"))
    job = job_of(st, name, "queued")  # printer jam is down: the job waits, queued
    visit.log_in(then="/queue?printer=jam")
    waiting = page.locator(f'#queue tr[data-job="{job}"]')
    expect(waiting).to_have_attribute("data-state", "queued")
    waiting.locator('input[name="ids"]').check()
    page.fill("#act-note", "纸歪了")
    visit.shot("queue-ticked")
    with page.expect_navigation():
        page.click("#act-hold")
    expect(page.locator("p.outcome.ok")).to_contain_text(job)
    expect(page.locator(f'#queue tr[data-job="{job}"]')).to_have_attribute("data-state",
                                                                         "held")
    visit.shot("queue-held")

    visit.goto(f"/jobs/{job}")
    expect(page.locator("#job")).to_have_attribute("data-state", "held")
    with page.expect_navigation():
        page.click("#release-form button[type=submit]")
    expect(page.locator("#job")).to_have_attribute("data-state", "queued")
    assert page.locator("#release-form").count() == 0
    expect(page.locator("#hold-form")).to_be_visible()
    visit.shot("job-released")
    assert [j["state"] for j in st.jobs() if j["id"] == job] == ["queued"]
    acted = by_web(events(st, job))
    assert [(kind, p["operator"]) for kind, p in acted] == [("job.held", CLERK),
                                                           ("job.queued", CLERK)]
    assert acted[0][1].get("note") == "纸歪了"


def test_a_clerk_voids_a_printed_invoice_only_once_confirmed(visit: Visit,
                                                             st: Station) -> None:
    page = visit.page
    key = f"{CODE}-00013201"
    drop(st, "void-00013201.json", invoice("00013201"))
    job_of(st, "void-00013201.json", "printed")
    visit.log_in(then=f"/invoices/{key}")
    expect(page.locator("#invoice")).to_have_attribute("data-state", "printed")
    asked: list[tuple[str, str]] = []

    def answer(accept: bool) -> Any:
        def handle(dialog: Any) -> None:
            asked.append((dialog.type, dialog.message))
            dialog.accept() if accept else dialog.dismiss()
        return handle

    # Cancelled at the confirm(): nothing is sent.
    page.fill("#void-reason", "点错了")
    page.once("dialog", answer(False))
    page.click("#act-void")
    assert len(asked) == 1 and not any("/act/void" in url for url in visit.requests)
    expect(page.locator("#invoice")).to_have_attribute("data-state", "printed")

    page.fill("#void-reason", "开错抬头")
    page.once("dialog", answer(True))
    with page.expect_navigation():
        page.click("#act-void")
    assert [kind for kind, _ in asked] == ["confirm", "confirm"] and asked[0][1]
    expect(page.locator("#invoice")).to_have_attribute("data-state", "voided")
    expect(page.locator("p.outcome.ok")).to_contain_text(key)
    assert page.locator("#void-form").count() == 0
    visit.shot("invoice-voided")
    voided = [(kind, p) for kind, p in events(st, key=key) if kind == "invoice.voided"]
    assert len(voided) == 1
    payload = voided[0][1]
    assert (payload["operator"], payload["reason"], payload["via"]) == \
        (CLERK, "开错抬头", "web")


def test_a_clerk_sets_a_calibration_offset_and_the_preview_moves(visit: Visit,
                                                                 st: Station) -> None:
    page = visit.page
    visit.log_in(then="/calibration?printer=pdf&stock=vat-special")
    offset = page.locator("#current-offset")
    expect(offset).to_have_attribute("data-x", "0")
    expect(offset).to_have_attribute("data-y", "0")
    before = visit.picture("#calibration-picture")
    visit.shot("calibration-zero")

    seen = len(visit.navigations)
    page.fill("#offset-x", "3")
    page.fill("#offset-y", "2")
    page.click("#offset-preview")
    expect(page.locator("#calibration-picture")).to_have_attribute("src", "/calibration.png"
                                                                   "?printer=pdf&stock="
                                                                   "vat-special&x=3&y=2")
    tried = visit.picture("#calibration-picture")
    assert tried.startswith(PNG) and tried != before
    assert len(visit.navigations) == seen  # a preview is only a new picture
    visit.shot("calibration-preview")

    with page.expect_navigation():
        page.click("#offset-save")
    expect(offset).to_have_attribute("data-x", "3")
    expect(offset).to_have_attribute("data-y", "2")
    expect(page.locator("p.outcome.ok").first).to_be_visible()
    # The page now shows the saved offset: the very picture that was previewed.
    assert visit.picture("#calibration-picture") == tried
    visit.shot("calibration-saved")
    (payload,) = [p for k, p in by_web(events(st)) if k == "calibration.offset"]
    assert (payload["operator"], payload["new"], payload["old"]) == (CLERK, [3, 2], [0, 0])


# -- every page ------------------------------------------------------------------------------

def test_every_page_loads_from_the_console_alone(visit: Visit, st: Station) -> None:
    page = visit.page
    drop(st, "every-00013301.json", invoice("00013301"))
    job_of(st, "every-00013301.json", "printed")
    visit.log_in(then="/")
    for ident in ("overview", "queue", "rejected", "invoices", "paper", "calibration"):
        with page.expect_navigation():
            page.click(f"#nav-{ident}")
        expect(page.locator(f"#nav-{ident}")).to_have_attribute("aria-current", "page")
        visit.shot(ident)
    visit.goto("/invoices")
    page.fill("#search-text", "00013301")
    with page.expect_navigation():
        page.press("#search-text", "Enter")
    expect(page.locator("#invoices tr[data-invoice]")).to_have_count(1)
    expect(page.locator("#invoices tr[data-invoice]")).to_have_attribute(
        "data-invoice", f"{CODE}-00013301")
    visit.shot("invoices-found")
    with page.expect_navigation():
        page.click("#lang-switch")
    assert page.evaluate("document.documentElement.lang") == "en"
    visit.shot("invoices-english")
    for asset in ("/static/console.js", "/static/console.css"):
        assert visit.origin + asset in visit.requests
    assert len(visit.shots) >= 9 and all(Path(p).stat().st_size > 0 for p in visit.shots)
