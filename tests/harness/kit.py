"""A test kit, not test magic: a station in a temp folder and the real daemon process."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The harness runs from a checkout (an editable install): the repository is two levels up.
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "config" / "samples"
EXE = Path(sys.executable).parent / "printstation"


def write_config(folder: Path, extra: str = "", settle_ms: int = 200, rescan_s: int = 1,
                 printers: str | None = None, cups_server: str = "") -> Path:
    """A station under `folder`; returns the config path. Its printers are one directory
    printer (`extra` adds keys to it), or the `printers` tables given."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "printstation.toml"
    if printers is None:
        printers = f"""
[printers.pdf]
driver = "directory"
path = "printed"
stocks = ["vat-special", "vat-ordinary", "vat-roll-76", "einvoice"]
{extra}"""
    config.write_text(f"""
[station]
id = "TEST-001"
data_dir = "data"

[intake]
drop_dir = "inbox"
settle_ms = {settle_ms}
rescan_s = {rescan_s}

[cups]
server = "{cups_server}"
{printers}
""", encoding="utf-8")
    return config


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Station:
    """Paths of a test station, and its daemon started as a real subprocess."""

    def __init__(self, folder: Path, config: Path):
        self.folder = folder
        self.config = config
        self.inbox = folder / "inbox"
        self.rejected = folder / "rejected"
        self.results = folder / "results"
        self.printed = folder / "printed"
        self.data = folder / "data"
        self.proc: subprocess.Popen | None = None
        self.log = folder / "daemon.log"

    def start(self, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        # The log file lives as long as the daemon process, across methods.
        self._log_fh = open(self.log, "ab")  # noqa: SIM115
        # Only this start's lines count: the log is appended across restarts.
        since = self.log.stat().st_size
        self.proc = subprocess.Popen(
            [str(EXE), "--config", str(self.config), "run", *args], stdout=self._log_fh,
            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=self.folder)
        wait_for(lambda: b"event=daemon.ready" in self.log.read_bytes()[since:]
                 or self.proc.poll() is not None, what="daemon ready")
        assert self.proc.poll() is None, self.log_text()

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> tuple[int, float]:
        """Send `sig`; returns (exit code, seconds it took to exit)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._log_fh.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
            self._log_fh.close()

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.data / "journal.db", timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def jobs(self) -> list[sqlite3.Row]:
        with self.db() as conn:
            return conn.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()

    def result(self, name: str) -> dict | None:
        # Read at once, not after a look: retention may remove it in between.
        try:
            return json.loads((self.results / f"{name}.result.json").read_text("utf-8"))
        except FileNotFoundError:
            return None

    def archived(self) -> list[Path]:
        """Archived source files (`ID--name`); rendered pages are `renders()`."""
        root = self.data / "archive"
        return sorted(p for p in root.rglob("*--*") if p.is_file()) if root.exists() else []

    def renders(self) -> list[Path]:
        root = self.data / "archive"
        return sorted(p for p in root.rglob("*.pdf") if "--" not in p.name) \
            if root.exists() else []

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(EXE), "--config", str(self.config), *args],
                              capture_output=True, text=True, timeout=60)


def station_at(tmp_path: Path) -> Station:
    """A station with the default test config in `tmp_path/station`."""
    folder = tmp_path / "station"
    return Station(folder, write_config(folder))


@contextlib.contextmanager
def running(station: Station, env: dict[str, str] | None = None) -> Iterator[Station]:
    """The station's daemon started, and stopped (or killed) however the block ends."""
    station.start(env)
    try:
        yield station
    finally:
        if station.proc is not None and station.proc.poll() is None:
            station.stop()
        station.kill()


def invoice(number: str = "00012001", **changes: Any) -> dict:
    """A valid special invoice (the shared sample) with a chosen number."""
    doc = json.loads((SAMPLES / "vat-special.json").read_text(encoding="utf-8"))
    doc["number"] = number
    doc.update(changes)
    return doc


def drop_by_rename(station: Station, name: str, data: bytes) -> Path:
    """Write outside the drop folder, then rename in, as well-behaved writers do."""
    staging = station.folder / "staging"
    staging.mkdir(exist_ok=True)
    tmp = staging / name
    tmp.write_bytes(data)
    target = station.inbox / name
    os.rename(tmp, target)
    return target


def consistent(doc: dict) -> dict:
    """`doc` with taxes, totals and capitals recomputed from its lines' amounts and rates."""
    from decimal import ROUND_HALF_UP, Decimal

    from printstation.invoice import to_capitals

    amount = tax = Decimal(0)
    for line in doc["lines"]:
        line_tax = (Decimal(line["amount"]) * Decimal(line["rate"])).quantize(
            Decimal("0.01"), ROUND_HALF_UP)
        line.setdefault("tax", str(line_tax))
        amount += Decimal(line["amount"])
        tax += Decimal(line["tax"])
    doc["total_amount"], doc["total_tax"] = str(amount), str(tax)
    doc["total"] = str(amount + tax)
    # Capitals are written for amounts of 0 or more; a red (negative) invoice leaves them out.
    doc["total_words"] = to_capitals(amount + tax) if amount + tax >= 0 else ""
    return doc


def line(amount: str, rate: str = "0.13", **extra: str) -> dict:
    return {"name": "*信息技术服务*软件维护", "spec": "", "unit": "次", "amount": amount,
            "rate": rate, **extra}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def printed_counts(station: Station) -> collections.Counter:
    """How many pages the directory printer wrote for each invoice number."""
    return collections.Counter(p.name.rsplit("-", 1)[1].removesuffix(".pdf")
                               for p in station.printed.glob("*.pdf"))


def settled_all(station: Station, names: list[str]) -> bool:
    """Every file named has its result file and every job is in a final state."""
    jobs = station.jobs()
    return all(station.result(n) for n in names) and all(
        j["state"] in ("printed", "rejected", "failed", "cancelled") for j in jobs)
