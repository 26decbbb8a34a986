"""The web console's pages and actions, through Flask's test client, on a real journal on
disk made through the spool API (tests/harness/webdata.py); the last test acts through the
real daemon.

What is checked: every page shows its data; the page language follows the browser; the
queue filters and pages by keyset; a job's history and picture; live changes; health;
the console follows its config files; each action is the CLI's own request to the daemon,
for the clerk logged in, and what the daemon answered is shown in the clerk's language.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from printstation.base.errors import Unavailable
from printstation.config.offset_file import write_offset
from printstation.config.schema import split_listen
from printstation.daemon import control
from printstation.daemon.control_ops import Reply
from printstation.harness.kit import Station, drop_by_rename, invoice, wait_for, write_config
from printstation.harness.webdata import Clock, WebStation, web_station
from printstation.spool import connect, operations
from printstation.web import auth
from printstation.web.app import create_app
from printstation.web.drawing import NICE, Drawing

PASSWORD = "correct horse 1"
KEY = "1100243130-00012001"


@pytest.fixture
def ws(tmp_path: Path) -> WebStation:
    station = web_station(tmp_path / "st", queued=3)
    auth.write_users(station.users_file, {"li.na": auth.hash_password(PASSWORD)})
    return station


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(ws: WebStation, clock: Clock) -> Flask:
    return create_app(ws.config, secret=b"k" * 32, clock=clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def page(client: FlaskClient, url: str, **kw: Any) -> str:
    answer = client.get(url, **kw)
    assert answer.status_code == 200, (url, answer.status_code)
    return answer.get_data(as_text=True)


def token(client: FlaskClient) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page(client, "/login"))
    assert found
    return found[1]


def log_in(client: FlaskClient, user: str = "li.na", password: str = PASSWORD) -> Any:
    return client.post("/login", data={"user": user, "password": password,
                                       "csrf": token(client), "next": "/queue"})


def rows(html: str, tbody: str, attr: str = "data-job") -> list[str]:
    body = re.search(rf'<tbody id="{tbody}"[^>]*>(.*?)</tbody>', html, re.S)
    assert body, tbody
    return re.findall(rf'{attr}="([^"]+)"', body[1])


# -- pages ---------------------------------------------------------------------------

def test_every_page_renders_with_its_data(client: FlaskClient, ws: WebStation) -> None:
    jobs = ws.jobs
    home = page(client, "/")
    for state, n in (("printed", 1), ("rejected", 1), ("held", 1), ("queued", 3),
                     ("failed", 0)):
        assert f'id="count-{state}">{n}<' in home, state
    assert rows(home, "printers", "data-printer") == ["pdf"]
    assert rows(home, "paper-left", "data-stock") == ["vat-special"]
    assert re.search(r'data-stock="vat-special".*?class="free">10<', home, re.S)
    assert set(rows(home, "last-errors")) == {jobs["rejected"], jobs["held"]}
    assert 'id="sync"' in home and 'id="offline"' in home

    queue = page(client, "/queue")
    assert len(rows(queue, "queue")) == 6
    assert rows(queue, "queue")[-1] == jobs["printed"]  # newest first

    rejected = page(client, "/rejected")
    assert rows(rejected, "rejected") == [jobs["rejected"]]
    assert 'data-code="invoice.kind"' in rejected
    assert "发票种类" in rejected and "Unknown invoice kind" in rejected  # both languages

    found = page(client, "/invoices")
    assert rows(found, "invoices", "data-invoice") == [KEY]
    detail = page(client, f"/invoices/{KEY}")
    assert rows(detail, "invoice-jobs") == [jobs["printed"]]
    assert 'id="invoice-state">已打印<' in detail

    paper = page(client, "/paper")
    assert rows(paper, "paper-summary", "data-stock") == ["vat-special"]
    assert len(rows(paper, "paper-ranges", "data-range")) == 1

    calibration = page(client, "/calibration")
    assert re.search(r'id="calibration-picture"[^>]*src="/calibration.png\?printer=pdf&amp;'
                     r'stock=vat-special&amp;x=0&amp;y=0"', calibration)

    job = page(client, f"/jobs/{jobs['printed']}")
    assert [t for t in re.findall(r'data-type="([^"]+)"', job)] == \
        ["job.incoming", "job.queued", "job.submitted", "job.printed"]
    assert f'src="/jobs/{jobs["printed"]}/page.png' in job
    assert 'id="login-form"' in page(client, "/login")
    # No asset from anywhere else: the console works offline.
    for html in (home, queue, rejected, found, paper, calibration, job):
        assert not re.search(r'(src|href)="(https?:)?//', html)
    assert client.get("/static/console.js").status_code == 200
    assert client.get("/static/console.css").status_code == 200


def test_the_page_language_follows_the_browser(client: FlaskClient) -> None:
    chinese = page(client, "/")
    assert '<html lang="zh-CN">' in chinese and "打印队列" in chinese
    english = page(client, "/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english and ">Queue<" in english and "打印队列" not in english
    assert "打印队列" in page(client, "/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert "打印队列" in page(client, "/", headers={"Accept-Language": "fr-FR"})
    # The switch at the top keeps the clerk's choice in a cookie.
    assert client.get("/lang/en?next=/queue").headers["Location"] == "/queue"
    assert ">Queue<" in page(client, "/")


def test_the_queue_filters_and_pages_newest_first(tmp_path: Path) -> None:
    ws = web_station(tmp_path / "st", queued=55)
    client = create_app(ws.config, secret=b"k" * 32).test_client()
    first = page(client, "/queue")
    shown = rows(first, "queue")
    assert len(shown) == 50
    more = re.search(r'id="more" href="([^"]+)"', first)
    assert more
    second = page(client, more[1].replace("&amp;", "&"))
    rest = rows(second, "queue")
    assert len(rest) == 8 and not set(shown) & set(rest)
    assert ws.jobs["printed"] == rest[-1] and 'id="more"' not in second
    assert rows(page(client, "/queue?state=rejected"), "queue") == [ws.jobs["rejected"]]
    assert rows(page(client, "/queue?q=00012003"), "queue") == [ws.jobs["held"]]
    assert rows(page(client, "/queue?q=held.JSON"), "queue") == [ws.jobs["held"]]
    assert rows(page(client, "/queue?printer=other"), "queue") == []
    assert len(rows(page(client, "/queue?state=queued&printer=pdf"), "queue")) == 50


def test_a_jobs_picture_is_the_page_it_printed_or_will_print(client: FlaskClient,
                                                            ws: WebStation) -> None:
    for job in (ws.jobs["printed"], ws.jobs["queued"]):
        answer = client.get(f"/jobs/{job}/page.png")
        assert answer.status_code == 200 and answer.mimetype == "image/png"
        assert answer.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert client.get("/jobs/NOPE/page.png").status_code == 404
    assert client.get("/jobs/NOPE").status_code == 404


def test_the_calibration_picture_moves_with_the_offset(client: FlaskClient) -> None:
    url = "/calibration.png?printer=pdf&stock=vat-special"
    zero, moved = client.get(url + "&x=0&y=0"), client.get(url + "&x=10&y=5")
    assert zero.status_code == moved.status_code == 200
    assert zero.data != moved.data
    assert client.get(url + "&x=99&y=0").status_code == 400  # not an offset the config takes
    assert client.get("/calibration.png?printer=pdf&stock=nope").status_code == 404


def test_pictures_wait_for_a_drawer_briefly_and_never_hold_up_the_pages(
        client: FlaskClient, app: Flask, ws: WebStation) -> None:
    drawing = app.extensions["printstation"].drawing
    drawing.wait_s = 0.05  # the console waits 1 s; the test need not
    url = "/calibration.png?printer=pdf&stock=vat-special&x=2&y=1"
    held = 0
    try:
        # Every drawer busy (as 32 clients asking for offsets kept them): a picture not
        # drawn yet is refused with a time to come back, and the pages answer meanwhile.
        while drawing.slots.acquire(blocking=False):
            held += 1
        assert held == 2
        answer = client.get(url)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
        assert "Busy drawing" in client.get(url, headers={"Accept-Language": "en"}).text
        assert client.get(f"/jobs/{ws.jobs['queued']}/page.png").status_code == 503
        assert client.get("/healthz").get_json()["journal"] is True
        assert rows(page(client, "/queue"), "queue")
    finally:
        for _ in range(held):
            drawing.slots.release()
    drawn = client.get(url)
    assert drawn.status_code == 200 and drawn.data.startswith(b"\x89PNG")
    # Once drawn it is kept, and shown even while every drawer is busy.
    for _ in range(2):
        drawing.slots.acquire()
    try:
        assert client.get(url).data == drawn.data
    finally:
        for _ in range(2):
            drawing.slots.release()


def test_pictures_are_drawn_at_a_lower_cpu_priority() -> None:
    def niceness() -> tuple[int, int]:
        own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        child = subprocess.run(["nice"], capture_output=True, text=True, check=True)
        return own, int(child.stdout)

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    drawer, child = Drawing().get(("nice",), niceness)  # type: ignore[arg-type]
    assert drawer == child == min(19, mine + NICE)
    # The thread that asked is not slowed.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


def test_live_changes_tell_a_page_what_moved(client: FlaskClient, ws: WebStation) -> None:
    now = client.get("/api/changes?since=0").get_json()
    assert now["seq"] > 0 and now["counts"]["held"] == 1
    same = client.get(f"/api/changes?since={now['seq']}").get_json()
    assert same["seq"] == now["seq"] and same["counts"] is None
    journal = ws.journal()
    try:
        operations.release(journal, ws.jobs["held"], "it")
    finally:
        journal.close()
    moved = client.get(f"/api/changes?since={now['seq']}").get_json()
    assert moved["seq"] > now["seq"]
    assert (moved["counts"]["held"], moved["counts"]["queued"]) == (0, 4)
    # The page itself is drawn at a seq the script starts polling from.
    assert f'data-seq="{moved["seq"]}"' in page(client, "/queue")


def test_health_says_what_is_wrong(client: FlaskClient, tmp_path: Path) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json()["journal"] is True and answer.get_json()["daemon"] is False
    fresh = tmp_path / "fresh"
    config = write_config(fresh)
    config.write_text(config.read_text() + '\n[web]\nsecret_file = "s"\n')
    empty = create_app(config, secret=b"k" * 32).test_client()
    assert empty.get("/healthz").get_json()["journal"] is False
    assert "count-printed" in page(empty, "/")  # no journal yet: the page still shows


def test_the_console_follows_its_config_files(client: FlaskClient, app: Flask,
                                              clock: Clock) -> None:
    assert 'data-x="0" data-y="0"' in page(client, "/calibration")
    settings = app.extensions["printstation"].config.settings
    # As the daemon keeps a clerk's offset (data_dir/calibration.toml).
    write_offset(settings, "pdf", "vat-special", (1.5, -0.5))
    clock.now += 2  # the files are looked at once a second at most
    html = page(client, "/calibration")
    assert 'data-x="1.5" data-y="-0.5"' in html and "x=1.5&amp;y=-0.5" in html


def test_hostile_query_values_are_400s_never_500s(client: FlaskClient,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    picture = "/calibration.png?printer=pdf&stock=vat-special"
    refused = {
        # `²` is a digit to str.isdigit, and no number to int().
        "/queue?before=%C2%B2": "before", "/rejected?before=%C2%B2": "before",
        "/queue?before=-1": "before", "/queue?before=1%201": "before",
        "/queue?before=" + "9" * 30: "before", "/rejected?before=%EF%BC%91": "before",
        "/invoices?since=2024-13-01": "2024-13-01", "/invoices?until=yesterday": "yesterday",
    }
    for url, named in refused.items():
        answer = client.get(url, headers={"Accept-Language": "en"})
        assert answer.status_code == 400, url
        assert named in answer.text and 'id="error"' in answer.text, url
    polled = client.get("/api/changes?since=%C2%B2")
    assert polled.status_code == 400 and "since" in polled.get_json()["detail"]
    for x in ("1e999999999", "-1e999999999", "1e-999999999", "NaN", "sNaN", "Infinity",
              "0x10", "%C2%B2"):
        assert client.get(f"{picture}&x={x}&y=0").status_code == 400, x
        shown = client.get(f"/calibration?printer=pdf&stock=vat-special&x={x}",
                           headers={"Accept-Language": "en"})
        assert shown.status_code == 200 and "an offset is a number from -30" in shown.text, x
    # The first and last days there are mean no bound at all: the invoice is found.
    for query in ("until=9999-12-31", "since=0001-01-01", "since=0001-01-01&until=9999-12-31",
                  "since=9999-12-31"):
        answer = client.get(f"/invoices?{query}")
        assert answer.status_code == 200, query
        assert rows(answer.text, "invoices", "data-invoice") == \
            ([] if query == "since=9999-12-31" else [KEY]), query
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_a_hostile_count_or_offset_in_a_form_is_refused(client: FlaskClient, daemon: Daemon,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    log_in(client)
    csrf = token(client)
    for count in ("²", "１", "-1", "1e3"):
        answer = client.post("/act/paper-spoil", data={"printer": "pdf", "count": count,
                                                       "reason": "x", "csrf": csrf})
        assert answer.status_code == 303, count
    for x in ("1e999999999", "sNaN", "NaN"):
        answer = client.post("/act/calibrate", data={"printer": "pdf", "stock": "vat-special",
                                                     "x": x, "y": "0", "csrf": csrf})
        assert answer.status_code == 303, x
    assert daemon.calls == []
    assert "偏移应为 -30 到 30 毫米之间" in page(client, "/calibration")
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_default_settings_listen_on_loopback_and_no_secure_cookie_there(ws: WebStation) -> None:
    from printstation.config import load_settings

    settings = load_settings(write_config(ws.folder / "plain"))
    assert settings.web.listen == "127.0.0.1:8631"
    assert split_listen(settings.web.listen) == ("127.0.0.1", 8631)
    app = create_app(ws.config, secret=b"k" * 32)
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert create_app(ws.config, secret=b"k" * 32, listen="0.0.0.0:8631") \
        .config["SESSION_COOKIE_SECURE"] is True


# -- actions -------------------------------------------------------------------------

class Daemon:
    """control.change as the web console calls it, answering as the daemon would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, str | None]] = []
        self.reply = Reply(out=["S0003: held -> queued"])
        self.error: Exception | None = None

    def change(self, settings: Any, op: str, args: dict, clerk: str | None = None) -> Reply:
        self.calls.append((op, args, clerk))
        if self.error is not None:
            raise self.error
        return self.reply


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Daemon:
    fake = Daemon()
    monkeypatch.setattr(control, "change", fake.change)
    return fake


