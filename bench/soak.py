"""The whole system under faults, then an invariant check (issue 9).

Starts a private cupsd with two queues, the reference receiver behind the fault-injecting
proxy, and `printstation run` with a paper ledger on one printer. It drops invoices over
time — single files written in place or renamed in, batches, slow writers, exact
duplicates, invoices already printed, the hostile corpus — while a chaos loop SIGKILLs
the daemon at spread-out random moments, restarts cupsd, disables and enables a printer,
blacks out head office, injects HTTP faults, and sends SIGHUP with good and bad configs.

Then everything is brought back and left to finish, and the harness's invariant checker
(printstation.harness.invariants, whose docstring lists every promise) proves that each
valid invoice printed exactly once, every other file was rejected intact, every dropped
file is accounted for once, the journal verifies, head office holds every event once, no
job is left non-final but `uncertain` ones, and every sheet handed out was used once.
The files dropped and their order come from printstation.harness.drops.

It prints a summary table and exits 1 on any violation.

    .venv/bin/python bench/soak.py [--invoices 5000] [--kills 20] [--seed 1]

Needs root (a private cupsd runs its backends as lp). `make test` runs a short version
(tests/test_soak.py: 500 invoices, 5 kills).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from printstation.harness import invariants
from printstation.harness.cupsd import Cupsd
from printstation.harness.drops import plan
from printstation.harness.faultproxy import FaultProxy
from printstation.harness.invariants import open_journal
from printstation.harness.kit import EXE, Station, wait_for, write_config
from printstation.harness.receiver import TOKEN, Receiver

PRINTERS = """
[printers.front]
driver = "cups"
queue = "soak-front"
stocks = ["vat-special"]
paper_check = "assign"
in_flight = 2

