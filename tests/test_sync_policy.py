"""The sync worker's retry policy, as units: Retry-After, backoff, and its interruptible sleep."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from printstation.config import load_settings, load_stocks
from printstation.daemon.context import Context
from printstation.daemon.stage_sync import ShutdownRequested, SyncRunner
from printstation.daemon.sync_client import (
    RETRY_AFTER_MAX_S,
    Temporary,
    TokenProblem,
    parse_retry_after,
    read_token,
)
from printstation.harness.kit import write_config

NOW = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0), ("0", 0.0), (None, None), ("soon", None),
    ("Sat, 28 Nov 2026 08:01:30 GMT", 90.0), ("Sat, 28 Nov 2026 07:00:00 GMT", 0.0),
    ("999999", RETRY_AFTER_MAX_S),
])
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_token_file_rules(tmp_path: Path) -> None:
    token = tmp_path / "token"
    with pytest.raises(TokenProblem, match="cannot read"):
        read_token(token)
    token.write_text("abc def\n")
    token.chmod(0o600)
    with pytest.raises(TokenProblem, match="one token"):
        read_token(token)
    token.write_text("abc\n")
    assert read_token(token) == "abc"
    token.chmod(0o604)
    with pytest.raises(TokenProblem, match="readable by others"):
        read_token(token)


@pytest.fixture
def runner(tmp_path: Path) -> SyncRunner:
    config = write_config(tmp_path)
    with config.open("a") as fh:
        fh.write('\n[sync]\nurl = "http://127.0.0.1:9"\nbackoff_max_s = 8\n')
    settings = load_settings(config)
    return SyncRunner(Context(settings, load_stocks(settings.config_dir / "stocks")[0]))


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def later(seconds: float, action) -> None:
    threading.Timer(seconds, action).start()


def test_a_new_event_ends_a_backoff_early(runner: SyncRunner) -> None:
    runner._honour_wait = False
    later(0.1, runner.wake)
    assert timed(lambda: runner._retry_sleep(30)) < 5


def test_a_new_event_does_not_end_a_wait_head_office_asked_for(runner: SyncRunner) -> None:
    runner._honour_wait = True
    later(0.1, runner.wake)
    assert timed(lambda: runner._retry_sleep(1.5)) >= 1.5


def test_sync_now_ends_even_a_retry_after_wait(runner: SyncRunner) -> None:
    runner._honour_wait = True
    later(0.1, runner.kick)
    assert timed(lambda: runner._retry_sleep(30)) < 5


def test_shutdown_raises_out_of_the_sleep(runner: SyncRunner) -> None:
    later(0.1, runner.stop)
    with pytest.raises(ShutdownRequested):
        runner._retry_sleep(30)


def test_waits_are_full_jitter_capped_or_retry_after(runner: SyncRunner) -> None:
    class State:
        def __init__(self, attempt: int, error: Exception):
            self.attempt_number = attempt
            self.outcome = type("Outcome", (), {"exception": lambda _self: error})()

    waits = [runner._wait(State(n, Temporary("down"))) for n in range(1, 200)]
    assert all(0 <= w <= 8 for w in waits)
    assert len({round(w, 3) for w in waits}) > 100  # jittered, not a fixed ladder
    assert max(waits[10:]) > 4  # grows to the cap
    assert runner._wait(State(3, Temporary("busy", retry_after=42.0))) == 42.0
    assert runner._honour_wait