def test_each_action_is_the_clis_request_for_the_clerk(client: FlaskClient, ws: WebStation,
                                                       daemon: Daemon) -> None:
    assert log_in(client).status_code == 303
    csrf = token(client)
    held = ws.jobs["held"]
    posts = [
        ("/act/queue", {"action": "release", "ids": [held], "note": "纸已放好"},
         ("queue", {"action": "release", "ids": [held], "note": "纸已放好"})),
        ("/act/resolve", {"job": held, "outcome": "spoiled", "reason": "卡纸"},
         ("resolve", {"job": held, "printed": False, "reason": "卡纸"})),
        ("/act/void", {"invoice": KEY, "reason": "开错"},
         ("void", {"invoice": KEY, "reason": "开错"})),
        ("/act/reprint", {"invoice": KEY, "reason": "卡纸", "printer": ""},
         ("reprint", {"invoice": KEY, "reason": "卡纸", "printer": None})),
        ("/act/paper-load", {"printer": "pdf", "stock": "vat-special", "code": "",
                             "first": "00013001", "last": "00013050"},
         ("paper-load", {"printer": "pdf", "stock": "vat-special", "code": "",
                         "first": "00013001", "last": "00013050"})),
        ("/act/paper-spoil", {"printer": "pdf", "stock": "", "count": "2", "reason": "卡纸"},
         ("paper-spoil", {"printer": "pdf", "stock": None, "count": 2, "reason": "卡纸"})),
    ]
    for url, form, (op, args) in posts:
        answer = client.post(url, data={**form, "csrf": csrf, "next": "/queue"})
        assert answer.status_code == 303 and answer.headers["Location"] == "/queue", url
        assert daemon.calls[-1] == (op, args, "li.na"), url
    # What the daemon answered, in the clerk's language, on the page they came back to.
    assert "S0003：已暂停 → 排队中" in page(client, "/queue")


