"""The web console's defences: no action without a login, none without the session's CSRF
token, guessing passwords slowed, markup from files shown as text, sessions that end, the
cookie's flags, foreign host names and redirects refused; the users file and
`printstation web passwd` (the real CLI); and the server itself binding to loopback.
"""

from __future__ import annotations

import errno
import io
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from printstation.base.errors import EXIT_NOPERM
from printstation.cli import web_commands
from printstation.daemon import control
from printstation.daemon.control_ops import Reply
from printstation.harness.kit import EXE, ROOT, free_port, wait_for
from printstation.harness.webdata import (
    XSS_FILE,
    XSS_KIND,
    XSS_SELLER,
    Clock,
    WebStation,
    web_station,
)
from printstation.web import auth
from printstation.web.app import create_app

PASSWORD = "correct horse 1"
ACTIONS = {
    "/act/queue": {"action": "hold", "ids": "S0004"},
    "/act/resolve": {"job": "S0004", "outcome": "printed", "reason": "x"},
    "/act/void": {"invoice": "1100243130-00012001", "reason": "x"},
    "/act/reprint": {"invoice": "1100243130-00012001", "reason": "x"},
    "/act/paper-load": {"printer": "pdf", "first": "00019001", "last": "00019002"},
    "/act/paper-spoil": {"printer": "pdf", "count": "1", "reason": "x"},
    "/act/calibrate": {"printer": "pdf", "stock": "vat-special", "x": "1", "y": "1"},
}


