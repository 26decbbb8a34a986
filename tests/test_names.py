"""Names and files (SPEC §5): nothing a user or the finance software can see is ever put
over an existing name, every name fits NAME_MAX, and no file in the drop folder or the
spool can make the daemon lose a file, loop, hang, or refuse to start.

Unit tests hold the file helpers to it; end-to-end tests drop the files that used to go
wrong into the real daemon and account for every one of them. The cases that need a daemon
that is not all-powerful (a file it may not read, a drop folder it may not change) run it
as uid 0 stripped of every capability (`setpriv`): it then meets file permissions like any
other user (this machine's interpreter lives under /root, which no other uid can reach).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from printstation.base import durable
from printstation.base.durable import (
    create_new,
    move_file,
    remove_stale_temps,
    rename_new,
)
from printstation.base.filenames import NAME_MAX, fit_name, free_name
from printstation.daemon.intake_files import complete_by_content, file_digest
from printstation.daemon.stage_intake import IntakeRunner
from printstation.harness.docs import js, special
from printstation.harness.kit import EXE, Station, drop_by_rename, wait_for, write_config
from printstation.spool import Journal, SpoolDir, new_source_id

# -- names ------------------------------------------------------------------------------


def nbytes(name: str) -> int:
    return len(os.fsencode(name))


@pytest.mark.parametrize("name", ["x" * 300 + ".json", "发" * 90 + ".json",
                                  os.fsdecode(b"\xff" * 260 + b".pdf"), "y" * 400])
def test_fit_name_fits_in_bytes_keeps_the_extension_and_stays_text(name: str) -> None:
    for suffix, tag in (("", ""), (".error.txt", ""), (".result.json", ""), ("", "ABC123")):
        fitted = fit_name(name, suffix, tag=tag)
        assert nbytes(fitted) <= NAME_MAX
        assert fitted.endswith(os.path.splitext(name)[1] + suffix)
        if tag:
            assert f".{tag}" in fitted
        if name.isascii() or "发" in name:
            fitted.encode("utf-8")  # never a UTF-8 character cut in half


def test_two_long_names_that_start_alike_stay_two_names() -> None:
    a, b = "a" * 250 + "1.json", "a" * 250 + "2.json"
    assert fit_name(a) != fit_name(b)
    assert fit_name(a, tag="J1") != fit_name(a, tag="J2")
    assert fit_name("short.json") == "short.json"
    assert fit_name("short.json", tag="J1") == "short.J1.json"


def test_free_name_skips_taken_names_and_their_reports(tmp_path: Path) -> None:
    long = "z" * 250 + ".json"
    (tmp_path / fit_name(long)).write_text("first")
    second = free_name(tmp_path, long, "J2", (".error.txt",))
    assert second.name != fit_name(long) and nbytes(second.name) <= NAME_MAX
    # A user's file named like our report makes the plain name taken too.
    (tmp_path / "a.json.error.txt").write_text("mine")
    assert free_name(tmp_path, "a.json", "J3", (".error.txt",)).name == "a.J3.json"
    assert free_name(tmp_path, "a.json", "J3", (".error.txt",),
                     lambda p: p.name == "a.J3.json").name == "a.J3-2.json"


@pytest.mark.parametrize("how", ["renameat2", "link", "check-then-rename"])
def test_rename_new_never_replaces(tmp_path: Path, how: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if how != "renameat2":
        monkeypatch.setattr(durable, "_renameat2", lambda: None)
    if how == "check-then-rename":
        def refused(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EPERM, "links refused")
        monkeypatch.setattr(durable.os, "link", refused)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_text("new")
    dst.write_text("old")
    with pytest.raises(FileExistsError):
        rename_new(src, dst)
    assert dst.read_text() == "old" and src.read_text() == "new"
    dst.unlink()
    rename_new(src, dst)
    assert dst.read_text() == "new" and not src.exists()


def test_move_file_completes_an_interrupted_move_and_refuses_a_foreign_file(
        tmp_path: Path) -> None:
    src, dst = tmp_path / "spooled", tmp_path / "rejected"
    src.write_text("ours")
    os.link(src, dst)  # a crash between link and unlink
    move_file(src, dst)
    assert dst.read_text() == "ours" and not src.exists()
    src.write_text("another")
    with pytest.raises(FileExistsError):
        move_file(src, dst)
    assert dst.read_text() == "ours"


def test_move_file_across_filesystems_copies_without_replacing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = durable.rename_new

    def cross(src: Path, dst: Path) -> None:
        if src.name == "spooled":  # the first rename: pretend another filesystem
            raise OSError(errno.EXDEV, "cross-device")
        real(src, dst)

    monkeypatch.setattr(durable, "rename_new", cross)
    src, dst = tmp_path / "spooled", tmp_path / "dst"
    src.write_bytes(b"bytes")
    move_file(src, dst)
    assert dst.read_bytes() == b"bytes" and not src.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_create_new_takes_the_next_name_and_knows_its_own(tmp_path: Path) -> None:
    names = [tmp_path / "r.json", tmp_path / "r.J1.json", tmp_path / "r.J1-2.json"]
    names[0].write_text("someone else's")
    got = create_new(iter(names), b"ours", lambda p: p.read_bytes() == b"ours")
    assert got == names[1] and names[0].read_text() == "someone else's"
    # Written again after a crash: recognised, nothing new.
    assert create_new(iter(names), b"ours", lambda p: p.read_bytes() == b"ours") == names[1]
    assert not names[2].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.J1.json", "r.json"]


def test_stale_temps_are_removed_and_nothing_else(tmp_path: Path) -> None:
    dead = tmp_path / "a" / ".printstation-999999999-0badf00d.tmp"
    dead.parent.mkdir()
    dead.write_text("left by a crash")
    mine = tmp_path / f".printstation-{os.getpid()}-00000000.part"
    mine.write_text("being written")
    keep = [tmp_path / ".hidden", tmp_path / "x.tmp", tmp_path / ".printstation-x.txt"]
    for path in keep:
        path.write_text("a user's")
    assert remove_stale_temps(tmp_path, recursive=True) == [dead]
    assert mine.exists() and all(p.exists() for p in keep)


# -- ids --------------------------------------------------------------------------------


def test_source_ids_carry_50_random_bits_and_sort_by_date() -> None:
    import datetime as dt

    day = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    ids = {new_source_id(day) for _ in range(2000)}
    assert len(ids) == 2000
    for sid in ids:
        assert len(sid) == 16 and sid.startswith("261129")
        assert set(sid[6:]) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    seen: list[int] = []
    new_source_id(day, lambda bits: seen.append(bits) or 0)
    assert seen == [50]
    assert new_source_id(day, lambda bits: (1 << bits) - 1) == "261129ZZZZZZZZZZ"
    assert new_source_id(day - dt.timedelta(days=1)) < min(ids)


def test_a_colliding_id_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from printstation.config import load_settings, load_stocks
    from printstation.daemon import stage_intake
    from printstation.daemon.context import Context

    (tmp_path / "inbox").mkdir()
    ctx = Context(load_settings(None, cwd=tmp_path), load_stocks()[0])
    ctx.spool = SpoolDir(tmp_path / "data")
    ctx.spool.create()
    runner = stage_intake.IntakeRunner(ctx, lambda: None)
    runner._journal = Journal(tmp_path / "journal.db", "ST-1")
    try:
        runner._journal.register_source("261129AAAAAAAAAA", b"a.json", "x", None, None)
        (ctx.spool.root / "261129BBBBBBBBBB--b.json").write_text("{}")
        offered = iter(["261129AAAAAAAAAA", "261129BBBBBBBBBB", "261129CCCCCCCCCC"])
        monkeypatch.setattr(stage_intake, "new_source_id", lambda now: next(offered))
        assert runner._new_id() == "261129CCCCCCCCCC"
    finally:
        runner._journal.close()


# -- the spool and the intake's reads ----------------------------------------------------


def intake_runner(tmp_path: Path) -> IntakeRunner:
    """An intake runner on a station in `tmp_path`, its journal open, its observer not
    started: its steps are called one by one."""
    from printstation.config import load_config
    from printstation.daemon.context import Context

    config = load_config(write_config(tmp_path))
    ctx = Context.of(config)
    ctx.settings.intake.drop_dir.mkdir(parents=True, exist_ok=True)
    ctx.spool.create()
    runner = IntakeRunner(ctx, lambda: None)
    runner._journal = ctx.open_journal()
    return runner


def test_a_file_the_journal_cannot_record_goes_back_and_waits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    runner = intake_runner(tmp_path)
    try:
        drop = runner.drop / "a.json"
        data = js(special(number="00036001"))
        drop.write_bytes(data)
        real = runner.journal.register_source

        def full(*args: object, **kwargs: object) -> str:
            exc = sqlite3.OperationalError("database or disk is full")
            exc.sqlite_errorcode = 13  # SQLITE_FULL, as SQLite sets it
            raise exc

        monkeypatch.setattr(runner.journal, "register_source", full)
        runner.claim("a.json", drop, os.lstat(drop))
        # Back in the drop folder, byte-identical; nothing in the spool; the intake holds.
        assert drop.read_bytes() == data and not os.listdir(runner.ctx.spool.root)
        assert runner.problem and "full" in runner.problem and runner._held_until
        assert runner.run_once() is False and drop.exists()  # held: nothing taken
        monkeypatch.setattr(runner.journal, "register_source", real)
        runner._held_until = time.monotonic() - 1  # the retry is due
        runner.run_once()
        assert not drop.exists() and runner.problem is None
        assert [r["name"] for r in runner.journal.conn.execute("SELECT name FROM sources")] \
            == ["a.json"]
    finally:
        runner.journal.close()


def test_claim_refuses_a_swapped_file_and_lets_go_when_the_folder_will_not(
        open_tmp: Path) -> None:
    spool = SpoolDir(open_tmp / "data")
    spool.create()
    for folder in (open_tmp / "data", spool.root):
        os.chown(folder, 65534, 65534)
    drop = open_tmp / "inbox"
    drop.mkdir(mode=0o755)
    src = drop / "a.json"
    src.write_text("{}")
    st = os.lstat(src)
    with pytest.raises(FileNotFoundError):  # another inode than the one checked
        spool.claim(src, "261129AAAAAAAAAA", expect=(st.st_dev, st.st_ino + 1))
    assert src.exists() and not os.listdir(spool.root)

    def take() -> list[object]:
        from printstation.spool.files import DropLocked

        try:
            spool.claim(src, "261129BBBBBBBBBB")
        except DropLocked as exc:
            return ["locked", exc.errno, os.listdir(spool.root)]
        return ["taken"]

    # uid 65534 may write the spool but not the drop folder (root's, 0755).
    assert as_nobody(take) == ["locked", errno.EACCES, []]
    assert src.read_text() == "{}"


def test_orphans_are_text_and_one_per_id(tmp_path: Path) -> None:
    spool = SpoolDir(tmp_path)
    spool.create()
    legacy = os.fsdecode(b"261129AAAAAA--" + "发".encode()[:2] + b"~.json")
    (spool.root / legacy).write_text("{}")
    (spool.root / "261129BBBBBB--b.json").write_text("{}")
    (spool.root / "261129BBBBBB--c.json").write_text("{}")
    found = spool.orphans(set())
    assert [f[0] for f in found] == ["261129AAAAAA", "261129BBBBBB"]
    for _, name, spool_name in found:
        (name + spool_name).encode("utf-8")
        assert (spool.root / spool_name).exists()


def test_content_check_never_blocks_on_a_fifo_and_reads_only_what_it_needs(
        tmp_path: Path) -> None:
    fifo = tmp_path / "swapped.json"
    os.mkfifo(fifo)
    assert complete_by_content(fifo, fifo.name) is False  # returns: no writer needed
    big = tmp_path / "big.pdf"
    with open(big, "wb") as fh:
        fh.truncate(1 << 30)  # a sparse gigabyte
        fh.seek((1 << 30) - 6)
        fh.write(b"%%EOF\n")
    tracemalloc.start()
    try:
        assert complete_by_content(big, big.name, max_bytes=2 << 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"read {peak} bytes to check a PDF's tail"
    assert not complete_by_content(big, big.name, max_bytes=20 << 20)
    st = os.stat(big)
    assert not complete_by_content(big, big.name, 2 << 30, (st.st_size, st.st_mtime_ns, 1))
    half = tmp_path / "half.json"
    half.write_bytes(js(special())[:-10])
    assert not complete_by_content(half, half.name)


def as_nobody(func) -> object:
    """`func()` in a forked child that has dropped to uid/gid 65534; its result (JSON)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, json.dumps(func()).encode())
            code = 0
        except BaseException as exc:
            os.write(write, repr(exc).encode())
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as fh:
        out = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    return json.loads(out)


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder every user can reach (pytest's own is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="ps-names-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_an_unreadable_spool_file_is_measured_not_read_and_never_raises(
        open_tmp: Path) -> None:
    spool = SpoolDir(open_tmp / "data")
    spool.create()
    for folder in (open_tmp / "data", spool.root):
        folder.chmod(0o755)
    secret = spool.root / "261129AAAAAAAAAA--secret.json"
    secret.write_bytes(b'{"a": 1}')
    secret.chmod(0o600)  # root's own: uid 65534 may not read it
    got = as_nobody(lambda: [file_digest(secret), spool.orphans(set())])
    assert got == [[None, 8], [["261129AAAAAAAAAA", "secret.json", secret.name]]]
    # Content checks say "not complete" instead of failing; a settled file is taken.
    assert as_nobody(lambda: complete_by_content(secret, secret.name)) is False