def test_what_the_daemon_refuses_is_shown_as_refused(client: FlaskClient,
                                                     daemon: Daemon) -> None:
    log_in(client)
    daemon.reply = Reply(exit=1, err=["S0001: is printed; only incoming, queued, deferred "
                                      "jobs can be held"])
    client.post("/act/queue", data={"action": "hold", "ids": "S0001", "csrf": token(client)})
    html = page(client, "/")
    assert re.search(r'class="outcome error">任务 S0001 的状态是“已打印”', html)
    daemon.error = Unavailable(control.NOT_RUNNING)
    client.post("/act/queue", data={"action": "hold", "ids": "S0001", "csrf": token(client)})
    assert "服务未运行，现在无法更改队列" in page(client, "/")
    # Nothing to act on is not sent at all.
    before = len(daemon.calls)
    client.post("/act/queue", data={"action": "hold", "csrf": token(client)})
    client.post("/act/void", data={"invoice": KEY, "reason": " ", "csrf": token(client)})
    assert len(daemon.calls) == before


def test_the_daemons_answers_are_said_as_the_cli_says_them() -> None:
    from printstation.cli import catalog
    from printstation.web import words

    for line in ("J1: queued -> held", "1100243130-00012001: voided, sheet 00012001 voided",
                 "pdf: loaded 5 sheets of vat-special 00012001-00012005",
                 "J1: is printed; only incoming, queued, deferred jobs can be held",
                 control.NOT_RUNNING, "a line no catalogue entry knows"):
        for lang in ("zh", "en"):
            assert words.said(line, lang) == catalog.said(line, lang), (line, lang)
    assert words.said("J1: queued -> held", "zh") == "J1：排队中 → 已暂停"


