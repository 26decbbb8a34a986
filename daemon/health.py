"""Is the station healthy? Stages that stopped or stuck, and spool files nobody owns.

Two readers, two questions. The systemd watchdog (fed from `Service.run` only while
`healthy` is true) asks whether a restart is due: a stage whose thread ended, a stage
whose loop stopped coming round in the middle of a pass (a runner asleep waiting for
work is not stuck, however long it sleeps: an idle runner sleeps until woken), or a
spool file without a journal row (start-up
registers such files, so a restart is their remedy). `status --check` asks whether
anything needs a person, and also reports a spool file whose file is already archived or
rejected in the journal (a restart cannot fix that one, so it never starves the
watchdog: that would only restart the daemon in a loop).

A runner that waits out an error (a printer that is down, a setup that keeps failing)
still comes round, and is not stuck: restarting the daemon would not bring CUPS back.
Its error shows in `status` instead.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from printstation.config import Settings
from printstation.spool import queries
from printstation.spool.states import SOURCE

from .runner import Runner

# A spool file is an orphan once it is this old: a claim links the file in and journals
# it within milliseconds, so five minutes cannot be a claim in progress.
ORPHAN_AGE_S = 300.0
# The watchdog's look at the spool folder is cached this long (it is asked every second).
ORPHAN_CHECK_S = 30.0


def stall_limit_s(runner: Runner, settings: Settings) -> float:
    """How long `runner`'s loop may go without coming round before it is stuck."""
    limit = runner.stall_limit_s()
    if runner.name == "sync":
        # The sync worker waits out head office's outages inside one pass: up to
        # backoff_max_s between tries, each try up to timeout_s (connect, then read).
        limit += settings.sync.backoff_max_s + 2 * settings.sync.timeout_s
    return limit


def runner_report(runners: Sequence[Runner], settings: Settings,
                  now: float | None = None) -> list[dict[str, Any]]:
    """Each runner for the runtime file (`status`): alive, stuck, error, seconds since its
    loop last came round."""
    found = []
    for r in runners:
        # `sleeping` before `beat`: a runner that wakes sets its beat before it stops
        # sleeping, so an old beat is never paired with a runner that just woke.
        sleeping = r.sleeping
        age = max(0.0, (time.monotonic() if now is None else now) - r.beat)
        # A stage that holds by itself (disk full, a drop folder that will not let go)
        # says so as its error, so `status --check` shows it.
        error = r.error or getattr(r, "problem", None)
        found.append({"name": r.name, "alive": r.alive, "ready": r.ready, "error": error,
                      "beat_age_s": round(age, 1), "sleeping": sleeping,
                      "passes": r.passes,
                      "stuck": r.alive and not sleeping and age > stall_limit_s(r, settings)})
    return found


def runner_problems(runners: Sequence[Runner], settings: Settings,
                    now: float | None = None) -> list[str]:
    """Stages whose thread ended, or whose loop stopped coming round."""
    found = []
    for r in runner_report(runners, settings, now):
        if not r["alive"]:
            found.append(f"{r['name']} is not running (its thread ended)")
        elif r["stuck"]:
            found.append(f"{r['name']} is stuck: its loop has not come round for "
                         f"{r['beat_age_s']:.0f} s")
    return found


@dataclass(frozen=True)
class Orphan:
    name: str          # the file's name in the spool folder
    age_s: float
    source_state: str | None  # None: no journal row at all

    def describe(self) -> str:
        why = "has no journal row" if self.source_state is None else \
            f"belongs to a file the journal has as {self.source_state}"
        return f"spool file {self.name} {why} ({self.age_s / 60:.0f} min old)"


def spool_orphans(settings: Settings, now: float | None = None) -> list[Orphan]:
    """Files in `data_dir/spool` older than ORPHAN_AGE_S that no open source owns.

    The age is the file's ctime: claiming links or renames it into the spool, which sets
    its ctime, while its mtime may be the day it was written. The folder is listed before
    the journal is read, so a file claimed meanwhile is already journaled when looked up.
    """
    now = time.time() if now is None else now
    root = settings.station.data_dir / "spool"
    old: dict[str, tuple[str, float]] = {}
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []  # not there yet, or not ours to read (status by an outsider)
    for entry in entries:
        if entry.name.startswith("."):
            continue  # a claim's or a move's temporary name
        try:
            age = now - entry.stat(follow_symlinks=False).st_ctime
        except FileNotFoundError:
            continue  # finished meanwhile
        if age > ORPHAN_AGE_S:
            old[entry.name] = (entry.name.partition("--")[0], age)
    if not old:
        return []
    try:
        conn = queries.open_readonly(settings.journal_path)
    except (OSError, sqlite3.Error):
        return []  # no journal to judge by: no verdict
    try:
        states = queries.source_states(conn, sorted({sid for sid, _ in old.values()})) \
            if conn is not None else {}
    finally:
        if conn is not None:
            conn.close()
    found = []
    for name, (source_id, age) in sorted(old.items()):
        state = states.get(source_id)
        if state is None or state in SOURCE.final:
            found.append(Orphan(name, age, state))
    return found


_cache_lock = threading.Lock()
_cache: dict[Path, tuple[float, bool]] = {}


def _unregistered_files(settings: Settings, now: float | None) -> bool:
    """Whether the spool holds an old file without a journal row (cached ORPHAN_CHECK_S,
    unless asked for a given moment)."""
    key = settings.station.data_dir
    with _cache_lock:
        checked = _cache.get(key)
        if now is None and checked is not None and \
                time.monotonic() - checked[0] < ORPHAN_CHECK_S:
            return checked[1]
    try:
        found = any(o.source_state is None for o in spool_orphans(settings, now))
    except Exception:
        found = False  # the journal busy or the folder unreadable: no verdict this time
    with _cache_lock:
        _cache[key] = (time.monotonic(), found)
    return found


def healthy(runners: Sequence[Runner], settings: Settings, now: float | None = None) -> bool:
    """For the systemd watchdog: every stage runs and comes round, and no spool file waits
    for a restart to be registered. `now` (epoch seconds) is for tests."""
    return not runner_problems(runners, settings) and not _unregistered_files(settings, now)