# -- end to end ---------------------------------------------------------------------------


def verify(station: Station) -> None:
    result = station.cli("journal", "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert station.proc is not None and station.proc.poll() is None, "the daemon died"
    assert "Traceback" not in station.log_text()


def sources(station: Station) -> list[dict]:
    with station.db() as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM sources ORDER BY rowid")]


def results(station: Station) -> list[dict]:
    """The result files of the journal's files (not those another program left there)."""
    ids = {r["id"] for r in sources(station)}
    docs = [json.loads(p.read_text("utf-8")) for p in station.results.iterdir()
            if p.name.endswith(".result.json")] if station.results.exists() else []
    return [d for d in docs if d.get("job") in ids]


def account(station: Station, drops: list[tuple[str, bytes]],
            preexisting: tuple[Path, ...] = ()) -> None:
    """Each drop is in exactly one place, byte-identical: archived, or in rejected_dir with
    its report beside it; each has exactly one result file naming it; no name too long."""
    places = [*station.archived(), *[p for p in station.rejected.iterdir() if p.is_file()]]
    by_bytes: dict[bytes, list[Path]] = {}
    for path in places:
        by_bytes.setdefault(path.read_bytes(), []).append(path)
    rows = sources(station)
    assert len(rows) == len(drops)
    for (name, data), row in zip(drops, rows, strict=True):
        assert os.fsdecode(row["raw_name"]) == name
        assert len(by_bytes.get(data, [])) == 1, (name[:40], by_bytes.get(data))
        where = by_bytes[data][0]
        if row["state"] == "rejected":
            assert where == Path(os.fsdecode(row["destination"]))
            report = (where.parent / fit_name(where.name, ".error.txt")).read_text("utf-8")
            assert f"文件 / file: {name}" in report and "The file was rejected" in report
        else:
            assert row["state"] == "archived" and where.parent.parent.parent.parent.name \
                == "archive"
        mine = [r for r in results(station) if r["job"] == row["id"]]
        assert len(mine) == 1 and mine[0]["file"] == name
    assert len(results(station)) == len(drops)
    assert len(list(station.results.glob("*.result.json"))) == len(drops) + len(
        [p for p in preexisting if p.parent == station.results])
    for folder in (station.rejected, station.results, station.data / "spool"):
        assert all(nbytes(n) <= NAME_MAX for n in os.listdir(folder))
    assert not os.listdir(station.inbox) and not os.listdir(station.data / "spool")


def settled(station: Station, count: int) -> bool:
    rows = sources(station)
    return len(rows) == count and all(r["state"] in ("archived", "rejected") for r in rows) \
        and len(results(station)) == count


def test_same_and_long_names_never_overwrite_anything(station: Station) -> None:
    # Files that were there before: a result and a rejected file of an earlier run.
    station.results.mkdir()
    station.rejected.mkdir()
    before = {station.results / "old.json.result.json": b'{"job": "EARLIER"}\n',
              station.rejected / "old.json": b"an earlier run's file"}
    for path, data in before.items():
        path.write_bytes(data)
    long_name = "长" * 50 + "x" * 96 + ".json"  # 246 bytes: X.error.txt would not fit
    drops = [
        ("a.json", js(special(number="00031001"))),           # printed
        ("a.json", b'{"kind": "first duplicate name"'),        # rejected, same name
        ("bad.json.error.txt", b"a user's own notes"),  # named like our report
        ("bad.json", b'{"bad": 1'),
        ("bad.json", b'{"bad": 2'),
        (long_name, b'{"long": 1'),
        (long_name, b'{"long": 2'),
        ("发" * 80 + ".json", js(special(number="00031002"))),  # 245 bytes, printed
        ("old.json", b'{"old": 1'),
    ]
    station.start()
    for i, (name, data) in enumerate(drops, 1):
        drop_by_rename(station, name, data)
        wait_for(lambda i=i: settled(station, i), what=f"{name[:30]} finished")
    account(station, drops, tuple(before))
    for path, data in before.items():
        assert path.read_bytes() == data
    assert (station.rejected / "bad.json.error.txt").read_bytes() == drops[2][1]
    rows = sources(station)
    first = json.loads((station.results / "a.json.result.json").read_text("utf-8"))
    assert first["state"] == "printed" and first["job"] == rows[0]["id"]
    second = station.results / f"a.json.{rows[1]['id']}.result.json"
    assert json.loads(second.read_text("utf-8"))["state"] == "rejected"
    assert Path(os.fsdecode(rows[3]["destination"])).name == f"bad.{rows[3]['id']}.json"
    assert "另存为 / saved as: bad." in \
        (station.rejected / f"bad.{rows[3]['id']}.json.error.txt").read_text("utf-8")
    verify(station)
    # A restart with all of it in place starts, and takes new files.
    assert station.stop()[0] == 0
    station.start()
    drop_by_rename(station, "late.json", js(special(number="00031003")))
    wait_for(lambda: settled(station, len(drops) + 1), what="a file after the restart")
    verify(station)


def test_hard_linked_file_is_copied_and_stale_temps_are_cleaned(station: Station) -> None:
    temps = [station.data / "spool" / ".printstation-999999999-00000001.tmp",
             station.data / "archive" / "2026" / "01" / "02" / ".printstation-999999999-2.part",
             station.results / ".printstation-999999999-00000003.tmp",
             station.rejected / ".printstation-999999999-00000004.tmp"]
    for path in temps:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("left by a crash")
    users = station.rejected / ".printstation-notes"
    users.write_text("not ours")
    station.start()
    data = js(special(number="00032001"))
    outside = station.folder / "kept.json"
    outside.write_bytes(data)
    os.link(outside, station.inbox / "linked.json")
    wait_for(lambda: settled(station, 1), what="the linked file printed")
    archived = station.archived()[0]
    assert archived.read_bytes() == data
    assert not os.path.samestat(archived.stat(), outside.stat())
    assert outside.stat().st_nlink == 1
    # The writer changes its own link: the archived copy does not change with it.
    outside.write_bytes(b"changed")
    assert archived.read_bytes() == data
    assert not any(p.exists() for p in temps) and users.exists()
    verify(station)


def test_colliding_source_ids_pick_a_new_one(station: Station) -> None:
    taken, orphan, stranded_id = "261129AAAAAAAAAA", "261129BBBBBBBBBB", "261129CCCCCCCCCC"
    spool = station.data / "spool"
    spool.mkdir(parents=True)
    journal = Journal(station.data / "journal.db", "TEST-001")
    try:
        journal.register_source(taken, b"pre.json", f"{taken}--pre.json", None, None)
    finally:
        journal.close()
    files = {f"{taken}--pre.json": js(special(number="00033001")),
             f"{orphan}--orphan.json": js(special(number="00033002")),
             # The same id as a journaled file, another name: stranded for ever before.
             f"{taken}--stranded.json": js(special(number="00033003"))}
    for name, data in files.items():
        (spool / name).write_bytes(data)
    station.start(env={"PRINTSTATION_TEST_SOURCE_IDS": f"{taken},{orphan},{stranded_id},"
                                                       f"{taken},{orphan},261129DDDDDDDDDD"})
    drop_by_rename(station, "new.json", js(special(number="00033004")))
    wait_for(lambda: settled(station, 4), what="all four finished")
    ids = {os.fsdecode(r["raw_name"]): r["id"] for r in sources(station)}
    assert ids == {"pre.json": taken, "orphan.json": orphan, "stranded.json": stranded_id,
                   "new.json": "261129DDDDDDDDDD"}
    assert all(r["state"] == "archived" for r in sources(station))
    assert "event=intake.id_collision" in station.log_text()
    verify(station)


def grow(path: Path, stop: threading.Event | None = None) -> None:
    """A gigabyte copied in place: the file grows (sparse, so the test writes little) in
    16 MB steps, each an event that wakes the content check, and ends with `%%EOF`."""
    with open(path, "wb") as fh:
        for step in range(1, 65):
            if stop is not None and stop.is_set():
                return
            fh.truncate(step << 24)
            fh.flush()
            time.sleep(0.01)
        fh.seek(0, os.SEEK_END)
        fh.write(b"\n%%EOF\n")


def peak_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM")).split()[1]) \
        // 1024


def test_a_growing_gigabyte_is_checked_in_bounded_memory_and_stop_is_prompt(
        station: Station) -> None:
    station.start()
    grow(station.inbox / "big.pdf")
    wait_for(lambda: settled(station, 1), what="the gigabyte refused")
    assert results(station)[0]["errors"][0]["code"] == "file.too_large"
    assert os.stat(station.rejected / "big.pdf").st_size > 1 << 30
    # Reading it whole once would have taken a gigabyte.
    assert peak_mb(station.proc.pid) < 400, f"the daemon grew to {peak_mb(station.proc.pid)} MB"
    # SIGTERM while another one is being copied in: the daemon stops within its budget.
    stop = threading.Event()
    writer = threading.Thread(target=grow, args=(station.inbox / "big2.pdf", stop))
    writer.start()
    try:
        wait_for(lambda: os.path.exists(station.inbox / "big2.pdf")
                 and os.stat(station.inbox / "big2.pdf").st_size > 1 << 28, what="copy begun")
        code, _ = station.stop(timeout=10)
    finally:
        stop.set()
        writer.join()
    assert code == 0
    shutil.rmtree(station.rejected)
    shutil.rmtree(station.inbox)


# -- end to end, as a daemon without root's powers ----------------------------------------


class Unprivileged(Station):
    """The daemon as uid 0 with no capability at all: file permissions bind it."""

    def start(self, env: dict[str, str] | None = None) -> None:
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            if os.environ.get("CI"):
                pytest.fail("CI must run the permission tests: needs root and setpriv")
            pytest.skip("needs root and setpriv to run the daemon without capabilities")
        self._log_fh = open(self.log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", str(EXE),
             "--config", str(self.config), "run"], stdout=self._log_fh,
            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=self.folder)
        wait_for(lambda: "event=daemon.ready" in self.log_text() or self.proc.poll() is not None,
                 what="daemon ready")
        assert self.proc.poll() is None, self.log_text()


