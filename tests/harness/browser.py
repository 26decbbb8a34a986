"""The web console as a clerk meets it: a real `printstation web` process beside a real
daemon, and Debian's Chromium driven by Playwright (no browser download).

- `console_station(folder)`: a station with two directory printers, `pdf` (prints) and
  `jam` (its folder is a plain file, so the printer is down and its jobs wait, queued, as
  long as the test needs them to), its `[web]` files in `folder`.
- `set_password(config, user, password)`: a login, through `printstation web passwd`.
- `Console`: `printstation web --listen 127.0.0.1:PORT` on a free port, started and
  stopped as a subprocess; the benchmarks use it too.
- `chromium()`: the browser; `Visit`: one clerk's browser context and page, which keeps
  every URL the page asked for (all must be on the console's origin), counts the page's
  own navigations (a live update must not be one), and saves a full-page screenshot of
  each page looked at into `artifacts()`.

Playwright is imported only when a browser is launched: the fast test run and the
benchmarks never need it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .kit import EXE, ROOT, Station, free_port, wait_for, write_config

CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium, headless, with nothing that reaches out on its own (updates, sync,
# field trials): a request the console did not cause would spoil the offline check.
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run")
CLERK, PASSWORD = "li.na", "correct horse 1"


def artifacts() -> Path:
    """Where screenshots go: `PRINTSTATION_ARTIFACTS`, or tests/artifacts/web/ (ignored
    by git)."""
    folder = Path(os.environ.get("PRINTSTATION_ARTIFACTS") or ROOT / "tests" / "artifacts"
                  / "web")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def add_web_section(config: Path, folder: Path) -> None:
    """The console's users file and session key in `folder` (absolute: the console may be
    started from anywhere)."""
    with open(config, "a", encoding="utf-8") as fh:
        fh.write(f'\n[web]\nusers_file = "{folder / "web-users"}"\n'
                 f'secret_file = "{folder / "web-secret"}"\n')


def console_station(folder: Path) -> Station:
    """The browser tests' station: `pdf` prints to `printed/`; `jam` cannot write its
    folder (a plain file stands where it should be), which is a printer that is down, so a
    job for it stays queued until a clerk acts on it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jam-out").write_text("not a folder: the printer jam is down\n")
    printers = """
[printers.pdf]
driver = "directory"
path = "printed"
stocks = ["vat-special", "vat-ordinary", "vat-roll-76", "einvoice"]

[printers.jam]
driver = "directory"
path = "jam-out"
stocks = ["vat-special"]
"""
    config = write_config(folder, printers=printers)
    add_web_section(config, folder)
    return Station(folder, config)


def set_password(config: Path, user: str = CLERK, password: str = PASSWORD) -> None:
    """A clerk's login, set the way IT sets one (`printstation web passwd`)."""
    run = subprocess.run([str(EXE), "--config", str(config), "web", "passwd", user],
                         input=password + "\n", capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def http_get(port: int, path: str, headers: dict[str, str] | None = None,
             timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


class Console:
    """`printstation web` as a subprocess on 127.0.0.1 and a free port."""

    def __init__(self, config: Path, log: Path, port: int | None = None):
        self.config = config
        self.log = log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Console:
        # The log lives as long as the process, across methods.
        self._log_fh = open(self.log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(EXE), "--config", str(self.config), "web", "--listen",
             f"127.0.0.1:{self.port}"], stdout=self._log_fh, stderr=subprocess.STDOUT,
            cwd=self.config.parent)

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_text()
            try:
                return http_get(self.port, "/healthz", timeout=2)[0] in (200, 503)
            except OSError:
                return False

        wait_for(answers, timeout=30, what="the console answering")
        return self

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns its exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log_fh.close()
        return self.proc.returncode


@contextlib.contextmanager
def serving(config: Path, log: Path) -> Iterator[Console]:
    console = Console(config, log).start()
    try:
        yield console
    finally:
        console.stop()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (playwright's Browser), closed however the block ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80]


class Visit:
    """One clerk's browser (a fresh context: no cookies) on the console, in Chinese."""

    def __init__(self, browser: Any, console: Console, name: str):
        self.console = console
        self.origin = console.url
        self.name = _slug(name)
        self.context = browser.new_context(locale="zh-CN", viewport={"width": 1280,
                                                                     "height": 900})
        self.context.set_default_timeout(15_000)
        self.requests: list[str] = []
        self.navigations: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.page.on("framenavigated", self._navigated)
        self.shots: list[Path] = []

    def _navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.navigations.append(frame.url)

    def goto(self, path: str, shot: str | None = None) -> Any:
        answer = self.page.goto(self.origin + path)
        assert answer is not None and answer.status == 200, (path, answer and answer.status)
        self.page.wait_for_load_state("load")
        if shot:
            self.shot(shot)
        return answer

    def shot(self, what: str) -> Path:
        """A full-page screenshot of what the clerk sees now, kept as a test artefact."""
        path = artifacts() / f"{self.name}-{len(self.shots) + 1:02d}-{_slug(what)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def log_in(self, user: str = CLERK, password: str = PASSWORD, then: str = "/") -> None:
        """Through the login page, which sends the clerk on to `then`."""
        self.goto(f"/login?next={urllib.parse.quote(then, safe='/')}", shot="login")
        self.page.fill("#login-user", user)
        self.page.fill("#login-password", password)
        with self.page.expect_navigation():
            self.page.click("#login-submit")
        self.page.wait_for_selector("#user")

    def foreign(self) -> list[str]:
        """Every URL the page asked for that is not on the console's own origin."""
        return [url for url in self.requests if not url.startswith(self.origin + "/")]

    def picture(self, selector: str) -> bytes:
        """The bytes of an <img> as the console serves it, once the page has shown it
        (fetched again in this context, with its cookies)."""
        self.page.wait_for_function(
            "s => { const i = document.querySelector(s);"
            " return i && i.complete && i.naturalWidth > 0; }", arg=selector)
        src = self.page.eval_on_selector(selector, "i => i.src")
        answer = self.context.request.get(src)
        assert answer.status == 200 and answer.headers["content-type"] == "image/png", src
        return answer.body()

    def close(self) -> None:
        self.context.close()

