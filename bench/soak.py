"""The whole system under faults, then an invariant check (issue 9).

Starts a private cupsd with two queues, the reference receiver behind the fault-injecting
proxy, and `printstation run` with a paper ledger on one printer. It drops invoices over
time — single files written in place or renamed in, batches, slow writers, exact
duplicates, invoices already printed, the hostile corpus — while a chaos loop SIGKILLs
the daemon at spread-out random moments, restarts cupsd, disables and enables a printer,
blacks out head office, injects HTTP faults, and sends SIGHUP with good and bad configs.

Then everything is brought back and left to finish, and a checker proves:

- every valid invoice printed exactly once, counted in the CUPS output files (mapped to
  journal jobs by CUPS job title); an `uncertain` job may have printed at most once and
  is listed with its cause;
- every other file is in `rejected_dir`, byte-identical, with its `.error.txt`;
- every dropped file is accounted for exactly once, and the drop folder and spool are
  empty;
- `printstation journal --verify` is clean;
- head office holds every event exactly once, in order, chain intact; no backlog;
- no job is left non-final except `uncertain` ones;
- every sheet the ledger gave out is used by exactly one printed job.

It prints a summary table and exits 1 on any violation.

    .venv/bin/python bench/soak.py [--invoices 5000] [--kills 20] [--seed 1]

Needs root (a private cupsd runs its backends as lp). `make test` runs a short version
(tests/test_soak.py: 500 invoices, 5 kills).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from printstation.base.durable import fit_name
from printstation.harness.cupsd import Cupsd
from printstation.harness.faultproxy import FaultProxy
from printstation.harness.hostile import corpus
from printstation.harness.kit import EXE, SAMPLES, Station, wait_for, write_config
from printstation.harness.receiver import TOKEN, Receiver, verify_received
from printstation.spool import SpoolDir

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
FINAL = ("printed", "rejected", "failed", "cancelled")


@dataclass
class Drop:
    """One file the soak drops, and what must become of it."""

    name: str
    data: bytes | None            # None: a FIFO or a symlink
    expect: str                   # "printed" or "rejected"
    keys: list[str] = field(default_factory=list)
    how: str = "rename"           # "rename", "direct", "slow", "fifo", "symlink"
    after: int = -1               # index of the drop it must follow (duplicates)

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else None


def sample(kind: str, number: str, remark: str = "") -> dict:
    doc = json.loads((SAMPLES / f"{kind}.json").read_text("utf-8"))
    doc["number"] = number
    if remark:
        doc["remark"] = remark
    return doc


def key_of(doc: dict) -> str:
    return f"{doc['code']}-{doc['number']}" if doc.get("code") else doc["number"]


def encode(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def plan(invoices: int, rng: random.Random) -> list[Drop]:
    """The files to drop, in order: `invoices` valid invoices plus the bad ones."""
    drops: list[Drop] = []
    number = 30_000_000
    singles: list[int] = []
    made = 0
    while made < invoices:
        kind = "vat-special" if rng.random() < 0.7 else "vat-ordinary"
        if rng.random() < 0.03 and invoices - made >= 5:
            docs = [sample(kind, f"{number + i:08d}") for i in range(5)]
            number += 5
            drops.append(Drop(f"batch-{number}.json", encode({"invoices": docs}), "printed",
                              [key_of(d) for d in docs]))
            made += 5
            continue
        doc = sample(kind, f"{number:08d}")
        number += 1
        how = rng.choices(["rename", "direct", "slow"], [60, 35, 5])[0]
        drops.append(Drop(f"inv-{doc['number']}.json", encode(doc), "printed", [key_of(doc)],
                          how))
        singles.append(len(drops) - 1)
        made += 1
    # Exact copies under another name (file.duplicate) and other files with an invoice
    # number already printed (invoice.duplicate): rejected, the original printed once.
    for i in rng.sample(singles, max(1, invoices // 50)):
        drops.append(Drop(f"copy-of-{drops[i].name}", drops[i].data, "rejected", after=i))
    for i in rng.sample(singles, max(1, invoices // 100)):
        doc = json.loads(drops[i].data)
        doc["remark"] = "再次开具 again"
        drops.append(Drop(f"again-{drops[i].name}", encode(doc), "rejected", after=i))
    for name, (data, _code) in corpus().items():
        drops.append(Drop(name, data, "rejected",
                          how="direct" if rng.random() < 0.5 else "rename"))
    drops.append(Drop("hostile-fifo.json", None, "rejected", how="fifo"))
    drops.append(Drop("hostile-symlink.json", None, "rejected", how="symlink"))
    # Shuffle, then move each dependent drop after the one it copies.
    order = list(range(len(drops)))
    rng.shuffle(order)
    position = {index: pos for pos, index in enumerate(order)}
    for index, drop in enumerate(drops):
        if drop.after >= 0 and position[index] < position[drop.after]:
            position[index] = position[drop.after] + 0.5
    final = sorted(range(len(drops)), key=lambda i: position[i])
    moved = {old: new for new, old in enumerate(final)}
    for drop in drops:
        if drop.after >= 0:
            drop.after = moved[drop.after]
    return [drops[i] for i in final]


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

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(EXE), "--config", str(self.station.config), *args],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "CUPS_SERVER": self.cupsd.server})
        if check and done.returncode:
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
        others = ["cupsd_restart", "printer", "blackout", "reload", "bad_reload", "http_faults"]
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

    # -- bring everything back, let it finish -----------------------------------------------

    def settle(self, timeout: float) -> None:
        if self.proxy._listener is None:
            self.proxy.up()
        for queue in ("soak-front", "soak-back"):
            self.cupsd.lp("cupsenable", queue)
        if self.proc is None or self.proc.poll() is not None:
            self.start_daemon()

        def quiet() -> bool:
            with self.db() as conn:
                # A file stays in the spool while a job of it is `uncertain`: it waits for
                # an operator's `resolve`, which the soak does not give.
                open_sources = conn.execute(
                    "SELECT count(*) FROM sources s WHERE state NOT IN ('archived', 'rejected')"
                    " AND EXISTS (SELECT 1 FROM jobs j WHERE j.source_id = s.id AND j.state"
                    " NOT IN ('printed', 'rejected', 'failed', 'cancelled', 'uncertain'))"
                ).fetchone()[0]
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

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.station.data / "journal.db", timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    # -- the invariants -----------------------------------------------------------------

    def check(self) -> None:
        v = self.violations
        with self.db() as conn:
            jobs = {r["id"]: r for r in conn.execute("SELECT * FROM jobs")}
            sources = conn.execute("SELECT * FROM sources").fetchall()
            sheets = conn.execute("SELECT * FROM sheets WHERE state != 'loaded' OR job_id"
                                  " IS NOT NULL").fetchall()

        # Printed exactly once, counted on paper (the CUPS output files). Each output is
        # tied to its journal job by the CUPS job title, and to its CUPS job by file name.
        printed_by_key: Counter[str] = Counter()
        cups_jobs: dict[str, set[str]] = {}
        partial: Counter[str] = Counter()
        outputs = 0
        for queue in ("soak-front", "soak-back"):
            for out in sorted(self.cupsd.out(queue).glob("job-*.out*")):
                if out.name.endswith(".title"):
                    continue
                cups_id = out.name.split("-")[1]
                if out.name.endswith(".tmp"):
                    # The backend was killed mid-job (cupsd stopped): a spoiled sheet.
                    matching = [j for j in jobs.values()
                                if j["cups_job_id"] == str(int(cups_id))
                                and j["printer"] == queue.removeprefix("soak-")]
                    if matching:
                        partial[matching[0]["invoice_key"]] += 1
                    continue
                outputs += 1
                title_file = Path(f"{out}.title")
                title = title_file.read_text() if title_file.exists() else ""
                job = jobs.get(title.removeprefix("printstation:"))
                if job is None:
                    v.append(f"{out.name}: output of no journal job (title {title!r})")
                    continue
                printed_by_key[job["invoice_key"]] += 1
                cups_jobs.setdefault(job["invoice_key"], set()).add(f"{queue}:{cups_id}")
        valid = {k for d in self.drops if d.expect == "printed" for k in d.keys}
        uncertain = {j["invoice_key"]: j for j in jobs.values() if j["state"] == "uncertain"}
        for key in sorted(valid):
            found = printed_by_key.get(key, 0)
            if len(cups_jobs.get(key, ())) > 1:
                v.append(f"{key}: handed to CUPS {len(cups_jobs[key])} times: "
                         f"{sorted(cups_jobs[key])}")
            elif key not in uncertain and found != 1:
                v.append(f"{key}: printed {found} times, not once")
        for key in set(printed_by_key) - valid:
            v.append(f"{key}: printed but never a valid drop")
        for key, job in sorted(uncertain.items()):
            self.notes.append(f"uncertain: job {job['id']} invoice {key} ({job['reason']}), "
                              f"CUPS job {job['cups_job_id']} on {job['printer']}: "
                              + _cause(printed_by_key.get(key, 0), partial.get(key, 0)))
        printed_jobs = [j for j in jobs.values() if j["state"] == "printed"]
        if len(printed_jobs) != len(valid) - len(uncertain):
            v.append(f"{len(printed_jobs)} printed jobs for {len(valid)} valid invoices "
                     f"({len(uncertain)} uncertain)")

        # Every file accounted for, once, in its one place, byte-identical.
        by_name: dict[bytes, list[sqlite3.Row]] = {}
        for source in sources:
            by_name.setdefault(bytes(source["raw_name"]), []).append(source)
        spool = SpoolDir(self.station.data)
        rejected_dir = self.station.rejected
        # An invoice and its copies (same bytes, or same number) form a group: whichever
        # file was claimed first prints, every other one is rejected.
        groups: dict[int, list[Drop]] = {}
        for drop in self.drops:
            if drop.after >= 0:
                groups.setdefault(drop.after, []).append(drop)
        for index, drop in enumerate(self.drops):
            rows = by_name.get(os.fsencode(drop.name), [])
            if len(rows) != 1:
                v.append(f"{drop.name[:60]!r}: {len(rows)} journal sources, not 1")
                continue
            row = rows[0]
            state = "printed" if row["state"] == "archived" else row["state"]
            if index in groups:
                members = [drop, *groups[index]]
                states = [self._state(by_name, m) for m in members]
                # An `open` member waits on an uncertain job: it counts as the one taken.
                taken = states.count("archived") + states.count("open")
                if taken != 1 or states.count("rejected") != len(members) - 1:
                    v.append(f"{drop.name[:60]!r} and its copies ended {states}: one must "
                             "print, the others be rejected")
                elif states[0] != "archived":
                    self.counts["copies claimed before their original"] += 1
            if row["state"] == "open":
                waiting = [j for j in jobs.values() if j["source_id"] == row["id"]
                           and j["state"] not in FINAL]
                if not waiting or any(j["state"] != "uncertain" for j in waiting):
                    states = [j["state"] for j in waiting]
                    v.append(f"{drop.name[:60]!r}: still open, jobs {states}")
                elif _sha256(spool.path(row["spool_name"])) != drop.sha256:
                    v.append(f"{drop.name[:60]!r}: spooled copy differs")
                continue
            if index not in groups and drop.after < 0 and state != drop.expect:
                v.append(f"{drop.name[:60]!r}: {row['state']}, expected {drop.expect}")
                continue
            if state == "printed":
                where = spool.archive_dir(row["claimed_at"]) / row["spool_name"]
            else:
                where = Path(os.fsdecode(row["destination"]))
                report = where.parent / fit_name(where.name, ".error.txt")
                if where.parent != rejected_dir or not report.is_file():
                    v.append(f"{drop.name[:60]!r}: no error file beside {where}")
            if drop.data is None:
                if not os.path.lexists(where):
                    v.append(f"{drop.name[:60]!r}: missing at {where}")
            elif not where.is_file() or _sha256(where) != drop.sha256:
                v.append(f"{drop.name[:60]!r}: not byte-identical at {where}")
        waiting_files = {r["spool_name"] for r in sources if r["state"] == "open"}
        leftovers = list(self.station.inbox.iterdir()) + \
            [p for p in (self.station.data / "spool").iterdir() if p.name not in waiting_files]
        if leftovers:
            v.append(f"left behind: {[p.name[:40] for p in leftovers[:5]]}")
        if len(sources) != len(self.drops):
            v.append(f"{len(sources)} journal sources for {len(self.drops)} drops")

        verify = self.cli("journal", "--verify", check=False)
        if verify.returncode:
            v.append(f"journal --verify: {verify.stdout.strip()} {verify.stderr.strip()}")

        try:
            held = verify_received(self.receiver, self.station)
        except AssertionError as exc:
            v.append(f"head office: {exc}")
            held = 0

        stuck = [j for j in jobs.values() if j["state"] not in
                 ("printed", "rejected", "failed", "cancelled", "uncertain")]
        v += [f"job {j['id']} left {j['state']} ({j['reason']})" for j in stuck]

        used: Counter[str] = Counter(s["job_id"] for s in sheets if s["state"] == "used")
        front_printed = {j["id"] for j in printed_jobs if j["printer"] == "front"}
        if set(used) != front_printed or any(n != 1 for n in used.values()):
            v.append(f"paper: {len(used)} sheets used for {len(front_printed)} printed jobs "
                     f"on front")
        for sheet in sheets:
            if sheet["state"] == "loaded" and jobs.get(sheet["job_id"], {"state": ""})[
                    "state"] != "uncertain":
                v.append(f"sheet {sheet['number']} held by job {sheet['job_id']} "
                         f"({jobs.get(sheet['job_id'], {'state': '?'})['state']})")

        self.counts["CUPS output files"] = outputs
        self.counts["head office events"] = held
        self.counts["head office duplicates ignored"] = self.receiver.station()["duplicates"]
        self.counts["jobs printed"] = len(printed_jobs)
        self.counts["jobs uncertain"] = len(uncertain)
        self.counts["files rejected"] = sum(1 for s in sources if s["state"] == "rejected")
        self.counts["sheets used"] = sum(used.values())

    def _state(self, by_name: dict[bytes, list[sqlite3.Row]], drop: Drop) -> str:
        rows = by_name.get(os.fsencode(drop.name), [])
        return rows[0]["state"] if len(rows) == 1 else f"{len(rows)} sources"

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        for part in ("proxy", "receiver", "cupsd"):
            thing = getattr(self, part, None)
            if thing is not None:
                (thing.close if part != "receiver" else thing.stop)()


def _cause(complete: int, cut: int) -> str:
    """What the paper shows for an uncertain job, and how CUPS got there."""
    if complete > 1:
        return (f"{complete} complete outputs of one CUPS job: cupsd was stopped after the "
                "backend finished and ran the job again when it came back")
    if complete and cut:
        return ("cut off when cupsd was stopped, then run again by CUPS: one complete "
                "output and one spoiled sheet")
    if complete:
        return ("one complete output, but CUPS ended the job as stopped or aborted (cupsd "
                "was restarted around it)")
    if cut:
        return "cut off when cupsd was stopped, and not run again: a spoiled sheet"
    return "stopped by the cupsd restart before any output"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
