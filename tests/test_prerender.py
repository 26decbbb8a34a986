"""Rendering ahead in a worker process: the same bytes as inline, and no orphan workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from printstation.config import load_stocks
from printstation.daemon.prerender import Ahead, RenderPool
from printstation.drivers import render_invoice
from printstation.harness.kit import SAMPLES, Station, invoice, running, wait_for, write_config
from printstation.invoice import invoice_from_dict


def test_a_page_rendered_ahead_is_the_page_rendered_inline() -> None:
    stocks, _ = load_stocks()
    doc = json.loads((SAMPLES / "vat-special.json").read_text("utf-8"))
    args = (doc, stocks["vat-special"], (1.5, -0.5), "printstation:J1")
    pool = RenderPool()
    try:
        ahead = Ahead(pool)
        ahead.want("J1", args)
        ahead.want("J2", (doc, stocks["vat-special"], (0.0, 0.0), "printstation:J2"))
        inline = render_invoice(invoice_from_dict(doc), stocks["vat-special"], (1.5, -0.5),
                                "printstation:J1")
        assert ahead.take("J1", args) == inline
        # Different arguments (an offset changed by a reload): render inline instead.
        assert ahead.take("J2", args) is None
        assert ahead.take("J3", args) is None
    finally:
        pool.close()


def processes() -> dict[int, tuple[int, str, bytes]]:
    """pid -> (parent pid, name, command line) of every process on this machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
                cmdline = (entry / "cmdline").read_bytes()
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            found[int(entry.name)] = (ppid, comm, cmdline)
    return found


def render_processes(daemon: int, name: str = "ps-render") -> set[int]:
    """Processes of `daemon` (children and theirs) named `name` (other daemons may run on
    this machine)."""
    table = processes()
    ours = {daemon}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _, _) in table.items() if ppid in ours} - ours
        grew = bool(more)
        ours |= more
    return {pid for pid in ours - {daemon} if table[pid][1] == name}


def worker_pids(parent: int) -> set[int]:
    """Render workers started by `parent`'s zygote."""
    return render_processes(parent)


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


@pytest.mark.e2e
def test_the_render_worker_dies_with_a_killed_daemon(tmp_path: Path) -> None:
    station = Station(tmp_path, write_config(tmp_path))
    station.start()
    staging = tmp_path / "staging"
    staging.mkdir()
    for n in range(40):  # a backlog, so that jobs are rendered ahead
        (staging / f"{n}.json").write_text(json.dumps(invoice(f"{50_000 + n:08d}")))
    for n in range(40):
        os.rename(staging / f"{n}.json", station.inbox / f"{n}.json")
    workers = wait_for(lambda: worker_pids(station.proc.pid), what="a render worker")
    station.proc.send_signal(signal.SIGKILL)
    station.proc.wait(10)
    deadline = time.monotonic() + 10
    while alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(workers), "render worker outlived the daemon"
    # Whatever was in flight is picked up again; every invoice prints once.
    with running(station):
        wait_for(lambda: len(list(station.printed.glob("*.pdf"))) == 40, timeout=60,
                 what="all printed")


def backlog(station: Station, count: int, first: int) -> None:
    staging = station.folder / "staging"
    staging.mkdir(exist_ok=True)
    for n in range(count):
        (staging / f"{n}.json").write_text(json.dumps(invoice(f"{first + n:08d}")))
    for n in range(count):
        os.rename(staging / f"{n}.json", station.inbox / f"{n}.json")


@pytest.mark.e2e
def test_the_render_worker_is_forked_from_a_copy_of_the_daemon(tmp_path: Path) -> None:
    """`auto`: the worker's parent is a zygote forked from the daemon (the same command
    line, no fresh interpreter and no multiprocessing resource tracker)."""
    station = Station(tmp_path, write_config(tmp_path))
    with running(station):
        daemon = station.proc.pid
        zygotes = render_processes(daemon, "ps-render-zyg")
        assert len(zygotes) == 1, "no render zygote next to the daemon"
        table = processes()
        zygote = zygotes.pop()
        assert table[zygote][0] == daemon
        assert table[zygote][2] == table[daemon][2], "the zygote is not a fork of the daemon"
        backlog(station, 40, 60_000)
        workers = wait_for(lambda: worker_pids(daemon), what="a render worker")
        assert all(processes()[pid][0] == zygote for pid in workers)
        wait_for(lambda: len(list(station.printed.glob("*.pdf"))) == 40, timeout=60,
                 what="all printed")
        helpers = {pid for pid, (ppid, _, cmd) in processes().items()
                   if ppid == daemon and b"resource_tracker" in cmd}
        assert not helpers, "a multiprocessing resource tracker runs"