@pytest.fixture
def unprivileged(tmp_path: Path) -> Iterator[Unprivileged]:
    st = Unprivileged(tmp_path, write_config(tmp_path))
    yield st
    st.kill()


def nobodys(path: Path, data: bytes, mode: int) -> bytes:
    path.write_bytes(data)
    os.chown(path, 65534, 65534)
    path.chmod(mode)
    return data


@pytest.mark.e2e
def test_unreadable_files_are_rejected_and_never_stop_a_start(unprivileged: Station) -> None:
    st = unprivileged
    st.start()
    assert st.stop()[0] == 0
    # One left in the spool by a crash (claimed, never journaled): the start must survive.
    crashed = nobodys(st.data / "spool" / "261129AAAAAAAAAA--crashed.json",
                      js(special(number="00034001")), 0o600)
    st.start()
    staging = st.folder / "staging"
    staging.mkdir()
    dropped = nobodys(staging / "secret.json", js(special(number="00034002")), 0o600)
    os.rename(staging / "secret.json", st.inbox / "secret.json")
    wait_for(lambda: settled(st, 2), what="both rejected")
    account(st, [("crashed.json", crashed), ("secret.json", dropped)])
    for r in results(st):
        assert r["state"] == "rejected" and r["errors"][0]["code"] == "file.unreadable"
    report = (st.rejected / "secret.json.error.txt").read_text("utf-8")
    assert "本站点无权读取此文件" in report and "may not read this file" in report
    verify(st)
    assert st.stop()[0] == 0
    st.start()
    verify(st)


