"""Which names the intake leaves alone, and when content proves a file complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from printstation.daemon.stage_intake import complete_by_content, ignored


@pytest.mark.parametrize("name", [".hidden.json", "a.tmp", "a.json.part", "A.JSON.TMP",
                                  "x.crdownload", "~lock.json"])
def test_ignored(name: str) -> None:
    assert ignored(name)


@pytest.mark.parametrize("name", ["a.json", "B.XML", "c.Pdf", "d.ofd", "e.txt"])
def test_not_ignored(name: str) -> None:
    assert not ignored(name)


@pytest.mark.parametrize(("name", "data", "complete"), [
    ("a.json", b'{"a": 1}', True),
    ("a.json", b'{"a": ', False),
    ("a.json", '{"名": "值"}'.encode("gb18030"), True),
    ("a.pdf", b"%PDF-1.4\n...\n%%EOF\n", True),
    ("a.pdf", b"%PDF-1.4\n...", False),
    ("a.xml", b'<?xml version="1.0"?>\n<EInvoice><A/></EInvoice>\n', True),
    ("a.xml", b'<?xml version="1.0"?>\n<EInvoice><A/>', False),
    ("a.ofd", b"PK\x03\x04", False),
])
def test_complete_by_content(tmp_path: Path, name: str, data: bytes, complete: bool) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert complete_by_content(path, name) is complete


def test_a_batch_the_journal_cannot_record_goes_back_and_waits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files found ready in one pass are claimed as one batch and recorded in one commit;
    if the data folder is full, every file of the batch goes back to the drop folder."""
    import sqlite3
    import time

    from printstation.config import load_config
    from printstation.daemon.context import Context
    from printstation.daemon.stage_intake import IntakeRunner
    from printstation.harness.docs import js, special
    from printstation.harness.kit import write_config
    from printstation.spool import batches

    ctx = Context.of(load_config(write_config(tmp_path)))
    ctx.settings.intake.drop_dir.mkdir(parents=True, exist_ok=True)
    ctx.spool.create()
    woken = []
    runner = IntakeRunner(ctx, lambda: woken.append(1))
    runner._journal = ctx.open_journal()
    files = {f"f{i}.json": js(special(number=f"{180000 + i:08d}")) for i in range(5)}
    for name, data in files.items():
        (runner.drop / name).write_bytes(data)
    real = batches.register_sources
    calls = []

    def full(journal: object, claimed: list) -> list[str]:
        calls.append(len(claimed))
        exc = sqlite3.OperationalError("database or disk is full")
        exc.sqlite_errorcode = 13  # SQLITE_FULL, as SQLite sets it
        raise exc

    try:
        monkeypatch.setattr(batches, "register_sources", full)
        runner.run_once()
        assert calls == [5]
        assert {p.name: p.read_bytes() for p in runner.drop.iterdir()} == files
        assert not os.listdir(ctx.spool.root) and runner._held_until and not woken
        monkeypatch.setattr(batches, "register_sources", real)
        runner._held_until = time.monotonic() - 1  # the retry is due
        runner.run_once()
        assert not os.listdir(runner.drop) and runner.problem is None and woken == [1]
        names = [r["name"] for r in runner.journal.conn.execute(
            "SELECT name FROM sources ORDER BY rowid")]
        assert names == sorted(files)
        assert sorted(p.name.split("--", 1)[1] for p in ctx.spool.root.iterdir()) == \
            sorted(files)
    finally:
        runner.journal.close()
