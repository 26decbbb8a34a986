"""Rendering ahead in a worker process: the same bytes as inline, and no orphan workers."""

from __future__ import annotations

import json
import os
import signal
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


def worker_pids(parent: int) -> set[int]:
    """Render workers started by `parent` (other daemons may run on this machine)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            if ppid == parent and b"spawn_main" in cmdline:
                found.add(int(entry.name))
    return found


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