@pytest.mark.e2e
def test_a_clerk_acts_through_the_real_daemon(station: Station) -> None:
    write_config(station.folder, extra='paper_check = "match"')
    station.config.write_text(station.config.read_text() + (
        '\n[web]\nusers_file = "web-users"\nsecret_file = "web-secret"\n'))
    auth.write_users(station.folder / "web-users", {"li.na": auth.hash_password(PASSWORD)})
    station.start()
    try:
        # No paper loaded yet: both invoices wait, held (paper.mismatch).
        drop_by_rename(station, "a.json", json.dumps(invoice("00012001")).encode())
        drop_by_rename(station, "b.json", json.dumps(invoice("00012002")).encode())
        wait_for(lambda: [j["reason"] for j in station.jobs()] == ["paper.mismatch"] * 2,
                 what="both jobs held: no paper loaded")
        a, b = (j["id"] for j in station.jobs())
        client = create_app(station.config, secret=b"k" * 32).test_client()
        log_in(client)
        csrf = token(client)
        client.post("/act/queue", data={"action": "release", "ids": b, "csrf": csrf})
        assert "已暂停 → 排队中" in page(client, "/")
        wait_for(lambda: [j["state"] for j in station.jobs()] == ["held"] * 2,
                 what="b held again: still no paper")
        client.post("/act/queue", data={"action": "cancel", "ids": b, "csrf": csrf})
        client.post("/act/paper-load", data={"printer": "pdf", "stock": "vat-special",
                                             "code": "1100243130", "first": "00012001",
                                             "last": "00012005", "csrf": csrf})
        assert "已装入 5 张" in page(client, "/paper")
        wait_for(lambda: [j["state"] for j in station.jobs()] == ["printed", "cancelled"],
                 what="a printed on its sheet")
        client.post("/act/void", data={"invoice": "1100243130-00012001", "reason": "开错",
                                       "csrf": csrf})
        assert "发票 1100243130-00012001 已作废" in page(client, "/")
        client.post("/act/calibrate", data={"printer": "pdf", "stock": "vat-special",
                                            "x": "1.5", "y": "-0.5", "csrf": csrf})
        html = page(client, "/calibration?printer=pdf&stock=vat-special")
        assert 'data-x="1.5" data-y="-0.5"' in html and "偏移 +0.0,+0.0 → +1.5,-0.5" in html
        # The daemon wrote its own file; the console wrote no config.
        assert "[pdf]\nvat-special = [1.5, -0.5]\n" in \
            (station.data / "calibration.toml").read_text()
        assert not (station.folder / "conf.d").exists()
    finally:
        station.stop()
    conn = connect(station.data / "journal.db", readonly=True)
    events = [(row["type"], row["job_id"], json.loads(row["payload"])) for row in conn.execute(
        "SELECT type, job_id, payload FROM events ORDER BY seq")]
    conn.close()
    by_web = [(kind, job) for kind, job, payload in events if payload.get("via") == "web"]
    assert by_web == [("job.queued", b), ("job.cancelled", b), ("paper.loaded", None),
                      ("invoice.voided", None), ("calibration.offset", None)]
    for kind, _, payload in events:
        if payload.get("via") == "web":
            assert "li.na" in (payload.get("operator"), payload.get("by")), (kind, payload)
    assert next(p for k, _, p in events if k == "calibration.offset")["new"] == [1.5, -0.5]
    assert {j["id"]: j["state"] for j in station.jobs()} == {a: "printed", b: "cancelled"}
