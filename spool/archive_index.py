"""What the journal says `data_dir/archive/` holds, for `backup` to check the files against.

Two kinds of files are archived, both under `YYYY/MM/DD/` of their file's (UTC) claim
date (`SpoolDir.archive_dir`):

- a printed file's source, as `<spool name>` (daemon/stage_finish.py). The journal took
  its sha256 when the file was claimed (`sources.sha256`), and its bytes never change.
- each rendered page, as `<JOB>.pdf` (daemon/stage_print.py `archive_render`), written
  before the job's `job.submitted` event, whose payload carries the page's `pdf_sha256`.
  A job is rendered again when it is submitted again (after a deferral), so the last
  submit names the page in the archive. An e-invoice PDF prints as it came: such a job
  has no page of its own.

Retention (daemon/retention.py) removes files past their age, each removal journaled as
`file.expired` before the file goes (spool/expiry.py): such a file is gone on purpose,
not missing, and no longer required.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from .expiry import expired_archive
from .states import FINAL, SourceState, sql_in

_FINAL_SQL = sql_in(FINAL)


@dataclass
class Expected:
    """One file the journal knows in the archive (`path` is relative to `archive/`)."""

    path: str
    kind: str                   # "source" or "render"
    sha256: str | None          # what the journal recorded; None when it recorded none
    source: str
    job: str | None = None      # the job a page was rendered for
    invoice: str | None = None
    file: str | None = None     # a source's original name
    jobs: list[str] = field(default_factory=list)  # the jobs read from a source
    # The journal says the file is there (an archived source; a submitted job's page).
    required: bool = True
    # Its bytes can no longer change: a source, or the page of a job in a final state. A
    # page of a job still in the queue may be rendered again while the backup runs.
    settled: bool = True
    # When retention journaled its removal (`file.expired`); None while it is kept.
    removed_at: str | None = None

    def describe(self) -> str:
        if self.kind == "render":
            return f"the page rendered for job {self.job}" + \
                (f" (invoice {self.invoice})" if self.invoice else "")
        return f"the source file {self.file!r} of job(s) {', '.join(self.jobs) or self.source}"

    def doc(self) -> dict[str, Any]:
        """Its facts from the journal, as `archive-index.json` lists them."""
        removed = {"removed_at": self.removed_at} if self.removed_at else {}
        if self.kind == "render":
            return {"kind": "render", "job": self.job, "source": self.source,
                    "invoice": self.invoice, "journal_sha256": self.sha256, **removed}
        return {"kind": "source", "source": self.source, "file": self.file,
                "jobs": self.jobs, "journal_sha256": self.sha256, **removed}


def day_folder(claimed_at: str) -> str:
    """`YYYY/MM/DD` of a stored UTC time: the folder `SpoolDir.archive_dir` files under
    (which also creates it; a backup must not create anything in the data folder)."""
    return f"{claimed_at[:4]}/{claimed_at[5:7]}/{claimed_at[8:10]}"


def expected_files(conn: sqlite3.Connection) -> dict[str, Expected]:
    """Every archive file the journal knows, by its path relative to `archive/`.

    Sources still open are listed too, as not required: one archived after the journal
    was copied is then still checked against its hash.
    """
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row  # whatever the connection's own row factory
    found: dict[str, Expected] = {}
    jobs: dict[str, list[str]] = {}
    for row in cursor.execute("SELECT source_id, id FROM jobs ORDER BY batch_index"):
        jobs.setdefault(row["source_id"], []).append(row["id"])
    # A reprint's source row has no file (spool_name '').
    for row in cursor.execute("SELECT id, name, spool_name, sha256, state, claimed_at"
                              " FROM sources WHERE spool_name != '' ORDER BY rowid"):
        path = f"{day_folder(row['claimed_at'])}/{row['spool_name']}"
        found[path] = Expected(path, "source", row["sha256"], row["id"], file=row["name"],
                               jobs=jobs.get(row["id"], []),
                               required=row["state"] == SourceState.ARCHIVED.value)
    # In seq order, so that a job's last submit is the one that stays.
    for row in cursor.execute(
            "SELECT e.job_id, json_extract(e.payload, '$.pdf_sha256') AS sha256,"
            f" j.invoice_key, j.source_id, j.state IN {_FINAL_SQL} AS final, s.claimed_at"
            " FROM events e JOIN jobs j ON j.id = e.job_id JOIN sources s ON s.id = j.source_id"
            " WHERE e.type = 'job.submitted'"
            " AND coalesce(json_extract(j.invoice_json, '$.format'), '') != 'pdf'"
            " ORDER BY e.seq"):
        path = f"{day_folder(row['claimed_at'])}/{row['job_id']}.pdf"
        found[path] = Expected(path, "render", row["sha256"], row["source_id"],
                               job=row["job_id"], invoice=row["invoice_key"],
                               settled=bool(row["final"]))
    # Removed by retention, journaled before it went: gone on purpose, not missing.
    for path, at in expired_archive(conn).items():
        if path in found:
            found[path].required = False
            found[path].removed_at = at
    return found


def journal_summary(conn: sqlite3.Connection) -> dict[str, Any]:
    """How many events the copy holds and its last link, for the index's header."""
    count, last = conn.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchone()
    tip = conn.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    station = conn.execute("SELECT value FROM meta WHERE key = 'station'").fetchone()
    return {"events": count, "last_seq": last, "last_hash": tip[0] if tip else None,
            "station": station[0] if station else None}
