"""A station for the web console's tests: its config (with `[web]`), and a journal on disk
made through the spool API the way the daemon makes one, holding a printed invoice, a
queued and a held job, a rejected file, and a paper range; names and texts that would be
markup if a page did not escape them (a file name, a seller's name, a rejection reason).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from printstation.invoice import problem
from printstation.spool import Journal, Outcome, State, paper

from .docs import special
from .kit import write_config

STATION_ID = "TEST-001"
CODE = "1100243130"
XSS_FILE = '<img src=x onerror=alert("file")>.json'
XSS_SELLER = "<script>alert('seller')</script>"
XSS_KIND = "<script>alert('reason')</script>"


@dataclass
class WebStation:
    folder: Path
    config: Path
    jobs: dict[str, str] = field(default_factory=dict)

    @property
    def journal_path(self) -> Path:
        return self.folder / "data" / "journal.db"

    @property
    def users_file(self) -> Path:
        return self.folder / "web-users"

    def journal(self) -> Journal:
        return Journal(self.journal_path, STATION_ID)


def web_config(folder: Path, web: str = "", extra: str = "") -> Path:
    """The test station's config, its `[web]` files in `folder` (`web` adds keys)."""
    config = write_config(folder, extra=extra)
    with open(config, "a", encoding="utf-8") as fh:
        fh.write(f'\n[web]\nusers_file = "web-users"\nsecret_file = "web-secret"\n{web}\n')
    return config


class _Maker:
    def __init__(self, journal: Journal):
        self.j = journal
        self.n = 0

    def drop(self, name: str, *outcomes: Outcome) -> list[str]:
        self.n += 1
        source = f"S{self.n:04d}"
        self.j.register_source(source, name.encode(), f"{source}--{name}", None, 100)
        return self.j.settle_read(self.j.next_incoming(), list(outcomes))


def invoice_outcome(number: str, seller: str = "北京样例科技有限公司",
                    printer: str = "pdf") -> Outcome:
    doc = special(number=number, date="2026-11-20")
    doc["seller"] = {**doc["seller"], "name": seller}
    return Outcome(State.QUEUED, kind="vat-special", invoice_key=f"{doc['code']}-{number}",
                   printer=printer, invoice_json=json.dumps(doc, ensure_ascii=False))


def web_station(folder: Path, web: str = "", extra: str = "", queued: int = 1) -> WebStation:
    """The station, its journal filled: `jobs` names the job of each kind made."""
    station = WebStation(folder, web_config(folder, web, extra))
    station.journal_path.parent.mkdir(parents=True, exist_ok=True)
    journal = station.journal()
    try:
        made = _Maker(journal)
        paper.load(journal, "pdf", "vat-special", "", "00012001", "00012010", "it")
        (printed,) = made.drop("printed.json", invoice_outcome("00012001", XSS_SELLER))
        journal.transition(printed, State.SUBMITTED, cups_job_id="x-1")
        journal.mark_printed(printed)
        bad = problem("invoice.kind", "kind", found=XSS_KIND, allowed="vat-special")
        (rejected,) = made.drop(XSS_FILE, Outcome(State.REJECTED, "invoice.kind",
                                                   errors=json.dumps([bad.to_dict()],
                                                                     ensure_ascii=False)))
        (held,) = made.drop("held.json", invoice_outcome("00012003"))
        journal.transition(held, State.HELD, "operator", payload={"operator": "it"})
        station.jobs = {"printed": printed, "rejected": rejected, "held": held}
        for n in range(queued):
            (job,) = made.drop(f"queued-{n}.json", invoice_outcome(f"{12100 + n:08d}"))
            station.jobs.setdefault("queued", job)
    finally:
        journal.close()
    return station


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
