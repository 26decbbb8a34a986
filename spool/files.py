"""The spool folder: where claimed files live until their jobs are final.

A claimed file is renamed to `spool/<SOURCE ID>--<original name>`, so that after a crash
between the rename and the journal insert the file still says what it is; start-up
registers such orphans. Printed files are archived under `archive/YYYY/MM/DD/`.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

from .durable import move_file

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_source_id(now: dt.datetime) -> str:
    """A short id a clerk can type: a time prefix that sorts, and 30 random bits."""
    stamp = now.strftime("%y%m%d")
    rand = secrets.randbits(30)
    tail = "".join(_ALPHABET[(rand >> s) & 31] for s in range(25, -1, -5))
    return f"{stamp}{tail}"


class SpoolDir:
    def __init__(self, data_dir: Path):
        self.root = data_dir / "spool"
        self.archive_root = data_dir / "archive"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.archive_root.mkdir(parents=True, exist_ok=True)

    def path(self, spool_name: str) -> Path:
        return self.root / spool_name

    def claim(self, src: Path, source_id: str) -> str:
        """Move `src` into the spool durably; returns its spool name."""
        spool_name = f"{source_id}--{src.name}"
        dst = self.root / spool_name
        if os.path.lexists(dst):
            raise FileExistsError(dst)
        move_file(src, dst)
        return spool_name

    def orphans(self, known: set[str]) -> list[tuple[str, str, str]]:
        """Spool files with no journal row: (source id, original name, spool name)."""
        found = []
        for entry in sorted(os.listdir(self.root)):
            source_id, sep, name = entry.partition("--")
            if sep and source_id not in known and not entry.startswith("."):
                found.append((source_id, name, entry))
        return found

    def archive_dir(self, when: dt.datetime) -> Path:
        folder = self.archive_root / when.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        return folder
