"""A full data folder, for real: `data_dir` on a small tmpfs, filled to the last block.

The daemon must stay up, leave new files in the drop folder (never half-claimed, never a
temporary copy left in the spool), say so once, and carry on by itself when space comes
back: every file then printed or rejected exactly once, the journal's chain intact.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printstation.harness.docs import js, special
from printstation.harness.kit import Station, drop_by_rename, wait_for, write_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Station]:
    """A station whose data folder is an 8 MB tmpfs of its own."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the disk-full tests: needs root to mount a tmpfs")
        pytest.skip("needs root to mount a small tmpfs")
    station = Station(tmp_path, write_config(tmp_path))
    station.data.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs",
                              str(station.data)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    # The filler exists before the daemon starts: on a loaded machine the journal's WAL
    # can take the last blocks before `fill` runs, and then not even an empty file can be
    # made to fill (and later free) the disk.
    (station.data / "filler").touch()
    try:
        yield station
    finally:
        station.kill()
        subprocess.run(["umount", "-l", str(station.data)], check=True)


def fill(folder: Path) -> Path:
    """Take every free block of the filesystem holding `folder`; returns the filler."""
    filler = folder / "filler"
    # Unbuffered: a buffered writer keeps what did not fit and raises ENOSPC again when
    # the file is closed.
    with open(filler, "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # Small writes may still fit in a last partial block: take those bytes too.
    with open(filler, "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def sources(station: Station) -> list[dict]:
    with station.db() as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM sources ORDER BY rowid")]


def finished(station: Station, count: int) -> bool:
    rows = sources(station)
    return len(rows) == count and all(r["state"] in ("archived", "rejected") for r in rows)


def check_all(station: Station, drops: dict[str, bytes], printed: set[str]) -> None:
    """Every drop in exactly one place, byte-identical, with one result; each valid invoice
    printed once; nothing left in the drop folder or the spool; the journal sound."""
    rows = {os.fsdecode(r["raw_name"]): r for r in sources(station)}
    assert set(rows) == set(drops)
    archived = {p.name.split("--", 1)[1]: p.read_bytes() for p in station.archived()}
    for name, data in drops.items():
        row = rows[name]
        if name in printed:
            assert row["state"] == "archived" and archived[name] == data, name
        else:
            assert row["state"] == "rejected", name
            where = Path(os.fsdecode(row["destination"]))
            assert where.read_bytes() == data
            assert (where.parent / f"{where.name}.error.txt").is_file()
        result = json.loads((station.results / f"{name}.result.json").read_text("utf-8"))
        assert result["file"] == name and result["job"] == row["id"]
    outputs = collections.Counter(p.name.rsplit("-", 1)[1].removesuffix(".pdf")
                                  for p in station.printed.glob("*.pdf"))
    assert all(n == 1 for n in outputs.values()) and len(outputs) == len(printed)
    assert not os.listdir(station.inbox) and not os.listdir(station.data / "spool")
    verify = station.cli("journal", "--verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert station.proc is not None and station.proc.poll() is None, "the daemon died"


def test_a_full_data_folder_holds_the_intake_until_space_returns(small: Station) -> None:
    small.start()
    drops = {"first.json": js(special(number="00041001"))}
    drop_by_rename(small, "first.json", drops["first.json"])
    wait_for(lambda: finished(small, 1), what="the first file")
    filler = fill(small.data)
    waiting = {f"w{i}.json": js(special(number=f"0004200{i}")) for i in range(3)}
    waiting["bad.json"] = b'{"kind": '
    for name, data in waiting.items():
        drop_by_rename(small, name, data)
    wait_for(lambda: "event=intake.disk_full" in small.log_text(), what="the hold logged")
    # Held: every new file waits in the drop folder, none half-taken, no copy left over.
    wait_for(lambda: set(os.listdir(small.inbox)) == set(waiting), what="files left waiting")
    assert [p.name for p in (small.data / "spool").iterdir()] == []
    assert small.proc.poll() is None, small.log_text()
    # Retried at each rescan (every second here): a few retries later it still holds,
    # having said so once, not once per retry.
    time.sleep(2.5)
    assert small.proc.poll() is None, small.log_text()
    assert set(os.listdir(small.inbox)) == set(waiting)
    assert small.log_text().count("event=intake.disk_full") == 1
    filler.unlink()
    drops.update(waiting)
    wait_for(lambda: finished(small, len(drops)), timeout=30, what="all taken once space came back")
    wait_for(lambda: all((small.results / f"{n}.result.json").exists() for n in drops),
             what="all results")
    assert small.log_text().count("event=intake.disk_full") == 1
    assert "event=intake.disk_ok" in small.log_text()
    check_all(small, drops, {n for n in drops if n != "bad.json"})


def test_the_disk_filling_up_mid_flight_loses_and_doubles_nothing(small: Station) -> None:
    small.start()
    drops = {f"f{i:02d}.json": js(special(number=f"000430{i:02d}")) for i in range(16)}
    drops["broken.json"] = b'{"kind": "vat-special", '
    for name, data in drops.items():
        drop_by_rename(small, name, data)
        if name == "f04.json":
            wait_for(lambda: len(sources(small)) >= 3, what="some taken")
            filler = fill(small.data)
    wait_for(lambda: "full" in small.log_text() or small.proc.poll() is not None,
             what="the disk found full")
    # Full for a while, so that every stage meets it (reading, printing, finishing).
    time.sleep(2)
    assert small.proc.poll() is None, small.log_text()
    filler.unlink()
    wait_for(lambda: finished(small, len(drops)), timeout=60, what="everything finished")
    wait_for(lambda: all((small.results / f"{n}.result.json").exists() for n in drops),
             what="all results")
    check_all(small, drops, set(drops) - {"broken.json"})