@pytest.fixture
def ws(tmp_path: Path) -> WebStation:
    station = web_station(tmp_path / "st")
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


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every request the console would send the daemon (none must be sent when refused)."""
    sent: list[tuple] = []

    def change(settings: Any, op: str, args: dict, clerk: str | None = None) -> Reply:
        sent.append((op, args, clerk))
        return Reply(out=["done"])

    monkeypatch.setattr(control, "change", change)
    monkeypatch.setattr(control, "ask", lambda *a, **kw: sent.append(("ask", a)) or Reply())
    return sent


def token(client: FlaskClient) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
    assert found
    return found[1]


def log_in(client: FlaskClient, user: str = "li.na", password: str = PASSWORD,
           **environ: Any) -> Any:
    return client.post("/login", data={"user": user, "password": password,
                                       "csrf": token(client)},
                       **({"environ_base": environ} if environ else {}))


def journal_state(ws: WebStation) -> tuple:
    conn = ws.journal().conn
    try:
        return tuple(conn.execute("SELECT max(seq), count(*) FROM events").fetchone())
    finally:
        conn.close()


# -- no action without a login, none without the token -----------------------------

def test_every_action_without_a_login_is_refused(client: FlaskClient, ws: WebStation,
                                                 calls: list[tuple]) -> None:
    before = journal_state(ws)
    csrf = token(client)  # a visitor's own valid token: the login is what is missing
    for url, form in ACTIONS.items():
        answer = client.post(url, data={**form, "csrf": csrf})
        assert answer.status_code == 303, url
        assert answer.headers["Location"].startswith("/login?next="), url
        scripted = client.post(url, data={**form, "csrf": csrf},
                               headers={"Accept": "application/json"})
        assert scripted.status_code == 401, url
    assert calls == [] and journal_state(ws) == before
    assert "请先登录" in client.get("/login").text
    # Logged in, the same requests go through.
    assert log_in(client).status_code == 303
    csrf = token(client)
    for url, form in ACTIONS.items():
        assert client.post(url, data={**form, "csrf": csrf}).status_code == 303
    assert {c[0] for c in calls} == {"queue", "resolve", "void", "reprint", "paper-load",
                                     "paper-spoil", "set-offset"}
    assert all(c[2] == "li.na" for c in calls)


def test_a_missing_or_forged_csrf_token_is_403(client: FlaskClient, ws: WebStation,
                                               calls: list[tuple]) -> None:
    log_in(client)
    good = token(client)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for url, form in ACTIONS.items():
        assert client.post(url, data=form).status_code == 403, url
        assert client.post(url, data={**form, "csrf": forged}).status_code == 403, url
        assert client.post(url, data={**form, "csrf": ""}).status_code == 403, url
    assert calls == []
    # Another session's token is no good either.
    other = create_app(ws.config, secret=b"k" * 32).test_client()
    assert client.post("/act/void", data={**ACTIONS["/act/void"],
                                          "csrf": token(other)}).status_code == 403
    # The login form and logging out carry it too.
    assert client.post("/login", data={"user": "li.na", "password": PASSWORD}).status_code \
        == 403
    assert client.post("/logout").status_code == 403
    # A script sends it as a header.
    answer = client.post("/act/void", data=ACTIONS["/act/void"],
                         headers={"X-CSRF-Token": good})
    assert answer.status_code == 303 and calls[-1][0] == "void"


def test_logging_out_ends_the_session(client: FlaskClient, calls: list[tuple]) -> None:
    log_in(client)
    assert 'id="user"' in client.get("/").text
    client.post("/logout", data={"csrf": token(client)})
    assert 'id="user"' not in client.get("/").text
    client.post("/act/void", data={**ACTIONS["/act/void"], "csrf": token(client)})
    assert calls == []


COOKIE = "printstation_session"


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def test_a_cookie_copied_before_logging_out_acts_no_more(app: Flask, client: FlaskClient,
                                                         calls: list[tuple]) -> None:
    log_in(client)
    kept, csrf = session_cookie(client), token(client)
    # A copy of the cookie (another program on 127.0.0.1, any port, receives it) is the
    # session while the clerk is logged in...
    thief = app.test_client()
    thief.set_cookie(COOKIE, kept)
    assert thief.post("/act/void", data={**ACTIONS["/act/void"], "csrf": csrf}) \
        .status_code == 303 and len(calls) == 1
    sessions = app.extensions["printstation.sessions"]
    assert len(sessions) == 1
    client.post("/logout", data={"csrf": csrf})
    assert len(sessions) == 0
    # ...and nothing once she has logged out: the server ended it.
    assert 'id="user"' not in thief.get("/").text
    for url, form in ACTIONS.items():
        answer = thief.post(url, data={**form, "csrf": csrf})
        assert answer.status_code == 303, url
        assert answer.headers["Location"].startswith("/login?next="), url
        scripted = thief.post(url, data={**form, "csrf": csrf},
                              headers={"Accept": "application/json"})
        assert scripted.status_code == 401, url
    assert len(calls) == 1


def test_the_cookie_holds_neither_the_token_nor_the_clerk(app: Flask, client: FlaskClient,
                                                          ws: WebStation,
                                                          calls: list[tuple]) -> None:
    signer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    log_in(client)
    kept, csrf = session_cookie(client), token(client)
    inside = signer.loads(kept)
    assert set(inside) - {"_permanent"} == {"sid"}  # Flask's mark of an 8-hour cookie
    assert csrf not in json.dumps(inside) and "li.na" not in json.dumps(inside)
    # A session id the console did not give out is no session, even signed with its key;
    # nor is a cookie of the old kind that named the clerk and carried its own token.
    for forged in ({"sid": "made-up"}, {"sid": ""}, {"sid": 7},
                   {"user": "li.na", "since": int(time.time()),
                    "key": auth.fingerprint(auth.parse_users(ws.users_file.read_text())
                                            ["li.na"]), "csrf": "t" * 43}):
        visitor = app.test_client()
        visitor.set_cookie(COOKIE, signer.dumps(forged))
        assert 'id="user"' not in visitor.get("/").text, forged
        visitor.post("/act/void", data={**ACTIONS["/act/void"], "csrf": "t" * 43})
        visitor.post("/act/void", data={**ACTIONS["/act/void"], "csrf": token(visitor)})
    assert calls == []
    # A console started again (same key) knows no session of the one before: clerks log in
    # again.
    restarted = create_app(ws.config, secret=b"k" * 32).test_client()
    restarted.set_cookie(COOKIE, kept)
    assert 'id="user"' not in restarted.get("/").text
    assert 'id="user"' in client.get("/").text


# -- passwords ------------------------------------------------------------------------

def test_ten_wrong_passwords_are_slowed(client: FlaskClient, clock: Clock) -> None:
    answers = []
    for _ in range(10):
        answer = log_in(client, password="wrong")
        answers.append(answer.status_code)
        if answer.status_code == 429:
            break
    # Five mistakes cost nothing; then the next attempt must wait.
    assert answers == [401] * 5 + [429]
    waits = []
    for _ in range(10):
        barred = log_in(client, password="wrong")
        assert barred.status_code == 429
        wait = int(barred.headers["Retry-After"])
        waits.append(wait)
        clock.now += wait
        assert log_in(client, password="wrong").status_code == 401  # checked, and wrong
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]  # doubling, up to 30 s
    # While barred even the right password is not looked at; once the wait is over it
    # works, and the slate is clean.
    assert log_in(client).status_code == 429
    clock.now += 30
    assert log_in(client).status_code == 303
    client.post("/logout", data={"csrf": token(client)})
    assert log_in(client, password="wrong").status_code == 401


def test_a_strangers_failures_do_not_bar_another_clerk(client: FlaskClient) -> None:
    # Another program on this machine fails for a made-up name, then for wang: each name
    # is barred from loopback on its own, and li.na logs in from there all the same (one
    # stranger used to shut every clerk out).
    answers = [log_in(client, user="x", password="wrong wrong").status_code
               for _ in range(7)]
    assert answers == [401] * 5 + [429] * 2
    assert [log_in(client, user="wang", password="x").status_code for _ in range(6)] == \
        [401] * 5 + [429]
    assert log_in(client).status_code == 303


def test_every_loopback_address_shares_one_bar(client: FlaskClient) -> None:
    for _ in range(5):
        assert log_in(client, password="wrong").status_code == 401  # from 127.0.0.1
    # Binding another loopback source gives no fresh count...
    for source in ("127.0.0.9", "127.45.1.2", "::1", "::ffff:127.0.0.5"):
        assert log_in(client, REMOTE_ADDR=source).status_code == 429, source
    # ...while the same clerk at another machine is not barred by it.
    assert log_in(client, REMOTE_ADDR="192.0.2.7").status_code == 303


def test_one_name_tried_from_many_addresses_is_slowed(client: FlaskClient,
                                                      clock: Clock) -> None:
    for n in range(20):
        assert log_in(client, password="x", REMOTE_ADDR=f"10.0.1.{n}").status_code == 401
    # Then every failure for the name, from anywhere, costs a 5 s wait: no more, so a
    # stranger cannot keep a clerk out for long.
    barred = log_in(client, password="x", REMOTE_ADDR="10.0.2.1")
    assert barred.status_code == 429 and barred.headers["Retry-After"] == "5"
    clock.now += 5
    assert log_in(client, password="x", REMOTE_ADDR="10.0.2.1").status_code == 401
    assert log_in(client, REMOTE_ADDR="10.0.2.2").status_code == 429
    clock.now += 5
    assert log_in(client, REMOTE_ADDR="10.0.2.2").status_code == 303
    # Where the clerk has logged in, strangers' failures on her name elsewhere do not
    # hold her up; a new place still waits.
    assert log_in(client, password="x", REMOTE_ADDR="10.0.3.1").status_code == 401
    assert log_in(client, REMOTE_ADDR="10.0.2.2").status_code == 303
    assert log_in(client, REMOTE_ADDR="10.0.2.3").status_code == 429


def test_one_address_trying_many_names_is_barred(client: FlaskClient, ws: WebStation) -> None:
    auth.write_users(ws.users_file, {"li.na": auth.hash_password(PASSWORD),
                                     "wang": auth.hash_password(PASSWORD)})
    assert log_in(client, REMOTE_ADDR="10.0.0.9").status_code == 303
    for n in range(50):
        assert log_in(client, user=f"user{n}", password="x",
                      REMOTE_ADDR="10.0.0.9").status_code == 401, n
    assert log_in(client, user="wang", REMOTE_ADDR="10.0.0.9").status_code == 429
    # li.na has logged in from there before: not barred by the others' failures.
    assert log_in(client, REMOTE_ADDR="10.0.0.9").status_code == 303
    assert log_in(client, user="wang", REMOTE_ADDR="10.0.0.10").status_code == 303


def test_a_password_change_or_removal_ends_the_clerks_sessions(
        client: FlaskClient, ws: WebStation, calls: list[tuple]) -> None:
    log_in(client)
    assert 'id="user"' in client.get("/").text
    auth.write_users(ws.users_file, {"li.na": auth.hash_password("another pass 2")})
    assert 'id="user"' not in client.get("/").text
    log_in(client, password="another pass 2")
    assert 'id="user"' in client.get("/").text
    auth.write_users(ws.users_file, {})
    assert 'id="user"' not in client.get("/").text
    assert "web passwd" in client.get("/").text  # no logins left: the page says how
    # The server forgot the sessions it ended.
    assert len(client.application.extensions["printstation.sessions"]) == 0


def test_a_session_lasts_eight_hours(client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
                                     calls: list[tuple]) -> None:
    log_in(client)
    start = time.time()
    monkeypatch.setattr(auth.time, "time", lambda: start + 8 * 3600 - 60)
    assert 'id="user"' in client.get("/").text
    monkeypatch.setattr(auth.time, "time", lambda: start + 8 * 3600 + 60)
    assert 'id="user"' not in client.get("/").text
    client.post("/act/void", data={**ACTIONS["/act/void"], "csrf": token(client)})
    assert calls == []


def test_hashes_are_scrypt_and_malformed_entries_match_nothing() -> None:
    stored = auth.hash_password(PASSWORD)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(digest)) == 32
    assert auth.check_password(PASSWORD, stored) and not auth.check_password("x", stored)
    assert auth.hash_password(PASSWORD) != stored  # a new salt each time
    for bad in ("", "plain", "scrypt$1$8$1$00$00", f"scrypt${2**30}$8$1${salt}${digest}",
                f"scrypt$16384$8$1$zz${digest}", stored.replace("$8$", "$9999$")):
        assert not auth.check_password(PASSWORD, bad), bad
    users = auth.parse_users(f"# comment\nli.na:{stored}\nbad name:{stored}\nx:plain\n\n")
    assert users == {"li.na": stored}


# -- markup from outside is text ------------------------------------------------------

def test_markup_in_a_file_name_a_seller_and_a_reason_is_shown_as_text(
        client: FlaskClient, ws: WebStation) -> None:
    pages = {url: client.get(url).text for url in (
        "/", "/queue", "/rejected", f"/jobs/{ws.jobs['rejected']}",
        f"/jobs/{ws.jobs['printed']}", "/invoices/1100243130-00012001")}
    for text in (XSS_FILE, XSS_SELLER, XSS_KIND):
        assert all(text not in html for html in pages.values()), text
    assert "&lt;img src=x onerror=alert(&#34;file&#34;)&gt;.json" in pages["/rejected"]
    assert "&lt;img src=x" in pages["/queue"] and "&lt;img src=x" in pages["/"]
    assert "&lt;script&gt;alert(&#39;seller&#39;)&lt;/script&gt;" in \
        pages[f"/jobs/{ws.jobs['printed']}"]
    assert "&lt;script&gt;alert(&#39;reason&#39;)&lt;/script&gt;" in pages["/rejected"]
    # The only scripts are the console's own, and the browser is told to run no other.
    for html in pages.values():
        assert re.findall(r"<script[^>]*>", html) == [
            '<script src="/static/console.js" defer>']
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp


def test_a_search_text_is_shown_back_as_text(client: FlaskClient) -> None:
    html = client.get('/queue?q="><script>alert(1)</script>').text
    assert "<script>alert(1)" not in html and "&#34;&gt;&lt;script&gt;" in html


# -- cookies, hosts, redirects, headers ------------------------------------------------

def test_the_session_cookie_is_httponly_samesite_strict(client: FlaskClient,
                                                        ws: WebStation) -> None:
    cookie = log_in(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback
    opened = create_app(ws.config, secret=b"k" * 32, listen="0.0.0.0:8631").test_client()
    assert "; Secure" in log_in(opened).headers["Set-Cookie"]
    # Seen over plain HTTP from another machine, the login page says HTTPS is needed.
    assert 'id="login-https"' in opened.get("/login", base_url="http://192.0.2.1:8631").text
    assert 'id="login-https"' not in opened.get("/login").text


def test_foreign_host_names_and_redirects_are_refused(client: FlaskClient) -> None:
    # A web site whose name was pointed at 127.0.0.1 (DNS rebinding) reads nothing.
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/api/changes", headers={"Host": "evil.example:8631"}).status_code \
        == 400
    for host in ("localhost:8631", "127.0.0.1:8631", "[::1]:8631", socket.gethostname()):
        assert client.get("/", headers={"Host": host}).status_code == 200, host
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert log_in(client, **{}).status_code == 303
        answer = client.post("/login", data={"user": "li.na", "password": PASSWORD,
                                             "csrf": token(client), "next": target})
        assert answer.headers["Location"] == "/", target
        assert client.get(f"/lang/en?next={target}").headers["Location"] == "/"


# Each of these is another site to a browser (it drops tabs and newlines, reads a
# backslash as a slash), or not a path at all.
HOSTILE_NEXT = ("/\t/evil.example/x", "/\t\t/evil.example", "/\n/evil.example",
                "/\r\n/evil.example", "\t//evil.example", " //evil.example", "//evil.example",
                "///evil.example", "/\\evil.example", "\\\\evil.example", "\\/evil.example",
                "https://evil.example/", "http:/evil.example", "javascript:alert(1)",
                "/\x00/evil.example", "/\x7f/evil.example", "/\x0b/evil.example",
                "evil.example/x", "")


def test_a_next_page_is_a_path_here_and_nothing_else(client: FlaskClient) -> None:
    for target in HOSTILE_NEXT:
        quoted = urllib.parse.quote(target, safe="")
        assert client.get(f"/lang/en?next={quoted}").headers["Location"] == "/", target
        form = client.get(f"/login?next={quoted}").text
        assert 'name="next" value="/"' in form, target
        answer = client.post("/login", data={"user": "li.na", "password": PASSWORD,
                                             "csrf": token(client), "next": target})
        assert answer.status_code == 303 and answer.headers["Location"] == "/", target
    # A path here is kept, what a Location header cannot carry as it is percent-encoded.
    for target, location in (("/queue?state=held&q=a", "/queue?state=held&q=a"),
                             ("/invoices?q=北京", "/invoices?q=%E5%8C%97%E4%BA%AC"),
                             ("/queue?q=a b", "/queue?q=a%20b"),
                             ("/jobs/S0001%2F", "/jobs/S0001%2F")):
        quoted = urllib.parse.quote(target, safe="")
        assert client.get(f"/lang/zh?next={quoted}").headers["Location"] == location, target
    answer = client.post("/login", data={"user": "li.na", "password": PASSWORD,
                                         "csrf": token(client), "next": "/paper?printer=pdf"})
    assert answer.headers["Location"] == "/paper?printer=pdf"


def test_every_answer_carries_the_protective_headers(client: FlaskClient) -> None:
    for url in ("/", "/login", "/api/changes", "/healthz", "/nope"):
        headers = client.get(url).headers
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["X-Frame-Options"] == "DENY", url
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], url
        assert headers["Cache-Control"] == "no-store", url


def test_the_session_key_is_made_private_and_kept(tmp_path: Path) -> None:
    key_file = tmp_path / "state" / "secret"
    key = auth.secret_key(key_file)
    assert len(key) >= 32 and os.stat(key_file).st_mode & 0o777 == 0o600
    assert auth.secret_key(key_file) == key
    key_file.chmod(0o644)
    with pytest.raises(Exception, match="chmod 600"):
        auth.secret_key(key_file)


# -- the users file and `printstation web passwd` -------------------------------------

def passwd(ws: WebStation, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), "--config", str(ws.config), "web", "passwd", *args],
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_web_passwd_writes_scrypt_lines_and_deletes_them(tmp_path: Path) -> None:
    ws = web_station(tmp_path / "st", queued=0)
    run = passwd(ws, "li.na", stdin="first pass 1\n")
    assert run.returncode == 0, run.stderr
    assert str(ws.users_file) in run.stdout
    lines = [line for line in ws.users_file.read_text().splitlines()
             if not line.startswith("#")]
    assert len(lines) == 1
    assert re.fullmatch(r"li\.na:scrypt\$16384\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{64}", lines[0])
    assert os.stat(ws.users_file).st_mode & 0o777 == 0o640
    assert passwd(ws, "wang_wei", stdin="second pass 2\n").returncode == 0
    assert passwd(ws, "li.na", stdin="changed pass 3\n").returncode == 0
    users = auth.parse_users(ws.users_file.read_text())
    assert set(users) == {"li.na", "wang_wei"}
    assert auth.check_password("changed pass 3", users["li.na"])
    assert auth.check_password("second pass 2", users["wang_wei"])
    # The console takes the new login at once.
    client = create_app(ws.config, secret=b"k" * 32).test_client()
    assert log_in(client, "wang_wei", "second pass 2").status_code == 303
    run = passwd(ws, "wang_wei", "--delete")
    assert run.returncode == 0 and set(auth.parse_users(ws.users_file.read_text())) == {"li.na"}
    assert passwd(ws, "wang_wei", "--delete").returncode == 1
    for bad_name in ("li na", "a:b", "x" * 65):
        assert passwd(ws, bad_name, stdin="good pass 12\n").returncode == 2
    short = passwd(ws, "zhao", stdin="short\n")
    assert short.returncode == 2 and "\n" not in short.stderr.strip()
    assert "zhao" not in ws.users_file.read_text()


def test_web_passwd_refuses_root_and_system_accounts(tmp_path: Path) -> None:
    ws = web_station(tmp_path / "st", queued=0)
    before = ws.users_file.read_bytes() if ws.users_file.exists() else b""
    # Accounts of this machine (daemon, bin, nobody... or whoever runs the tests).
    accounts = [a.pw_name for a in pwd.getpwall()
                if a.pw_name != "root" and auth.NAME.fullmatch(a.pw_name)][:3]
    assert accounts
    for name, why in (("root", "root is the system's administrator"),
                      *((a, f"{a} is an account of this system") for a in accounts)):
        run = passwd(ws, name, stdin="good pass 12\n")
        assert run.returncode == 2, (name, run.stderr)
        assert why in run.stderr and "not a console login" in run.stderr, run.stderr
    assert (ws.users_file.read_bytes() if ws.users_file.exists() else b"") == before
    # One written by hand logs no one in; IT can still remove it.
    auth.write_users(ws.users_file, {"root": auth.hash_password(PASSWORD),
                                     "li.na": auth.hash_password(PASSWORD)})
    client = create_app(ws.config, secret=b"k" * 32).test_client()
    assert log_in(client, "root").status_code == 401
    assert log_in(client).status_code == 303
    assert passwd(ws, "root", "--delete").returncode == 0
    assert set(auth.parse_users(ws.users_file.read_text())) == {"li.na"}


def test_web_passwd_by_another_user_says_only_root_may(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    # As a clerk or a member of group printstation finds it: the file is IT's to write.
    monkeypatch.setattr(auth, "write_users", refused)
    monkeypatch.setattr("sys.stdin", io.StringIO("good pass 12\n"))
    users = tmp_path / "web-users"
    with pytest.raises(web_commands.PermissionDenied) as found:
        web_commands.passwd(users, "li.na", delete=False)
    said = str(found.value)
    assert "only root (IT) can" in said and "sudo printstation web passwd li.na" in said
    assert "group" not in said and str(users) in said
    assert found.value.exit_code == EXIT_NOPERM


# -- the server ------------------------------------------------------------------------

def test_the_server_binds_loopback_and_stops_on_sigterm(ws: WebStation) -> None:
    port = free_port()
    proc = subprocess.Popen([str(EXE), "--config", str(ws.config), "web", "--listen",
                             f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    return b" 503 " in sock.recv(100)
            except OSError:
                return False

        wait_for(answers, what="the console answering")
        # Bound to 127.0.0.1 alone: another loopback address (which 0.0.0.0 would take)
        # is refused.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", port), timeout=1).close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in err
    bad = subprocess.run([str(EXE), "--config", str(ws.config), "web", "--listen", "nowhere"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


# -- the unit ---------------------------------------------------------------------------

def test_the_unit_is_hardened_and_verifies(tmp_path: Path) -> None:
    unit = (ROOT / "systemd" / "printstation-web.service").read_text()
    for line in ("User=printstation-web", "Group=printstation", "StateDirectory=printstation-web",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                 "ExecStart=/opt/printstation/bin/printstation web",
                 "RestartPreventExitStatus=78"):
        assert re.search(rf"^{re.escape(line)}$", unit, re.M), line
    assert "/var/lib/printstation" in re.search(r"^ReadOnlyPaths=(.*)$", unit, re.M)[1].split()
    root = tmp_path / "root"
    subprocess.run(["bash", ROOT / "scripts" / "install", "--root", root, "--no-venv"],
                   check=True, capture_output=True)
    members = {line.split(":")[0]: line.split(":")[3].split(",") for line in
               (root / "etc/group").read_text().splitlines()}
    assert "printstation-web" in members["printstation"]
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    (root / "etc/systemd/system/printstation-web.service").write_text(unit)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system",
                    dirs_exist_ok=True, symlinks=True)
    exe = root / "opt/printstation/bin/printstation"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    run = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                          "/etc/systemd/system/printstation-web.service"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "printstation-web" not in run.stderr, run.stderr
    run = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={root}",
                          "printstation-web.service"], capture_output=True, text=True)
    level = re.search(r"Overall exposure level for printstation-web.service: ([0-9.]+)",
                      run.stdout)
    assert level and float(level[1]) <= 2.0, run.stdout[-500:] + run.stderr
