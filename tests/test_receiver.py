"""The reference receiver's side of the protocol (SPEC §11), spoken to over real HTTP."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest

from printstation.harness.receiver import TOKEN, Receiver
from printstation.spool.journal import GENESIS, event_hash

# Every test here talks to the reference receiver, which runs as its own process.
pytestmark = pytest.mark.e2e


def chain(count: int, station: str = "TEST-001", start_prev: str = GENESIS,
          first: int = 1, kind: str = "job.printed") -> list[dict]:
    events, prev = [], start_prev
    for seq in range(first, first + count):
        body = {"seq": seq, "id": f"e{seq}", "at": "2026-11-28T01:02:03.000Z",
                "station": station, "type": kind, "job_id": f"J{seq}", "invoice_key": None,
                "payload": {"total": "1.00", "note": "发票"}}
        digest = event_hash(prev, body)
        events.append({**body, "prev_hash": prev, "hash": digest})
        prev = digest
    return events


@pytest.fixture(scope="module")
def ho(tmp_path_factory: pytest.TempPathFactory):
    receiver = Receiver(tmp_path_factory.mktemp("ho"),
                        {"TEST-001": TOKEN, "OTHER-002": "other-token"})
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