def test_off_never_starts_a_render_process() -> None:
    stocks, _ = load_stocks()
    doc = json.loads((SAMPLES / "vat-special.json").read_text("utf-8"))
    pool = RenderPool("off")
    try:
        assert Ahead(pool).pool.submit((doc, stocks["vat-special"], (0.0, 0.0), "t")) is None
        assert pool.started == 0 and pool._zygote is None
    finally:
        pool.close()


@pytest.mark.e2e
def test_off_prints_a_backlog_with_no_render_process(tmp_path: Path) -> None:
    printers = """
[printers.pdf]
driver = "directory"
path = "printed"
stocks = ["vat-special", "vat-ordinary", "vat-roll-76", "einvoice"]

[render]
worker = "off"
"""
    station = Station(tmp_path, write_config(tmp_path, printers=printers))
    with running(station):
        daemon = station.proc.pid
        backlog(station, 30, 70_000)
        seen: set[int] = set()

        def done() -> bool:
            seen.update(render_processes(daemon) | render_processes(daemon, "ps-render-zyg"))
            return len(list(station.printed.glob("*.pdf"))) == 30

        wait_for(done, timeout=60, what="all printed")
        assert not seen, "a render process ran with [render] worker = \"off\""
        assert not {pid for pid, (ppid, _, _) in processes().items() if ppid == daemon}


def test_an_idle_worker_ends_and_a_new_one_takes_the_next_backlog() -> None:
    stocks, _ = load_stocks()
    doc = json.loads((SAMPLES / "vat-special.json").read_text("utf-8"))
    args = (doc, stocks["vat-special"], (0.0, 0.0), "printstation:J1")
    pool = RenderPool()
    try:
        ahead = Ahead(pool)
        ahead.want("J1", args)
        assert ahead.take("J1", args) is not None
        first, zygote = pool._worker.pid, pool._zygote.pid
        pool._used = 0.0  # idle for long enough
        pool.stop_if_idle()
        wait_for(lambda: not Path(f"/proc/{first}").exists(), what="the idle worker to end")
        # Nothing is kept at rest, not even the zygote the worker came from.
        wait_for(lambda: not Path(f"/proc/{zygote}").exists(), what="the zygote to end")
        assert pool._zygote is None
        ahead.want("J1", args)
        assert ahead.take("J1", args) is not None
        assert pool.started == 2 and pool._worker.pid != first
    finally:
        pool.close()


def test_the_heap_is_tuned_in_the_daemon_and_given_back_in_the_worker() -> None:
    """The daemon maps large blocks on their own from 64 KiB (no growth over a long run);
    a render worker, which lives for one backlog, maps them only from 32 MiB (speed).
    Checked in a child process through glibc's own report (malloc_info)."""
    probe = """
import ctypes, ctypes.util, os, re, sys, tempfile
from printstation.base import heap
assert heap.cap_arenas()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
def mapped_blocks():
    # malloc_info counts the blocks that have a mapping of their own: <total type="mmap">.
    with tempfile.TemporaryFile() as fh:
        stream = libc.fdopen(os.dup(fh.fileno()), b"w")
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        fh.seek(0)
        text = fh.read().decode()
    return int(re.findall(r'<total type="mmap" count="(\\d+)"', text)[-1])
def big_block_mapped(size):
    # Enough blocks that the arena's free space cannot hold them all: those it cannot
    # hold are mapped on their own from the threshold up, or taken from a grown heap.
    before = mapped_blocks()
    ptrs = [libc.malloc(size) for _ in range(400)]
    after = mapped_blocks()
    for ptr in ptrs:
        libc.free(ptr)
    return after - before > 100
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.fdopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
print(big_block_mapped(100 * 1024))
assert heap.map_from(32 * 1024 * 1024)
print(big_block_mapped(100 * 1024))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"], done.stdout
