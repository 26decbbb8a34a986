"""The lifecycles of jobs, invoices, sheets, source files and sync: each table, and each
guard at work in the real code on a real journal."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from printstation.config import load_settings, load_stocks
from printstation.daemon.context import Context
from printstation.daemon.stage_sync import SyncRunner
from printstation.harness.kit import write_config
from printstation.spool import Journal, Outcome, State, operations, paper
from printstation.spool.states import (
    INVOICE,
    JOB,
    SHEET,
    SOURCE,
    SYNC,
    IllegalTransition,
    Lifecycle,
    SheetState,
    SourceState,
    SyncState,
    check_transition,
)

LIFECYCLES = [JOB, INVOICE, SHEET, SOURCE, SYNC]
by_name = pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.name)

# The moves each new table must allow, written out again so that changing a table is a
# deliberate act that also changes this list.
EXPECTED = {
    "invoice": {"printed>printed", "printed>voided", "voided>printed"},
    "sheet": {"loaded>used", "loaded>spoiled", "used>voided"},
    "source": {"open>archived", "open>finishing", "finishing>rejected"},
    "sync": {"off>off", "off>idle", "paused>idle", "paused>off", "halted>idle", "halted>off"}
    | {f"{a}>{b}" for a in ("idle", "sending", "retrying")
       for b in ("idle", "sending", "retrying", "paused", "halted", "off")},
}


def allowed(lifecycle: Lifecycle) -> set[str]:
    return {f"{old}>{new}" for old, news in lifecycle.transitions.items() for new in news}


# -- the tables --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_tables_are_as_written(name: str) -> None:
    (lifecycle,) = [lc for lc in LIFECYCLES if lc.name == name]
    assert allowed(lifecycle) == EXPECTED[name]


@by_name
def test_every_allowed_pair_passes_and_every_other_raises(lifecycle: Lifecycle) -> None:
    for old, new in itertools.product(lifecycle.states, repeat=2):
        if new in lifecycle.transitions.get(old, frozenset()):
            lifecycle.check("T1", old.value, new)
        else:
            with pytest.raises(IllegalTransition,
                               match=f"^{lifecycle.name} T1: {old} -> {new} is not allowed$"):
                lifecycle.check("T1", old.value, new)


@by_name
def test_final_states_have_no_way_out_and_every_other_has_one(lifecycle: Lifecycle) -> None:
    for state in lifecycle.states:
        assert bool(lifecycle.transitions.get(state)) == (state not in lifecycle.final), state


@by_name
def test_every_state_is_reachable_from_where_things_start(lifecycle: Lifecycle) -> None:
    seen, todo = set(lifecycle.initial), list(lifecycle.initial)
    while todo:
        for new in lifecycle.transitions.get(todo.pop(), frozenset()):
            if new not in seen:
                seen.add(new)
                todo.append(new)
    assert seen == set(lifecycle.states)


def test_a_table_with_a_way_out_of_a_final_state_is_refused() -> None:
    with pytest.raises(ValueError, match="final states"):
        Lifecycle("bad", SheetState, {SheetState.USED: frozenset({SheetState.VOIDED})},
                  frozenset({SheetState.USED}), frozenset({SheetState.LOADED}))


def test_the_job_guard_is_unchanged() -> None:
    check_transition("S1", "incoming", State.QUEUED)
    with pytest.raises(IllegalTransition, match=r"^job S1: incoming -> printed is not allowed$"):
        check_transition("S1", "incoming", State.PRINTED)


# -- the guards at work on a real journal ----------------------------------------------------

def invoice_json(number: str) -> str:
    return json.dumps({"kind": "vat-special", "code": "K", "number": number,
                       "date": "2026-11-20", "buyer": {"name": "b", "tin": "t"},
                       "total_amount": "1.00", "total_tax": "0.13", "total": "1.13"})


def submitted_job(journal: Journal, source_id: str, key: str) -> str:
    """A file read into a queued job for invoice `key`, submitted with the next free sheet."""
    journal.register_source(source_id, f"{source_id}.json".encode(), f"{source_id}--x.json",
                            None, 10)
    journal.settle_read(journal.next_incoming(), [
        Outcome(State.QUEUED, kind="vat-special", invoice_key=key, printer="p",
                invoice_json=invoice_json(key.split("-")[1]))])
    return submit(journal, source_id)


def submit(journal: Journal, job_id: str) -> str:
    sheet = paper.next_free(journal.conn, "p", "vat-special")
    with journal.transaction() as c:
        journal.transition(job_id, State.SUBMITTED, cups_job_id=f"x-{job_id}")
        paper.reserve(c, sheet, "vat-special", job_id, journal.now())
    return job_id


def snapshot(journal: Journal) -> list[tuple]:
    """Everything a refused move must leave as it was."""
    c = journal.conn
    return [tuple(r) for table in ("sources", "jobs", "invoices", "sheets", "events")
            for r in c.execute(f"SELECT * FROM {table} ORDER BY rowid")]


def sheets(journal: Journal) -> list[tuple]:
    return [tuple(r) for r in journal.conn.execute(
        "SELECT number, state, job_id, invoice_key FROM sheets ORDER BY id")]


def test_a_loaded_sheet_cannot_be_voided_and_stays_as_it_was(journal: Journal) -> None:
    paper.load(journal, "p", "vat-special", "K", "00000001", "00000002", "op")
    job = submitted_job(journal, "S1", "K-1")
    before = snapshot(journal)
    with pytest.raises(IllegalTransition, match="sheet held by job S1: loaded -> voided"), \
            journal.transaction() as c:
        paper.settle(c, job, SheetState.VOIDED, "K-1", "wrong", journal.now())
    assert snapshot(journal) == before
    assert sheets(journal)[0] == ("00000001", "loaded", "S1", None)


def test_void_then_void_again_is_refused_and_changes_nothing(journal: Journal) -> None:
    paper.load(journal, "p", "vat-special", "K", "00000001", "00000002", "op")
    journal.mark_printed(submitted_job(journal, "S1", "K-1"))
    assert sheets(journal)[0] == ("00000001", "used", "S1", "K-1")
    assert operations.void(journal, "K-1", "wrong buyer", "op") == \
        "K-1: voided, sheet K-00000001 voided"
    assert sheets(journal)[0][1] == "voided"
    before = snapshot(journal)
    with pytest.raises(operations.Refused, match="already voided"):
        operations.void(journal, "K-1", "again", "op")
    with pytest.raises(operations.Refused, match="not printed"):
        operations.void(journal, "K-9", "never printed", "op")
    assert snapshot(journal) == before


def test_a_voided_invoice_is_not_reprinted_but_its_file_dropped_again_prints(
        journal: Journal) -> None:
    paper.load(journal, "p", "vat-special", "K", "00000001", "00000003", "op")
    journal.mark_printed(submitted_job(journal, "S1", "K-1"))
    operations.void(journal, "K-1", "wrong buyer", "op")
    # A voided invoice is void for the tax bureau: `reprint` refuses it, changing nothing.
    before = snapshot(journal)
    with pytest.raises(operations.Refused, match="voided; a voided invoice cannot be printed"):
        operations.reprint(journal, "K-1", "asked", "op", None)
    assert snapshot(journal) == before
    # voided -> printed: its file read again (SPEC §7: no duplicate of a voided invoice).
    journal.mark_printed(submitted_job(journal, "S2", "K-1"))
    row = journal.conn.execute("SELECT state, print_count FROM invoices").fetchone()
    assert tuple(row) == ("printed", 2)
    assert [s[1] for s in sheets(journal)] == ["voided", "used", "loaded"]
    # printed -> printed: a reprint, a job whose source row is no file.
    journal.mark_printed(submit(journal, operations.reprint(journal, "K-1", "asked", "op",
                                                            None)))
    row = journal.conn.execute("SELECT state, print_count FROM invoices").fetchone()
    assert tuple(row) == ("printed", 3)
    (none,) = journal.conn.execute("SELECT state FROM sources WHERE name LIKE 'reprint %'")
    assert none[0] == SourceState.NONE


def rejected_file(journal: Journal) -> str:
    journal.register_source("S1", b"a.json", "S1--a.json", None, 10)
    journal.settle_read(journal.next_incoming(), [Outcome(State.REJECTED, "parse.json")])
    assert [r["id"] for r in journal.sources_to_finish()] == ["S1"]
    return "S1"


def test_finishing_a_file_twice_is_refused_and_changes_nothing(journal: Journal) -> None:
    source = rejected_file(journal)
    journal.plan_finish(source, b"/rejected/a.json")
    with pytest.raises(IllegalTransition, match="source S1: finishing -> finishing"):
        journal.plan_finish(source, b"/rejected/other.json")
    with pytest.raises(IllegalTransition, match="source S1: finishing -> archived"):
        journal.finish(source, True, {})
    journal.finish(source, False, {"file": "a.json"})
    assert journal.sources_to_finish() == []
    before = snapshot(journal)
    with pytest.raises(IllegalTransition, match="source S1: rejected -> rejected"):
        journal.finish(source, False, {"file": "a.json"})
    with pytest.raises(IllegalTransition, match="source S1: rejected -> finishing"):
        journal.plan_finish(source, b"/rejected/again.json")
    assert snapshot(journal) == before
    assert journal.conn.execute("SELECT state, destination FROM sources").fetchone()[:] == \
        ("rejected", b"/rejected/a.json")


def test_a_printed_file_is_archived_without_a_plan(journal: Journal) -> None:
    paper.load(journal, "p", "vat-special", "K", "00000001", "00000001", "op")
    journal.mark_printed(submitted_job(journal, "S1", "K-1"))
    journal.finish("S1", True, {})
    with pytest.raises(IllegalTransition, match="source S1: archived -> archived"):
        journal.finish("S1", True, {})
    types = [r[0] for r in journal.conn.execute("SELECT type FROM events WHERE type LIKE"
                                                " 'file.%'")]
    assert types == ["file.archived"]


@pytest.fixture
def runner(tmp_path: Path) -> SyncRunner:
    config = write_config(tmp_path)
    with config.open("a") as fh:
        fh.write(f'\n[sync]\nurl = "http://127.0.0.1:9"\n'
                 f'token_file = "{tmp_path / "no-such-token"}"\n')
    settings = load_settings(config)
    return SyncRunner(Context(settings, load_stocks(settings.config_dir / "stocks")[0]))


def test_sync_moves_only_as_its_table_says(runner: SyncRunner) -> None:
    assert runner.state is SyncState.IDLE
    # No token: the first try pauses sync (idle -> paused), and the status file says so
    # in a plain string.
    assert runner.run_once() is False
    assert runner.state is SyncState.PAUSED
    state = runner.snapshot()["state"]
    assert type(state) is str and state == "paused"
    assert json.loads(json.dumps(runner.snapshot()))["state"] == "paused"
    # Paused, it waits for an operator: a try of its own would be a move the table lacks.
    with pytest.raises(IllegalTransition, match="sync worker: paused -> sending"):
        runner._set_state(SyncState.SENDING)
    assert runner.state is SyncState.PAUSED
    # A reload resumes it (paused -> idle), and the missing token pauses it again.
    runner.reconfigure()
    assert runner.run_once() is False
    assert runner.state is SyncState.PAUSED
