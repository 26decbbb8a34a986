"""The reference receiver's side of the protocol (SPEC §11), spoken to over real HTTP."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest

from printstation.harness.receiver import TOKEN, Receiver, chain
from printstation.spool.journal import GENESIS

# Every test here talks to the reference receiver, which runs as its own process.
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ho(tmp_path_factory: pytest.TempPathFactory, headoffice_db_per_module: str | None):
    receiver = Receiver(tmp_path_factory.mktemp("ho"),
                        {"TEST-001": TOKEN, "OTHER-002": "other-token",
                         "BUSY-003": "busy-token"},
                        db=headoffice_db_per_module)
    receiver.start()
    yield receiver
    receiver.stop()


def post(ho: Receiver, events: list[dict], station: str = "TEST-001", token: str = TOKEN,
         key: str | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", ho.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if events:
        headers["Idempotency-Key"] = key or f"{station}:{events[0]['seq']}-{events[-1]['seq']}"
    conn.request("POST", "/events", json.dumps({"station": station, "events": events}),
                 headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def get(ho: Receiver, path: str, token: str = TOKEN) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", ho.port, timeout=10)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_protocol(ho: Receiver) -> None:
    events = chain(10)
    assert post(ho, events[:4]) == (200, {"acked_through": 4})
    # A batch sent again (its answer was lost) is counted as duplicates, stored once.
    assert post(ho, events[:6]) == (200, {"acked_through": 6})
    assert ho.station()["duplicates"] == 4
    # Past a gap nothing is stored: acked_through tells the station where to resume.
    assert post(ho, events[7:]) == (200, {"acked_through": 6})
    assert post(ho, events[6:]) == (200, {"acked_through": 10})
    assert [e["seq"] for e in ho.events()] == list(range(1, 11))
    assert get(ho, "/stations/TEST-001") == (200, {"station": "TEST-001", "acked_through": 10,
                                                   "last_hash": events[-1]["hash"]})

    # Same seq, different content: 409, and nothing changes.
    forged = chain(3, start_prev=events[7]["hash"], first=9, kind="job.cancelled")
    status, doc = post(ho, forged)
    assert status == 409 and doc["seq"] == 9 and doc["acked_through"] == 10
    # A next event that does not link to the last one held is a conflict too.
    status, doc = post(ho, chain(1, start_prev="f" * 64, first=11))
    assert status == 409 and doc["seq"] == 11
    # An event whose hash does not match its content is refused as a whole batch.
    tampered = chain(2, start_prev=events[-1]["hash"], first=11)
    tampered[1]["payload"]["total"] = "999.00"
    status, doc = post(ho, tampered)
    assert status == 422 and "seq 12" in doc["error"]
    assert ho.station()["acked_through"] == 10


@pytest.mark.parametrize(("change", "status", "words"), [
    ({"token": "nope"}, 401, "unknown token"),
    ({"token": "other-token"}, 403, "for station 'OTHER-002'"),
    ({"key": "TEST-001:1-2"}, 400, "Idempotency-Key must be 'TEST-001:1-1'"),
    ({"events": []}, 400, "non-empty list"),
    ({"events": [{**chain(1)[0], "seq": True}]}, 400, "'seq'"),
    ({"events": [chain(1, station="OTHER-002")[0]]}, 400, "of station 'OTHER-002'"),
    ({"events": chain(3)[::2]}, 400, "consecutive"),
])
def test_refusals(ho: Receiver, change: dict, status: int, words: str) -> None:
    events = change.get("events", chain(1))
    found, doc = post(ho, events, token=change.get("token", TOKEN), key=change.get("key"))
    assert found == status and words in doc["error"], doc


def test_station_lookup_is_the_stations_own(ho: Receiver) -> None:
    assert get(ho, "/stations/OTHER-002")[0] == 403
    assert get(ho, "/stations/OTHER-002", "other-token") == (
        200, {"station": "OTHER-002", "acked_through": 0, "last_hash": GENESIS})
    assert get(ho, "/nowhere")[0] == 404


def test_tokens_file_is_reread(ho: Receiver, tmp_path: Path) -> None:
    original = ho.tokens.read_text()
    ho.tokens.write_text(original + "NEW-003 new-token\n")
    try:
        assert get(ho, "/stations/NEW-003", "new-token")[0] == 200
    finally:
        ho.tokens.write_text(original)


def test_concurrent_duplicate_posts_store_each_event_once_in_order(ho: Receiver) -> None:
    """Eight connections post the same 600 events at once, in overlapping batches of
    different sizes: head office stores each event once, in order, its chain intact."""
    events = chain(600, station="BUSY-003")
    barrier = threading.Barrier(8)
    answers: list[tuple[int, dict]] = []

    def poster(n: int) -> None:
        barrier.wait()
        size, start = 40 + 13 * n, 0
        while start < len(events):
            status, doc = post(ho, events[start:start + size], "BUSY-003", "busy-token")
            if status == 503:
                # One station's bodies are taken two at a time: come back, as a station
                # would (sooner than asked, to keep the test short).
                time.sleep(0.05)
                continue
            answers.append((status, doc))
            if status != 200:
                return
            start += size // 2 + 1  # the next batch resends half of this one

    threads = [threading.Thread(target=poster, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(status == 200 for status, _ in answers), answers
    held = ho.events("BUSY-003")
    assert [(e["seq"], e["hash"]) for e in held] == [(e["seq"], e["hash"]) for e in events]
    assert all(h["prev_hash"] == e["prev_hash"] for h, e in zip(held, events, strict=True))
    assert ho.station("BUSY-003")["duplicates"] > 0
