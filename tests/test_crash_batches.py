"""Crash safety of the finisher's batches (spool/finishing.py): SIGKILL in the middle of a
batch of files, restart, and prove the promises.

A batch is made certain, not left to timing: while the results folder (or the rejected
folder) is swapped for a plain file, the finisher moves every file (or journals where it
goes) and then fails on each, to retry later. The daemon is killed, the folder put back,
and the next start finds all of them ready at once: one batch, which the crash point cuts.
After the last restart every file is in exactly one place, byte-identical, each valid
invoice printed once, and each file has one result file (none under a second name).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from printstation.harness.docs import js, special
from printstation.harness.kit import (
    EXE,
    Station,
    drop_by_rename,
    printed_counts,
    settled_all,
    wait_for,
)
from printstation.spool import connect, verify_chain

pytestmark = pytest.mark.e2e

VALID = ["00130001", "00130002", "00130003", "00130009"]


def drops() -> dict[str, bytes]:
    files = {f"v{i}.json": js(special(number=VALID[i])) for i in range(3)}
    files.update({f"bad{i}.json": b'{"kind": ' + str(i).encode() for i in range(3)})
    # One invoice prints, one is refused: archived, with its report in the rejected folder.
    files["mixed.json"] = js({"invoices": [special(number=VALID[3]),
                                           special(number="00130010", total="1.00")]})
    return files


def sources(station: Station, state: str) -> dict[str, bytes | None]:
    """File name -> journaled destination, of the files in `state`."""
    with station.db() as conn:
        return {r["name"]: r["destination"] for r in conn.execute(
            "SELECT name, destination FROM sources WHERE state = ?", (state,))}


def unfinished(station: Station) -> set[str]:
    return set(sources(station, "open")) | set(sources(station, "finishing"))


def block(folder: Path) -> Path:
    """Put a plain file where `folder` was: nothing can be written in it."""
    away = folder.with_name(folder.name + ".away")
    os.rename(folder, away)
    folder.write_bytes(b"")
    return away


def unblock(folder: Path, away: Path) -> None:
    folder.unlink()
    os.rename(away, folder)


def run_to_crash(station: Station, point: str) -> None:
    """Start the daemon with crash point `point` and wait for its SIGKILL (which may come
    before it says it is ready: the finisher's first pass runs at start)."""
    with open(station.log, "ab") as log:
        proc = subprocess.run(
            [str(EXE), "--config", str(station.config), "run"], stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, "PRINTSTATION_CRASH_AT": point},
            cwd=station.folder, timeout=30, check=False)
    assert proc.returncode == -9, station.log_text()


def copies(station: Station, name: str, data: bytes) -> list[Path]:
    """Every place holding file `name` (by its name), each checked byte-identical."""
    found = [p for p in (station.inbox / name, station.rejected / name) if p.exists()]
    found += [p for p in (station.data / "spool").glob(f"*--{name}")]
    found += [p for p in station.archived() if p.name.split("--", 1)[1] == name]
    assert all(p.read_bytes() == data for p in found), found
    return found


def check_promises(station: Station, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert len(copies(station, name, data)) == 1, name
    valid = {n for n in files if n.startswith(("v", "mixed"))}
    assert printed_counts(station) == dict.fromkeys(VALID, 1)
    assert {p.name.split("--", 1)[1] for p in station.archived()} == valid
    assert {p.name for p in station.rejected.iterdir()} == \
        {n for n in files if n.startswith("bad")} | {f"{n}.error.txt" for n in files
                                                    if not n.startswith("v")}
    # One result per file, under its own name: none written twice under another.
    assert sorted(p.name for p in station.results.iterdir()) == \
        sorted(f"{n}.result.json" for n in files)
    assert not list(station.inbox.iterdir())
    assert not list((station.data / "spool").iterdir())
    assert not unfinished(station)
    assert verify_chain(connect(station.data / "journal.db", readonly=True))[1] is None


@pytest.mark.parametrize("point", ["after_finish_moves", "after_finish_results"])
def test_sigkill_between_a_batch_of_moves_and_its_commit(station: Station, point: str) -> None:
    files = drops()
    station.start()
    away = block(station.results)
    for name, data in files.items():
        drop_by_rename(station, name, data)
    # Every file moved to its place, none finished: each waits for its result file.
    wait_for(lambda: len(station.archived()) == 4 and
             len(list(station.rejected.glob("*.txt"))) == 4, what="every file moved")
    station.kill()
    unblock(station.results, away)
    assert unfinished(station) == set(files)
    run_to_crash(station, point)
    # The whole batch was handled before its one commit: none of it is finished.
    assert unfinished(station) == set(files)
    if point == "after_finish_results":
        assert all(station.result(name) for name in files)
    station.start()
    wait_for(lambda: settled_all(station, list(files)) and not unfinished(station),
             what="everything finished")
    check_promises(station, files)
    station.stop()


@pytest.mark.parametrize("point", ["after_move", "after_finish_moves"])
def test_sigkill_mid_batch_of_rejections_resumes_the_journaled_moves(
        station: Station, point: str) -> None:
    files = {f"bad{i}.json": b'{"kind": ' + str(i).encode() for i in range(4)}
    station.start()
    away = block(station.rejected)
    for name, data in files.items():
        drop_by_rename(station, name, data)
    # Where each goes is journaled; none moved (its report cannot be written there).
    wait_for(lambda: set(sources(station, "finishing")) == set(files), what="all planned")
    station.kill()
    unblock(station.rejected, away)
    planned = sources(station, "finishing")
    run_to_crash(station, point)
    moved = [n for n in files if (station.rejected / n).exists()]
    # One batch: cut after its first move, or after all of them, before its commit.
    assert len(moved) == (1 if point == "after_move" else len(files))
    assert set(sources(station, "finishing")) == set(files)
    station.start()
    wait_for(lambda: settled_all(station, list(files)) and not unfinished(station),
             what="everything finished")
    for name, data in files.items():
        # Each at the very name journaled before the crash, once.
        assert Path(os.fsdecode(planned[name])).read_bytes() == data
        assert len(copies(station, name, data)) == 1
    assert sorted(p.name for p in station.rejected.iterdir()) == \
        sorted([*files, *(f"{n}.error.txt" for n in files)])
    assert sorted(p.name for p in station.results.iterdir()) == \
        sorted(f"{n}.result.json" for n in files)
    assert verify_chain(connect(station.data / "journal.db", readonly=True))[1] is None
    station.stop()