@pytest.mark.e2e
def test_a_drop_folder_that_will_not_let_go_is_reported_once_and_not_looped(
        unprivileged: Station) -> None:
    st = unprivileged
    st.inbox.mkdir()
    st.start()
    os.chown(st.inbox, 65534, 65534)
    st.inbox.chmod(0o755)  # the daemon may read it, not change it
    data = js(special(number="00035001"))
    drop_by_rename(st, "stuck.json", data)
    wait_for(lambda: "event=intake.drop_locked" in st.log_text(), what="the folder reported")
    ctime = os.lstat(st.inbox / "stuck.json").st_ctime_ns
    time.sleep(1.5)  # a rescan or more: a retry would link it again, changing its ctime
    assert os.lstat(st.inbox / "stuck.json").st_ctime_ns == ctime
    assert not os.listdir(st.data / "spool") and not sources(st)
    st.inbox.chmod(0o777)  # fixed: the file is taken without a new event
    wait_for(lambda: settled(st, 1), what="taken once the folder is writable")
    # A sticky folder (/tmp-style) with another user's file: the same.
    st.inbox.chmod(0o1777)
    staging = st.folder / "staging"
    other = nobodys(staging / "sticky.json", js(special(number="00035002")), 0o666)
    os.rename(staging / "sticky.json", st.inbox / "sticky.json")
    wait_for(lambda: "event=intake.drop_ok" in st.log_text(), what="the first problem solved")
    wait_for(lambda: st.log_text().count("event=intake.drop_locked") == 2,
             what="the sticky folder reported")
    ctime = os.lstat(st.inbox / "sticky.json").st_ctime_ns
    time.sleep(1.5)
    assert os.lstat(st.inbox / "sticky.json").st_ctime_ns == ctime
    st.inbox.chmod(0o777)
    wait_for(lambda: settled(st, 2), what="taken once the sticky bit is gone")
    account(st, [("stuck.json", data), ("sticky.json", other)])
    verify(st)



def test_a_copy_claim_cut_short_by_a_crash_lets_go_of_the_drop_name(tmp_path: Path) -> None:
    # Files of other users are copied into the spool (a new inode): after a crash between
    # the copy and the unlink, start-up finds the drop name by name and bytes, not inode.
    from printstation.spool import SpoolDir

    spool = SpoolDir(tmp_path / "data")
    spool.create()
    drop = tmp_path / "inbox"
    drop.mkdir()
    (drop / "a.json").write_bytes(b'{"x": 1}')
    (drop / "b.json").write_bytes(b'{"x": 2}')
    (spool.root / "2611290000000001--a.json").write_bytes(b'{"x": 1}')
    (spool.root / "2611290000000002--b.json").write_bytes(b'{"other": 1}')
    assert spool.finish_claim("2611290000000001--a.json", drop)
    assert not (drop / "a.json").exists()
    # Other bytes under the name: a different file, left alone.
    assert not spool.finish_claim("2611290000000002--b.json", drop)
    assert (drop / "b.json").exists()
