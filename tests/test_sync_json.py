"""The sync body's JSON (base/json_fast.py): orjson where it writes the same document as
the standard library, the standard library otherwise, and stored payloads sent verbatim."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printstation.base import json_fast
from printstation.base.json_fast import Raw
from printstation.spool import Journal, outbox


def stdlib(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# What a sync body holds: strings (Chinese names, emoji), ints, finite floats, nesting.
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(values)
def test_the_document_is_the_standard_librarys(doc: Any) -> None:
    try:
        expected = stdlib(doc)
    except UnicodeEncodeError:
        # A lone surrogate: refused either way, as before.
        with pytest.raises(UnicodeEncodeError):
            json_fast.dumps(doc)
        return
    got = json_fast.dumps(doc)
    # Byte for byte but for float spellings (1e-07 / 1e-7), which parse the same.
    assert json.loads(got) == json.loads(expected)


def test_raw_text_goes_in_verbatim_and_big_integers_fall_back() -> None:
    payload = '{"buyer":"北京某某公司","total":"1130.00"}'
    doc = {"seq": 1, "payload": Raw(payload)}
    assert json_fast.dumps(doc) == b'{"seq":1,"payload":' + payload.encode() + b"}"
    # An integer orjson cannot write sends the whole document through the standard
    # library, which still embeds the raw text as its value.
    doc["big"] = 2**70
    assert json.loads(json_fast.dumps(doc)) == {"seq": 1, "payload": json.loads(payload),
                                                "big": 2**70}


def test_without_orjson_the_standard_library_writes_it(monkeypatch) -> None:
    monkeypatch.setattr(json_fast, "orjson", None)
    doc = {"a": "中", "p": Raw('{"x":[1,2]}')}
    assert json_fast.dumps(doc) == stdlib({"a": "中", "p": {"x": [1, 2]}})
    assert json_fast.loads(b'{"a":1}') == {"a": 1}


def test_what_either_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        json_fast.dumps({"at": dt.datetime.now(dt.UTC)})
    with pytest.raises(TypeError):
        json_fast.dumps({"object": object()})


def test_pending_events_are_sent_as_journaled(tmp_path: Path) -> None:
    """The body built from `outbox.pending` is the document the parsed events make: every
    field, each payload as stored (the canonical text its hash covers)."""
    journal = Journal(tmp_path / "journal.db", "TEST-001")
    with journal.transaction():
        for i in range(5):
            journal.append_event("job.printed", f"J{i}", f"1100-{i}",
                                 {"total": "1130.00", "buyer": "北京某某公司", "n": i,
                                  "offset_mm": [1.5, -0.5]})
    events = outbox.pending(journal.conn, 3)
    rows = journal.conn.execute("SELECT * FROM events ORDER BY seq LIMIT 3").fetchall()
    assert [e["seq"] for e in events] == [1, 2, 3]
    body = json_fast.dumps({"station": "TEST-001", "events": events})
    assert json.loads(body) == {"station": "TEST-001",
                                "events": [outbox.wire_event(r) for r in rows]}
    assert all(e["payload"].text == r["payload"] for e, r in zip(events, rows, strict=True))
    journal.close()
