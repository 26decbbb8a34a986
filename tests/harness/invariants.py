"""The soak's invariant checker: after a run under faults, with everything brought back and
left to finish, `check` reads the end state (the journal, the CUPS output files, the
rejected folder, the spool, head office) and proves the station's promises:

- every valid invoice printed exactly once, counted in the CUPS output files (mapped to
  journal jobs by CUPS job title); an `uncertain` job may have printed at most once and
  is listed, in a note, with its cause; no invoice is handed to CUPS twice; one CUPS job
  that CUPS itself ran twice (cupsd stopped after the backend finished, before it recorded
  it) is counted and listed in a note, not a violation: the station cannot see it;
- every other file is in `rejected_dir`, byte-identical, with its `.error.txt`; of an
  invoice and its copies (same bytes or same number) exactly one prints;
- every dropped file is accounted for exactly once, and the drop folder and spool are
  empty (but for files waiting on an `uncertain` job);
- `printstation journal --verify` is clean;
- head office holds every event exactly once, in order, chain intact; no backlog;
- no job is left non-final except `uncertain` ones;
- every sheet the ledger gave out is used by exactly one printed job.

Each broken promise is one line in `Findings.violations`; `Findings.counts` feeds the
soak's summary table.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from printstation.base.filenames import fit_name
from printstation.spool import SpoolDir

from .cupsd import Cupsd
from .drops import Drop
from .kit import EXE, Station
from .receiver import Receiver, verify_received

FINAL = ("printed", "rejected", "failed", "cancelled")


@dataclass
class Findings:
    """What the checker found: broken promises, notes on uncertain jobs, and counts."""

    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class _Paper:
    """What the CUPS output files show, per invoice key."""

    printed: Counter[str] = field(default_factory=Counter)       # complete outputs
    cups_jobs: dict[str, set[str]] = field(default_factory=dict)  # "queue:cups id"
    partial: Counter[str] = field(default_factory=Counter)       # spoiled sheets
    outputs: int = 0


def open_journal(station: Station) -> sqlite3.Connection:
    """The station's journal, read while the daemon may still be writing to it."""
    conn = sqlite3.connect(station.data / "journal.db", timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def check(station: Station, cupsd: Cupsd, receiver: Receiver, drops: list[Drop],
          queues: Mapping[str, str], ledger: str) -> Findings:
    """Every promise of the module docstring, checked against the end state of a run.

    `queues` maps each CUPS queue to the station printer that prints on it; `ledger` is
    the printer whose paper ledger hands out numbered sheets.
    """
    found = Findings()
    v = found.violations
    with open_journal(station) as conn:
        jobs = {r["id"]: r for r in conn.execute("SELECT * FROM jobs")}
        sources = conn.execute("SELECT * FROM sources").fetchall()
        sheets = conn.execute("SELECT * FROM sheets WHERE state != 'loaded' OR job_id"
                              " IS NOT NULL").fetchall()

    paper = _read_paper(cupsd, queues, jobs, v)
    valid = {k for d in drops if d.expect == "printed" for k in d.keys}
    uncertain = {j["invoice_key"]: j for j in jobs.values() if j["state"] == "uncertain"}
    for key in sorted(valid):
        times = paper.printed.get(key, 0)
        if len(paper.cups_jobs.get(key, ())) > 1:
            v.append(f"{key}: handed to CUPS {len(paper.cups_jobs[key])} times: "
                     f"{sorted(paper.cups_jobs[key])}")
        elif key not in uncertain and times > 1 and len(paper.cups_jobs[key]) == 1:
            # One CUPS job, several complete outputs: cupsd was stopped after its backend
            # had finished the job but before it recorded that, and ran it again when it
            # came back. The station handed the invoice over once and CUPS then reported
            # it done; it cannot see or stop CUPS's own rerun. Counted and listed, so a
            # rise shows, but not a broken promise of the station's.
            found.counts["CUPS reran a finished job (cupsd stopped mid-way)"] += 1
            found.notes.append(f"CUPS rerun: invoice {key}, CUPS job "
                               f"{sorted(paper.cups_jobs[key])[0]}: {_cause(times, 0)}")
        elif key not in uncertain and times != 1:
            v.append(f"{key}: printed {times} times, not once")
    for key in set(paper.printed) - valid:
        v.append(f"{key}: printed but never a valid drop")
    for key, job in sorted(uncertain.items()):
        found.notes.append(f"uncertain: job {job['id']} invoice {key} ({job['reason']}), "
                           f"CUPS job {job['cups_job_id']} on {job['printer']}: "
                           + _cause(paper.printed.get(key, 0), paper.partial.get(key, 0)))
    printed_jobs = [j for j in jobs.values() if j["state"] == "printed"]
    if len(printed_jobs) != len(valid) - len(uncertain):
        v.append(f"{len(printed_jobs)} printed jobs for {len(valid)} valid invoices "
                 f"({len(uncertain)} uncertain)")

    _check_files(station, drops, jobs, sources, found)

    verify = subprocess.run([str(EXE), "--config", str(station.config), "journal", "--verify"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CUPS_SERVER": cupsd.server})
    if verify.returncode:
        v.append(f"journal --verify: {verify.stdout.strip()} {verify.stderr.strip()}")

    try:
        held = verify_received(receiver, station)
    except AssertionError as exc:
        v.append(f"head office: {exc}")
        held = 0

    stuck = [j for j in jobs.values() if j["state"] not in (*FINAL, "uncertain")]
    v += [f"job {j['id']} left {j['state']} ({j['reason']})" for j in stuck]

    used: Counter[str] = Counter(s["job_id"] for s in sheets if s["state"] == "used")
    ledger_printed = {j["id"] for j in printed_jobs if j["printer"] == ledger}
    if set(used) != ledger_printed or any(n != 1 for n in used.values()):
        v.append(f"paper: {len(used)} sheets used for {len(ledger_printed)} printed jobs "
                 f"on {ledger}")
    for sheet in sheets:
        if sheet["state"] == "loaded" and jobs.get(sheet["job_id"], {"state": ""})[
                "state"] != "uncertain":
            v.append(f"sheet {sheet['number']} held by job {sheet['job_id']} "
                     f"({jobs.get(sheet['job_id'], {'state': '?'})['state']})")

    found.counts["CUPS output files"] = paper.outputs
    found.counts["head office events"] = held
    found.counts["head office duplicates ignored"] = receiver.station()["duplicates"]
    found.counts["jobs printed"] = len(printed_jobs)
    found.counts["jobs uncertain"] = len(uncertain)
    found.counts["files rejected"] = sum(1 for s in sources if s["state"] == "rejected")
    found.counts["sheets used"] = sum(used.values())
    return found


def _read_paper(cupsd: Cupsd, queues: Mapping[str, str], jobs: dict[str, sqlite3.Row],
                v: list[str]) -> _Paper:
    """Count what was printed on paper (the CUPS output files). Each output is tied to its
    journal job by the CUPS job title, and to its CUPS job by file name."""
    paper = _Paper()
    for queue, printer in queues.items():
        for out in sorted(cupsd.out(queue).glob("job-*.out*")):
            if out.name.endswith(".title"):
                continue
            cups_id = out.name.split("-")[1]
            if out.name.endswith(".tmp"):
                # The backend was killed mid-job (cupsd stopped): a spoiled sheet.
                matching = [j for j in jobs.values()
                            if j["cups_job_id"] == str(int(cups_id)) and j["printer"] == printer]
                if matching:
                    paper.partial[matching[0]["invoice_key"]] += 1
                continue
            paper.outputs += 1
            title_file = Path(f"{out}.title")
            title = title_file.read_text() if title_file.exists() else ""
            job = jobs.get(title.removeprefix("printstation:"))
            if job is None:
                v.append(f"{out.name}: output of no journal job (title {title!r})")
                continue
            paper.printed[job["invoice_key"]] += 1
            paper.cups_jobs.setdefault(job["invoice_key"], set()).add(f"{queue}:{cups_id}")
    return paper


def _check_files(station: Station, drops: list[Drop], jobs: dict[str, sqlite3.Row],
                 sources: list[sqlite3.Row], found: Findings) -> None:
    """Every file accounted for, once, in its one place, byte-identical."""
    v = found.violations
    by_name: dict[bytes, list[sqlite3.Row]] = {}
    for source in sources:
        by_name.setdefault(bytes(source["raw_name"]), []).append(source)
    spool = SpoolDir(station.data)
    # An invoice and its copies (same bytes, or same number) form a group: whichever
    # file was claimed first prints, every other one is rejected.
    groups: dict[int, list[Drop]] = {}
    for drop in drops:
        if drop.after >= 0:
            groups.setdefault(drop.after, []).append(drop)
    for index, drop in enumerate(drops):
        rows = by_name.get(os.fsencode(drop.name), [])
        if len(rows) != 1:
            v.append(f"{drop.name[:60]!r}: {len(rows)} journal sources, not 1")
            continue
        row = rows[0]
        state = "printed" if row["state"] == "archived" else row["state"]
        if index in groups:
            members = [drop, *groups[index]]
            states = [_state(by_name, m) for m in members]
            # An `open` member waits on an uncertain job: it counts as the one taken.
            taken = states.count("archived") + states.count("open")
            if taken != 1 or states.count("rejected") != len(members) - 1:
                v.append(f"{drop.name[:60]!r} and its copies ended {states}: one must "
                         "print, the others be rejected")
            elif states[0] != "archived":
                found.counts["copies claimed before their original"] += 1
        if row["state"] == "open":
            waiting = [j for j in jobs.values() if j["source_id"] == row["id"]
                       and j["state"] not in FINAL]
            if not waiting or any(j["state"] != "uncertain" for j in waiting):
                # Every job of the file, final ones too: a file whose jobs all ended
                # but which was never finished is a finisher's fault, not a printer's.
                states = [j["state"] for j in jobs.values() if j["source_id"] == row["id"]]
                v.append(f"{drop.name[:60]!r}: still {row['state']}, jobs {states}")
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
            if where.parent != station.rejected or not report.is_file():
                v.append(f"{drop.name[:60]!r}: no error file beside {where}")
        if drop.data is None:
            if not os.path.lexists(where):
                v.append(f"{drop.name[:60]!r}: missing at {where}")
        elif not where.is_file() or _sha256(where) != drop.sha256:
            v.append(f"{drop.name[:60]!r}: not byte-identical at {where}")
    waiting_files = {r["spool_name"] for r in sources if r["state"] == "open"}
    leftovers = list(station.inbox.iterdir()) + \
        [p for p in (station.data / "spool").iterdir() if p.name not in waiting_files]
    if leftovers:
        v.append(f"left behind: {[p.name[:40] for p in leftovers[:5]]}")
    if len(sources) != len(drops):
        v.append(f"{len(sources)} journal sources for {len(drops)} drops")


def _state(by_name: dict[bytes, list[sqlite3.Row]], drop: Drop) -> str:
    rows = by_name.get(os.fsencode(drop.name), [])
    return rows[0]["state"] if len(rows) == 1 else f"{len(rows)} sources"


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
