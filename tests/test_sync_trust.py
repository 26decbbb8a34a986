"""Sync trusts nothing it should not (SPEC §11): head office's word is held to what the
station sent, plain http stays on this machine, and the token file is the daemon's alone."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from printstation.base.errors import ConfigInvalid
from printstation.config import ConfigError, load_settings, load_stocks
from printstation.daemon.context import Context
from printstation.daemon.stage_sync import SyncRunner
from printstation.daemon.sync_client import check_sync_settings
from printstation.harness.kit import (
    EXE,
    Station,
    drop_by_rename,
    invoice,
    running,
    station_at,
    wait_for,
)
from printstation.harness.receiver import add_sync
from printstation.spool import Journal, outbox
from printstation.spool.states import SyncState


class LyingHeadOffice:
    """A head office that answers `acked_through` above what it was sent (by `lie_by`), or
    a fixed `get` for `GET /stations/ID`. It stores nothing."""

    def __init__(self, lie_by: int = 5, get: int = 0):
        self.lie_by, self.get = lie_by, get
        self.posts: list[tuple[int, int]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                first, last = body["events"][0]["seq"], body["events"][-1]["seq"]
                owner.posts.append((first, last))
                self.answer({"acked_through": last + owner.lie_by})

            def do_GET(self) -> None:
                self.answer({"acked_through": owner.get})

            def answer(self, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def liar() -> Iterator[LyingHeadOffice]:
    ho = LyingHeadOffice()
    yield ho
    ho.close()


def runner_for(station: Station) -> SyncRunner:
    settings = load_settings(station.config)
    settings.station.data_dir.mkdir(parents=True, exist_ok=True)
    runner = SyncRunner(Context(settings, load_stocks(settings.config_dir / "stocks")[0]))
    runner.setup()
    return runner


def append_events(journal: Journal, count: int) -> None:
    with journal.transaction():
        for n in range(count):
            journal.append_event("test.note", payload={"n": n})


def synced(journal: Journal) -> int:
    return journal.conn.execute(
        "SELECT count(*) FROM events WHERE synced_at IS NOT NULL").fetchone()[0]


# -- head office's word ---------------------------------------------------------------------

def test_an_ack_above_what_was_ever_sent_marks_nothing(journal: Journal) -> None:
    append_events(journal, 10)
    outbox.record_sent(journal, 4)
    with pytest.raises(outbox.NeverSent, match=r"acked_through 6.*up to seq 4"):
        outbox.acknowledge(journal, 6)
    assert synced(journal) == 0 and outbox.acked_through(journal.conn) == 0
    assert outbox.acknowledge(journal, 4) == (4, 0)
    # The mark only rises: a later, smaller request does not lower it.
    outbox.record_sent(journal, 2)
    assert outbox.sent_through(journal.conn) == 4


def test_a_post_answered_above_its_events_halts_sync_and_marks_nothing(
        tmp_path: Path, liar: LyingHeadOffice) -> None:
    station = station_at(tmp_path)
    add_sync(station, liar.url)
    runner = runner_for(station)
    try:
        append_events(runner.journal, 3)
        assert runner.run_once() is False
        assert liar.posts == [(1, 3)]
        assert runner.state is SyncState.HALTED
        assert "acked_through 8" in runner.last_error and "up to seq 3" in runner.last_error
        assert synced(runner.journal) == 0 and runner.acked == 0
        # Halted means halted: no new try until an operator resumes it.
        append_events(runner.journal, 1)
        assert runner.run_once() is False and len(liar.posts) == 1
    finally:
        runner.teardown()


def test_head_office_claiming_more_than_was_ever_sent_halts_at_the_first_question(
        tmp_path: Path, liar: LyingHeadOffice) -> None:
    liar.get = 7  # nothing was ever sent
    station = station_at(tmp_path)
    add_sync(station, liar.url)
    runner = runner_for(station)
    try:
        runner.run_once()
        assert runner.state is SyncState.HALTED and liar.posts == []
        assert "acked_through 7" in runner.last_error
    finally:
        runner.teardown()


def test_an_ack_of_an_earlier_larger_request_is_believed(tmp_path: Path,
                                                         liar: LyingHeadOffice) -> None:
    """Killed after head office took seq 1-10 and before the station recorded it, then
    restarted with a smaller batch: head office truly holds 10, more than this request's
    last seq, but no more than was ever sent. That is not a lie."""
    station = station_at(tmp_path)
    add_sync(station, liar.url, batch=4)
    runner = runner_for(station)
    try:
        append_events(runner.journal, 10)
        outbox.record_sent(runner.journal, 10)
        liar.lie_by = 6  # the answer to 1-4 is 10
        assert runner.run_once() is True
        assert runner.state is not SyncState.HALTED and synced(runner.journal) == 10
    finally:
        runner.teardown()


@pytest.mark.e2e
def test_the_daemon_halts_sync_loudly_and_keeps_printing(tmp_path: Path,
                                                          liar: LyingHeadOffice) -> None:
    station = station_at(tmp_path)
    add_sync(station, liar.url)

    def sync_doc() -> dict:
        done = station.cli("sync", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def printed() -> int:
        with station.db() as conn:
            return conn.execute("SELECT count(*) FROM jobs WHERE state = 'printed'"
                                ).fetchone()[0]

    with running(station):
        drop_by_rename(station, "a.json", json.dumps(invoice("00110001")).encode())
        doc = wait_for(lambda: (d := sync_doc())["state"] == "halted" and d,
                       what="sync halted")
        # The daemon lives on: the next invoice prints, and nothing more is sent.
        posts = len(liar.posts)
        drop_by_rename(station, "b.json", json.dumps(invoice("00110002")).encode())
        wait_for(lambda: printed() == 2, what="printed after the halt")
        assert station.proc.poll() is None and len(liar.posts) == posts
        check = station.cli("status", "--check")
        log = station.log_text()
    assert "acked_through" in doc["last_error"]
    assert "no event was marked synced" in doc["last_error"]
    assert check.returncode == 1 and "sync is halted" in check.stdout
    assert "level=error event=sync.ahead" in log and "level=error event=sync.halted" in log
    with station.db() as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE synced_at IS NOT NULL"
                            ).fetchone()[0] == 0
    assert doc["acked_through"] == 0


# -- plain http -----------------------------------------------------------------------------

def config_with_sync(tmp_path: Path, url: str, **keys: object) -> Path:
    station = station_at(tmp_path)
    add_sync(station, url, **keys)
    return station.config


@pytest.mark.parametrize("url", ["http://192.0.2.1/", "http://example.invalid:8080/ho",
                                 "http://10.0.0.5"])
def test_plain_http_beyond_this_machine_is_a_config_error(tmp_path: Path, url: str) -> None:
    config = config_with_sync(tmp_path, url)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    text = str(caught.value)
    assert f"{config}: sync.url: " in text and "allow_plain_http = true" in text
    done = subprocess.run([EXE, "--config", config, "check-config"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 78, done.stdout
    assert "sync.url" in done.stderr and "allow_plain_http" in done.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://127.8.9.10/", "http://[::1]:9",
                                 "http://localhost:8631/ho", "https://192.0.2.1/"])
def test_this_machine_and_https_need_no_permission(tmp_path: Path, url: str) -> None:
    settings = load_settings(config_with_sync(tmp_path, url))
    check_sync_settings(settings)
    assert settings.sync.allow_plain_http is False


def test_allow_plain_http_lets_it_through(tmp_path: Path) -> None:
    settings = load_settings(config_with_sync(tmp_path, "http://192.0.2.1/",
                                              allow_plain_http=True))
    assert settings.sync.allow_plain_http is True
    check_sync_settings(settings)
    # And the check holds on its own, for settings that did not come from the loader.
    refused = dataclasses.replace(settings, sync=dataclasses.replace(
        settings.sync, allow_plain_http=False))
    with pytest.raises(ConfigInvalid, match=r"^sync\.url: .*allow_plain_http"):
        check_sync_settings(refused)


def test_allow_plain_http_must_be_a_boolean(tmp_path: Path) -> None:
    config = config_with_sync(tmp_path, "https://ho.example.com", allow_plain_http="yes")
    with pytest.raises(ConfigError, match=r"sync\.allow_plain_http: must be true or false"):
        load_settings(config)


@pytest.mark.e2e
def test_run_refuses_plain_http_with_exit_78(tmp_path: Path) -> None:
    config = config_with_sync(tmp_path, "http://192.0.2.1/")
    done = subprocess.run([EXE, "--config", config, "run"], capture_output=True, text=True,
                          timeout=30, cwd=config.parent)
    assert done.returncode == 78, done.stderr
    assert "sync.url" in done.stderr and "allow_plain_http" in done.stderr


# -- the token file -------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o640, 0o620, 0o604, 0o660])
def test_a_token_file_its_group_or_others_may_use_is_refused(tmp_path: Path,
                                                             mode: int) -> None:
    settings = load_settings(config_with_sync(tmp_path, "https://ho.example.com"))
    token = settings.sync.token_file
    token.chmod(mode)
    with pytest.raises(ConfigInvalid) as caught:
        check_sync_settings(settings)
    text = str(caught.value)
    assert text.startswith("sync.token_file: ") and f"chmod 600 {token}" in text
    assert f"mode {mode:04o}" in text
    for fine in (0o600, 0o400):
        token.chmod(fine)
        check_sync_settings(settings)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_token_file_of_another_user_is_refused(tmp_path: Path) -> None:
    settings = load_settings(config_with_sync(tmp_path, "https://ho.example.com"))
    os.chown(settings.sync.token_file, 65534, 65534)
    with pytest.raises(ConfigInvalid, match=r"sync\.token_file: .* not to root who runs "
                                            r"the daemon: run `chown root "):
        check_sync_settings(settings)
    # Checked by another user than the daemon's (check-config as root): the mode only.
    check_sync_settings(settings, check_owner=False)


@pytest.mark.e2e
def test_run_refuses_a_group_readable_token_with_exit_78(tmp_path: Path) -> None:
    config = config_with_sync(tmp_path, "https://ho.example.com")
    token = config.parent / "token"
    token.chmod(0o640)
    done = subprocess.run([EXE, "--config", config, "run"], capture_output=True, text=True,
                          timeout=30, cwd=config.parent)
    assert done.returncode == 78, done.stderr
    assert str(token) in done.stderr and f"chmod 600 {token}" in done.stderr
