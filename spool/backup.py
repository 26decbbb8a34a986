"""`printstation backup DEST`: a consistent copy of the journal and the archive.

The journal is copied online with SQLite's backup API in one step (a stepwise backup
never finishes under writes, TECH.md), checked with `integrity_check`, synced and only
then renamed into place. Archive files are copied when missing or different in size, and
`archive-index.json` lists every archived file with its sha256 from the journal.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from printstation.base.durable import atomic_write, fsync_file, replace_file
from printstation.base.errors import StationError

from .states import SourceState

Progress = Callable[[str], None]


class BackupFailed(StationError):
    """The copy is not trustworthy; the previous backup (if any) was left as it was."""


def backup(db_path: Path, archive_root: Path, dest: Path,
           progress: Progress = lambda text: None) -> dict[str, int]:
    dest.mkdir(parents=True, exist_ok=True)
    partial = dest / ".journal.db.partial"
    partial.unlink(missing_ok=True)
    progress("journal: copying")
    source = sqlite3.connect(db_path, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        source.backup(copy, pages=-1)
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        events = copy.execute("SELECT count(*) FROM events").fetchone()[0]
        index = [{"path": os.fsdecode(row[0]) if isinstance(row[0], bytes) else row[0],
                  "sha256": row[1], "size": row[2]} for row in copy.execute(
            "SELECT destination, sha256, size FROM sources WHERE state = ?",
            (SourceState.ARCHIVED.value,))]
    finally:
        copy.close()
        source.close()
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise BackupFailed(f"the copy failed integrity_check: {verdict}")
    fsync_file(partial)
    replace_file(partial, dest / "journal.db")

    # Hidden names are atomic writes still in progress (base/durable.py): not archive yet.
    files = [p for p in archive_root.rglob("*") if p.is_file() and not p.name.startswith(".")] \
        if archive_root.exists() else []
    copied = 0
    for done, path in enumerate(files, 1):
        target = dest / "archive" / path.relative_to(archive_root)
        try:
            if not target.exists() or target.stat().st_size != path.stat().st_size:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                copied += 1
        except FileNotFoundError:
            continue  # gone since the walk (archived files are never removed; tolerate it)
        if done % 200 == 0 or done == len(files):
            progress(f"archive: {done}/{len(files)} files checked, {copied} copied")
    atomic_write(dest / "archive-index.json",
                 (json.dumps(index, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    return {"events": events, "archive_files": len(files), "copied": copied}
