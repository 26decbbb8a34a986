"""The journal: guarded transitions, gap-free seq, a hash chain that shows tampering."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from printstation.spool import (
    SCHEMA_VERSION,
    IllegalTransition,
    Journal,
    Outcome,
    State,
    StationMismatch,
    verify_chain,
)
from printstation.spool.batches import NewSource, register_sources
from printstation.spool.states import FINAL, TRANSITIONS


def test_pragmas_and_schema_version(journal: Journal) -> None:
    c = journal.conn
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_reopening_migrates_nothing_and_keeps_the_station(tmp_path: Path) -> None:
    Journal(tmp_path / "j.db", "ST-1").close()
    Journal(tmp_path / "j.db", "ST-1").close()
    with pytest.raises(StationMismatch):
        Journal(tmp_path / "j.db", "ST-2")


def test_final_states_have_no_way_out() -> None:
    for state in FINAL:
        assert state not in TRANSITIONS


def test_pipeline_transitions_and_events(journal: Journal) -> None:
    job = journal.register_source("S1", b"a.json", "S1--a.json", "ab" * 32, 10)
    row = journal.next_incoming()
    assert row["id"] == job and row["spool_name"] == "S1--a.json"
    invoice_json = json.dumps({"kind": "vat-special", "code": "K", "number": "1",
                               "date": "2026-11-20", "buyer": {"name": "b", "tin": "t"},
                               "total_amount": "1.00", "total_tax": "0.13", "total": "1.13"})
    ids = journal.settle_read(row, [
        Outcome(State.QUEUED, kind="vat-special", invoice_key="K-1", printer="p",
                invoice_json=invoice_json),
        Outcome(State.REJECTED, "total.sum", errors="[]"),
    ])
    assert ids == ["S1", "S1-2"]
    assert journal.next_for_printer("p", State.QUEUED)["id"] == "S1"
    with journal.transaction():
        journal.transition("S1", State.SUBMITTED, cups_job_id="ext-1")
    journal.mark_printed("S1")
    inv = journal.conn.execute("SELECT * FROM invoices").fetchone()
    assert (inv["key"], inv["state"], inv["print_count"], inv["job_id"]) == \
        ("K-1", "printed", 1, "S1")
    types = [r["type"] for r in journal.conn.execute("SELECT type FROM events ORDER BY seq")]
    assert types == ["job.incoming", "job.queued", "job.created", "job.rejected",
                     "job.submitted", "job.printed"]
    assert journal.conn.execute("SELECT at FROM events LIMIT 1").fetchone()[0] == \
        "2026-11-28T03:00:00.123Z"
    assert verify_chain(journal.conn) == (6, None)
    assert [r["id"] for r in journal.sources_to_finish()] == ["S1"]


def test_illegal_transition_changes_nothing(journal: Journal) -> None:
    journal.register_source("S1", b"a.json", "S1--a.json", None, None)
    before = journal.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    with pytest.raises(IllegalTransition), journal.transaction():
        journal.transition("S1", State.PRINTED)
    assert journal.conn.execute("SELECT state FROM jobs").fetchone()[0] == "incoming"
    assert journal.conn.execute("SELECT count(*) FROM events").fetchone()[0] == before


def test_tampering_is_found_at_the_edited_event(journal: Journal, tmp_path: Path) -> None:
    for i in range(5):
        journal.register_source(f"S{i}", f"{i}.json".encode(), f"S{i}--{i}.json", None, 1)
    assert verify_chain(journal.conn) == (5, None)
    other = sqlite3.connect(tmp_path / "journal.db")
    other.execute("UPDATE events SET payload = '{\"file\":\"evil.json\"}' WHERE seq = 3")
    other.commit()
    other.close()
    checked, problem = verify_chain(journal.conn)
    assert (checked, problem) == (2, "event seq 3 does not match its hash")


def test_a_missing_event_is_a_gap(journal: Journal, tmp_path: Path) -> None:
    for i in range(3):
        journal.register_source(f"S{i}", f"{i}.json".encode(), f"S{i}--{i}.json", None, 1)
    other = sqlite3.connect(tmp_path / "journal.db")
    other.execute("DELETE FROM events WHERE seq = 2")
    other.commit()
    other.close()
    assert verify_chain(journal.conn)[1] == "seq 2 is missing (next is 3)"


# -- group commit (spool/batches.py) ---------------------------------------------------------

def test_register_sources_is_one_commit_in_order(journal: Journal) -> None:
    batch = [NewSource(f"S{i}", f"{i}.json".encode(), f"S{i}--{i}.json", None, 1)
             for i in range(5)]
    assert register_sources(journal, batch) == [f"S{i}" for i in range(5)]
    rows = journal.conn.execute("SELECT job_id, seq FROM events ORDER BY seq").fetchall()
    assert [r["job_id"] for r in rows] == [f"S{i}" for i in range(5)]
    assert verify_chain(journal.conn) == (5, None)
    assert [r["id"] for r in journal.next_incoming_batch(3)] == ["S0", "S1", "S2"]
    # One file that cannot be recorded (an id already used) records none of the batch.
    with pytest.raises(sqlite3.IntegrityError):
        register_sources(journal, [NewSource("S9", b"9.json", "S9--9.json", None, 1),
                                   NewSource("S0", b"0.json", "S0--x.json", None, 1)])
    assert journal.conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 5
    assert verify_chain(journal.conn) == (5, None)


def _read_all(tmp_path: Path, files: dict[str, bytes], batch_files: int,
              monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str | None]]:
    """Register `files` as claimed, let a reader read them `batch_files` at a time, and
    return each job's (file, state, reason) in arrival order."""
    from printstation.config import load_config
    from printstation.daemon import stage_read
    from printstation.daemon.context import Context
    from printstation.harness.kit import write_config

    monkeypatch.setattr(stage_read, "BATCH_FILES", batch_files)
    monkeypatch.setattr(stage_read, "BATCH_S", 60.0)  # the first check loads the rules
    ctx = Context.of(load_config(write_config(tmp_path)))
    ctx.spool.create()
    runner = stage_read.ReadRunner(ctx, lambda: None)
    runner._journal = journal = ctx.open_journal()
    try:
        claimed = []
        for i, (name, data) in enumerate(files.items()):
            spool_name = f"S{i:02d}--{name}"
            ctx.spool.path(spool_name).write_bytes(data)
            claimed.append(NewSource(f"S{i:02d}", name.encode(), spool_name,
                                     hashlib.sha256(data).hexdigest(), len(data)))
        register_sources(journal, claimed)
        sizes = []
        while (batch := runner.read_batch()):
            sizes.append(len(batch))
            batch.settle(journal)
        assert max(sizes) == min(batch_files, len(files))
        return [(r["source_name"], r["state"], r["reason"]) for r in journal.conn.execute(
            "SELECT * FROM jobs ORDER BY source_seq, batch_index")]
    finally:
        journal.close()


def test_a_batch_of_reads_decides_as_one_by_one(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Duplicates inside one uncommitted batch are found as if each file had been
    committed before the next was read: the same invoice number twice, the same bytes
    twice, and the same bad bytes twice (a refused file is no earlier copy)."""
    from printstation.harness.docs import js, special

    one = js(special(number="00170001"))
    files = {"a.json": one, "a-renamed.json": js(special(number="00170001")) + b"\n",
             "a-copy.json": one, "bad.json": b'{"kind": ', "bad-copy.json": b'{"kind": ',
             "b.json": js(special(number="00170002"))}
    batched = _read_all(tmp_path / "batched", files, 32, monkeypatch)
    assert batched == _read_all(tmp_path / "single", files, 1, monkeypatch)
    assert [(state, reason) for _, state, reason in batched] == [
        ("queued", None), ("rejected", "invoice.duplicate"), ("rejected", "file.duplicate"),
        ("rejected", "parse.json"), ("rejected", "parse.json"), ("queued", None)]
