"""What a red-team pass found in head office's receiver (issue 18), each now refused or
contained: ambiguous framing, times and fields one station could break the dashboard
with, a lone surrogate, a dashboard form dribbled to hold its threads, and `token`
commands racing each other."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from printstation.harness.kit import EXE
from printstation.harness.receiver import Receiver, chain
from printstation.harness.slowclients import post_head, raw
from printstation.headoffice import tokens
from printstation.headoffice.protocol import BODY_FIELDS
from printstation.spool.journal import GENESIS, event_hash

pytestmark = pytest.mark.e2e

TOKENS = {"RT-1": "rt-token-1-0123456789", "RT-2": "rt-token-2-0123456789"}


@pytest.fixture(scope="module")
def ho(tmp_path_factory: pytest.TempPathFactory):
    receiver = Receiver(tmp_path_factory.mktemp("ho"), TOKENS)
    receiver.start()
    yield receiver
    receiver.stop()


def one_event(station: str, **change: object) -> bytes:
    event = {**chain(1, station)[0], **change}
    try:
        event["hash"] = event_hash(GENESIS, {k: event[k] for k in BODY_FIELDS})
    except UnicodeEncodeError:
        event["hash"] = "0" * 64  # no hash can be made of a lone surrogate
    return json.dumps({"station": station, "events": [event]}).encode()


def post(ho: Receiver, station: str, body: bytes, extra: str = ""):
    head = post_head(len(body), TOKENS[station], station,
                     extra=f"Idempotency-Key: {station}:1-1\n{extra}")
    return raw(ho.port, head, body)


def test_both_framings_or_two_tokens_are_refused_and_the_connection_closed(
        ho: Receiver) -> None:
    body = one_event("RT-1")
    smuggled = post(ho, "RT-1", body, extra="Transfer-Encoding: chunked\n")
    assert smuggled.status == 400 and smuggled.closed, smuggled
    twice = post(ho, "RT-1", body, extra=f"Authorization: Bearer {TOKENS['RT-2']}\n")
    assert twice.status == 400 and twice.closed, twice
    assert ho.station("RT-1")["acked_through"] == 0


@pytest.mark.parametrize("change, words", [
    ({"at": "9999-12-31T23:59:59Z"}, b"UTC time"),
    ({"at": "garbage"}, b"UTC time"),
    ({"invoice_key": "K" * 5000}, b"longer than"),
    ({"payload": {"total": "1.00", "invoice": {"buyer_name": "x" * 3000}}}, b"longer than"),
    ({"job_id": "J\ud800"}, b"UTF-8"),
])
def test_one_stations_odd_values_are_refused(ho: Receiver, change: dict, words: bytes
                                             ) -> None:
    body = one_event("RT-2", **change)
    answer = post(ho, "RT-2", body)
    assert answer.status == 400 and words in answer.body, answer
    assert ho.station("RT-2")["acked_through"] == 0


def test_a_dribbled_dashboard_form_holds_no_thread(ho: Receiver) -> None:
    """Twelve clients send a login form a byte a second: the dashboard still answers."""
    socks = []
    for _ in range(12):
        sock = socket.create_connection(("127.0.0.1", ho.port))
        sock.sendall(b"POST /dashboard/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nn")
        socks.append(sock)
    try:
        time.sleep(0.5)
        started = time.monotonic()
        answer = raw(ho.port, "GET /dashboard/login HTTP/1.1\nHost: x\n\n", timeout=5)
        assert answer.status == 200 and time.monotonic() - started < 2, answer
    finally:
        for sock in socks:
            sock.close()


def test_token_commands_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    tokens.add_token(path, "KEEP")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: subprocess.run(
            [str(EXE), "receiver", "token", "add", f"ST{n}", "--tokens", str(path)],
            capture_output=True, check=True), range(16)))
    held = {line.station for line in tokens.list_tokens(path)}
    assert held == {"KEEP", *(f"ST{n}" for n in range(16))}
    # A revoke racing adds is never undone.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(tokens.add_token, path, f"NEW{n}") for n in range(6)]
        futures.append(pool.submit(tokens.revoke_tokens, path, "KEEP"))
        for future in futures:
            future.result()
    assert "KEEP" not in {line.station for line in tokens.list_tokens(path)}


def test_token_command_mistakes_are_usage_errors(tmp_path: Path) -> None:
    comment = subprocess.run([str(EXE), "receiver", "token", "add", "#HQ-7", "--tokens",
                              str(tmp_path / "tokens")], capture_output=True, text=True)
    assert comment.returncode == 2 and "#" in comment.stderr
    nowhere = subprocess.run([str(EXE), "receiver", "token", "add", "HQ-7", "--tokens",
                              str(tmp_path / "no" / "tokens")], capture_output=True, text=True)
    assert nowhere.returncode == 2 and "no such folder" in nowhere.stderr
    assert "Traceback" not in comment.stderr + nowhere.stderr