[printers.back]
driver = "cups"
queue = "soak-back"
stocks = ["vat-ordinary"]
in_flight = 2
"""
SHEETS = ("1100223130", "00000001", "00099999")
# The CUPS queue of each station printer; the invariant checker maps outputs back by it.
QUEUES = {"soak-front": "front", "soak-back": "back"}


class Soak:
    def __init__(self, folder: Path, invoices: int, kills: int, seed: int, duration: float):
        self.folder = folder
        self.rng = random.Random(seed)
        self.kills_wanted = kills
        self.duration = duration
        self.drops = plan(invoices, self.rng)
        self.invoices = invoices
        self.station = Station(folder / "station", folder / "station" / "printstation.toml")
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()  # one chaos action or restart at a time
        self.dropping_done = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.log = self.station.folder / "daemon.log"
        self.violations: list[str] = []
        self.notes: list[str] = []

    # -- set-up --------------------------------------------------------------------------

    def setup(self) -> None:
        self.cupsd = Cupsd()
        self.cupsd.start()
        self.cupsd.add_queue("soak-front", "printstation-pdf.ppd")
        self.cupsd.add_queue("soak-back", "printstation-pdf.ppd")
        self.receiver = Receiver(self.folder / "ho")
        self.receiver.start()
        self.proxy = FaultProxy(self.receiver.port, slow_s=3.0)
        folder = self.station.folder
        write_config(folder, settle_ms=500, rescan_s=2, printers=PRINTERS,
                     cups_server=self.cupsd.server)
        token = folder / "token"
        token.write_text(TOKEN)
        token.chmod(0o600)
        with self.station.config.open("a") as fh:
            fh.write(f'\n[sync]\nurl = "{self.proxy.url}"\ntoken_file = "{token}"\n'
                     "batch = 200\ntimeout_s = 2\nbackoff_max_s = 3\n")
        (folder / "conf.d").mkdir()
        self.cli("paper", "load", "front", "--stock", "vat-special", "--code", SHEETS[0],
                 "--from", SHEETS[1], "--to", SHEETS[2])
        self.start_daemon()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(EXE), "--config", str(self.station.config), *args],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "CUPS_SERVER": self.cupsd.server})
        if done.returncode:
            raise RuntimeError(f"printstation {' '.join(args)}: {done.stderr}")
        return done

    def start_daemon(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(EXE), "--config", str(self.station.config), "run"], stdout=log,
                stderr=subprocess.STDOUT, cwd=self.station.folder)

        def ready() -> bool:
            text = self.log.read_bytes()[offset:]
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}: {text[-2000:]!r}")
            return b"event=daemon.ready" in text

        wait_for(ready, timeout=60, what="daemon ready")

    # -- the load and the chaos ------------------------------------------------------------

    def dropper(self) -> None:
        inbox, staging = self.station.inbox, self.folder / "staging"
        staging.mkdir(exist_ok=True)
        pause = self.duration / max(1, len(self.drops))
        for drop in self.drops:
            target = inbox / drop.name
            if drop.how == "fifo":
                os.mkfifo(target)
            elif drop.how == "symlink":
                os.symlink("/etc/passwd", target)
            elif drop.how == "direct":
                target.write_bytes(drop.data)
            elif drop.how == "slow":
                threading.Thread(target=self.slow_write, args=(target, drop.data),
                                 daemon=True).start()
            else:
                (staging / drop.name).write_bytes(drop.data)
                os.rename(staging / drop.name, target)
            self.counts[f"dropped ({drop.how})"] += 1
            time.sleep(pause * self.rng.uniform(0.2, 1.8))
        self.dropping_done.set()

    def slow_write(self, target: Path, data: bytes) -> None:
        """A writer that takes its time, pausing under settle_ms between chunks."""
        with open(target, "wb") as fh:
            for start in range(0, len(data), 256):
                fh.write(data[start:start + 256])
                fh.flush()
                time.sleep(0.05)

    def chaos(self) -> None:
        """Spread the kills over the run; other faults in between."""
        gap = self.duration / (self.kills_wanted + 1)
        others = ["cupsd_restart", "printer", "blackout", "reload", "bad_reload", "http_faults",
                  "second_daemon", "journal_moved"]
        next_kill = time.monotonic() + gap * self.rng.uniform(0.5, 1.0)
        while self.counts["kill"] < self.kills_wanted or not self.dropping_done.is_set():
            if time.monotonic() >= next_kill and self.counts["kill"] < self.kills_wanted:
                self.kill()
                next_kill = time.monotonic() + gap * self.rng.uniform(0.5, 1.5)
                continue
            if self.dropping_done.is_set() and self.counts["kill"] >= self.kills_wanted:
                break
            action = others[(self.counts["chaos"]) % len(others)]
            self.counts["chaos"] += 1
            getattr(self, action)()
            time.sleep(self.rng.uniform(0.5, 2.0))

    def kill(self) -> None:
        with self.lock:
            assert self.proc is not None
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(10)
                self.counts["kill"] += 1
            time.sleep(self.rng.uniform(0.0, 1.0))
            self.start_daemon()

    def cupsd_restart(self) -> None:
        self.cupsd.stop()
        time.sleep(self.rng.uniform(0.5, 2.0))
        self.cupsd.start()
        self.counts["cupsd restart"] += 1

    def printer(self) -> None:
        queue = self.rng.choice(["soak-front", "soak-back"])
        self.cupsd.lp("cupsdisable", queue)
        time.sleep(self.rng.uniform(1.0, 4.0))
        self.cupsd.lp("cupsenable", queue)
        self.counts["printer disabled/enabled"] += 1

    def blackout(self) -> None:
        seconds = 30.0 if self.counts["blackout"] == 0 and self.duration >= 200 else \
            self.rng.uniform(3.0, 8.0)
        self.proxy.down()
        time.sleep(seconds)
        self.proxy.up()
        self.counts["blackout"] += 1
        self.counts["blackout seconds"] += int(seconds)

    def http_faults(self) -> None:
        self.proxy.push(*self.rng.sample(["503", "429", "reset", "slow", "reset"], 3))
        self.counts["http faults injected"] += 3

    def reload(self) -> None:
        with self.lock:
            offset = round(self.rng.uniform(-1, 1), 1)
            (self.station.folder / "conf.d" / "50-soak.toml").write_text(
                f"[printers.front]\noffsets = {{ vat-special = [{offset}, 0.0] }}\n")
            self.proc.send_signal(signal.SIGHUP)
            self.counts["reload (good)"] += 1

    def bad_reload(self) -> None:
        with self.lock:
            bad = self.station.folder / "conf.d" / "60-bad.toml"
            bad.write_text("[intake]\nsettle_ms = \"soon\"\n")
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            bad.unlink()
            self.proc.send_signal(signal.SIGHUP)
            self.counts["reload (bad, refused)"] += 1

    def second_daemon(self) -> None:
        """A second `run` on the same data folder must refuse at once (exit 75)."""
        with self.lock:
            second = subprocess.run([str(EXE), "--config", str(self.station.config), "run"],
                                    capture_output=True, text=True, timeout=60,
                                    cwd=self.station.folder)
            if second.returncode != 75 or f"pid {self.proc.pid}" not in second.stderr:
                self.violations.append(f"a second daemon was not refused: exit "
                                       f"{second.returncode}: {second.stderr[-300:]}")
            self.counts["second daemon refused"] += 1

    def journal_moved(self) -> None:
        """The journal moved away at a restart: the daemon must refuse to start on a new
        one; the documented `journal restore` brings it back."""
        with self.lock:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
            moved = self.folder / f"journal-moved-{self.counts['journal moved']}.db"
            os.rename(self.station.data / "journal.db", moved)
            refused = subprocess.run([str(EXE), "--config", str(self.station.config), "run"],
                                     capture_output=True, text=True, timeout=60,
                                     cwd=self.station.folder)
            if refused.returncode != 78 or "journal restore" not in refused.stderr:
                self.violations.append(f"a daemon started without its journal: exit "
                                       f"{refused.returncode}: {refused.stderr[-300:]}")
            self.cli("journal", "restore", str(moved))
            self.counts["journal moved"] += 1
            self.start_daemon()

    # -- bring everything back, let it finish -----------------------------------------------

    def settle(self, timeout: float) -> None:
        if self.proxy._listener is None:
            self.proxy.up()
        for queue in ("soak-front", "soak-back"):
            self.cupsd.lp("cupsenable", queue)
        if self.proc is None or self.proc.poll() is not None:
            self.start_daemon()

        def quiet() -> bool:
            with open_journal(self.station) as conn:
                # A file stays in the spool while a job of it is `uncertain`: it waits for
                # an operator's `resolve`, which the soak does not give. Any other file not
                # yet archived or rejected is still moving, even when all its jobs are
                # final: the finisher settles ready files in batches, a little after the
                # last job ends, and a stop before that leaves them for the next start.
                open_sources = conn.execute(
                    "SELECT count(*) FROM sources s WHERE state NOT IN ('archived',"
                    " 'rejected', 'none') AND NOT EXISTS (SELECT 1 FROM jobs j"
                    " WHERE j.source_id = s.id AND j.state = 'uncertain')").fetchone()[0]
                moving = conn.execute(
                    "SELECT count(*) FROM jobs WHERE state NOT IN ('printed', 'rejected',"
                    " 'failed', 'cancelled', 'uncertain')").fetchone()[0]
                backlog = conn.execute("SELECT count(*) FROM events WHERE synced_at IS NULL"
                                       ).fetchone()[0]
            left = [p for p in self.station.inbox.iterdir()]
            return not (open_sources or moving or backlog or left)

        wait_for(quiet, timeout=timeout, what="everything finished and synced")
        code = self.proc.send_signal(signal.SIGTERM) or self.proc.wait(15)
        if code != 0:
            self.violations.append(f"the daemon exited {code} on SIGTERM")

    # -- the invariants -----------------------------------------------------------------

    def check(self) -> None:
        found = invariants.check(self.station, self.cupsd, self.receiver, self.drops,
                                 QUEUES, ledger="front")
        # The checker's findings come after any the settling already made, in its order.
        self.violations += found.violations
        self.notes += found.notes
        self.counts.update(found.counts)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        for part in ("proxy", "receiver", "cupsd"):
            thing = getattr(self, part, None)
            if thing is not None:
                (thing.close if part != "receiver" else thing.stop)()


def run(invoices: int, kills: int, seed: int, duration: float, folder: Path) -> int:
    soak = Soak(folder, invoices, kills, seed, duration)
    started = time.monotonic()
    try:
        soak.setup()
        dropper = threading.Thread(target=soak.dropper, daemon=True)
        dropper.start()
        soak.chaos()
        dropper.join()
        soak.settle(timeout=max(300.0, invoices * 0.2))
        soak.check()
    finally:
        soak.close()
    wall = time.monotonic() - started
    print(f"soak: {invoices:,} valid invoices in {len(soak.drops):,} files, seed {seed}, "
          f"{wall:.0f} s")
    print("\n| | count |\n|---|---|")
    for name, count in sorted(soak.counts.items()):
        if name != "chaos":
            print(f"| {name} | {count:,} |")
    print(f"| invariant violations | {len(soak.violations)} |")
    for note in soak.notes:
        print(f"\nnote: {note}")
    for violation in soak.violations[:50]:
        print(f"VIOLATION: {violation}")
    print("\nresult: " + ("PASS" if not soak.violations else "FAIL"))
    return 1 if soak.violations else 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, help="seconds to spread the drops over "
                        "(default: 0.05 s per invoice, at least 60)")
    parser.add_argument("--keep", action="store_true", help="keep the soak's folder")
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("cupsd") is None:
        print("soak: needs root and cupsd (a private cupsd runs backends as lp)",
              file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="printstation-soak-"))
    folder.chmod(0o755)
    try:
        return run(args.invoices, args.kills, args.seed,
                   args.duration or max(60.0, args.invoices * 0.05), folder)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
