"""What the daemon's main loop keeps up between signals: the runtime file, and a look at
whether another process wrote the journal.

Both are cheap when nothing happens, which is most of a station's day (issue 19: an idle
station must cost next to nothing). The runtime file (`data_dir/status.json`, read by
`status`) is written, without fsync, when what it says changed, or every RUNTIME_EVERY_S
so `status` knows the daemon alive (daemon/status.py takes a file older than STALE_S =
30 s for a dead daemon); it used to be written, with two fsyncs, every 2 s. The journal's
WAL file changes with every commit, so a glance at it (one stat) tells the main loop that
the journal was written, whoever wrote it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

RUNTIME_EVERY_S = 10.0
# Fields of the runtime file that change by themselves: alone, no reason to write it.
_CHANGING = frozenset({"updated_at", "beat_age_s", "passes", "sleeping"})


class RuntimeFile:
    def __init__(self, path: Path):
        self.path = path
        self._said: object = None
        self._at = 0.0

    def write(self, doc: dict[str, Any], only_if_changed: bool = False) -> None:
        """Write `doc`; with `only_if_changed`, not when it says what the file says and the
        file is younger than RUNTIME_EVERY_S. Raises what the write raises (OSError)."""
        said = _steady(doc)
        if only_if_changed and said == self._said and \
                time.monotonic() - self._at < RUNTIME_EVERY_S:
            return
        _replace_unsynced(self.path, (json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
                          .encode("utf-8"))
        self._said, self._at = said, time.monotonic()


class JournalWrites:
    """Tells whether the journal was written since the last look, from its WAL file
    (inode, size, modification time): every commit writes it."""

    def __init__(self, journal_path: Path):
        self.wal = Path(f"{journal_path}-wal")
        self._seen = self._state()

    def _state(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self.wal)
        except OSError:
            return (0, 0, 0)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def changed(self) -> bool:
        seen = self._state()
        if seen == self._seen:
            return False
        self._seen = seen
        return True


def _replace_unsynced(path: Path, data: bytes) -> None:
    """Replace `path` as atomic_write does (readers see the old file or the new), without
    fsync: the file says what the running daemon does, nothing in it must survive a power
    cut, and a file lost to one is written again at the next start. One fixed temporary
    name, overwritten each time, so a crash leaves no litter."""
    tmp = path.with_name(f".{path.name}.writing")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _steady(doc: object) -> object:
    """`doc` without the fields that change by themselves."""
    if isinstance(doc, dict):
        return {k: _steady(v) for k, v in doc.items() if k not in _CHANGING}
    if isinstance(doc, list):
        return [_steady(v) for v in doc]
    return doc
