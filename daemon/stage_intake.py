"""The intake stage: watch the drop folder and claim finished files into the spool (SPEC §5).

Events (inotify or polling) are only hints that wake the check; a full rescan at start and
every `rescan_s` catches whatever they miss (renames from outside arrive as `created`
only; the polling observer never sends `closed`; an inotify overflow sends nothing). A
file is taken when its content proves it complete, or once (size, mtime, inode) have not
changed for `settle_ms`. Symlinks, FIFOs and devices are claimed at once and never opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from printstation.base import logs
from printstation.spool import display_name, new_source_id

from .context import Context
from .crash import crash_point
from .runner import JournalRunner

IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload")


def ignored(name: str) -> bool:
    """Names a writer uses while it is still writing, and dot-files, are left alone."""
    lower = name.lower()
    return name.startswith((".", "~")) or lower.endswith(IGNORED_SUFFIXES)


def complete_by_content(path: Path, name: str) -> bool:
    """True when the bytes themselves show the file is whole (it may still be invalid)."""
    ext = os.path.splitext(name)[1].lower()
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    if ext == ".pdf":
        return data.rstrip().endswith(b"%%EOF")
    if ext == ".xml":
        root = re.search(rb"<([A-Za-z_][\w.:-]*)[\s>/]", re.sub(rb"<\?.*?\?>|<!--.*?-->", b"",
                                                                   data[:4096], flags=re.S))
        return bool(root) and data.rstrip().endswith(b"</" + root.group(1) + b">")
    if ext == ".json":
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                json.loads(data.decode(encoding))
                return True
            except (UnicodeDecodeError, ValueError, RecursionError):
                continue
    return False


@dataclass
class _Candidate:
    signature: tuple[int, int, int]
    since: float
    complete: bool | None = None


class _Hints(FileSystemEventHandler):
    def __init__(self, on_name: Callable[[str], None]):
        self.on_name = on_name

    def on_any_event(self, event: FileSystemEvent) -> None:
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path:
                self.on_name(os.path.basename(os.fsdecode(path)))


class IntakeRunner(JournalRunner):
    name = "intake"

    def __init__(self, ctx: Context, on_claimed: Callable[[], None]):
        super().__init__(ctx)
        self.on_claimed = on_claimed
        # The drop folder is fixed for the process (a reload may not move it).
        self.drop = ctx.settings.intake.drop_dir
        self._hints: set[str] = set()
        self._lock = threading.Lock()
        self._pending: dict[str, _Candidate] = {}
        self._failed: dict[str, str] = {}
        self._next_rescan = 0.0
        self.observer: Observer | PollingObserver | None = None

    def setup(self) -> None:
        super().setup()
        polling = self.ctx.settings.intake.observer == "polling"
        self.observer = PollingObserver(timeout=1) if polling else Observer()
        self.observer.schedule(_Hints(self._hint), str(self.drop), recursive=False)
        self.observer.start()

    def teardown(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(5)
        super().teardown()

    # Read from the current settings each time, so that a reload applies them.
    @property
    def settle_s(self) -> float:
        return self.ctx.settings.intake.settle_ms / 1000

    @property
    def max_bytes(self) -> int:
        return self.ctx.settings.intake.max_file_mb * 1024 * 1024

    def _hint(self, name: str) -> None:
        with self._lock:
            self._hints.add(name)
        self.wake()

    def nap_s(self) -> float:
        now = time.monotonic()
        due = [self._next_rescan] + [c.since + self.settle_s for c in self._pending.values()]
        return max(0.01, min(min(due) - now, self.idle_s))

    def run_once(self) -> bool:
        now = time.monotonic()
        with self._lock:
            names, self._hints = self._hints, set()
        if now >= self._next_rescan:
            self._next_rescan = now + self.ctx.settings.intake.rescan_s
            names |= set(os.listdir(self.drop))
            # Forget candidates that disappeared without an event.
            for gone in set(self._pending) - names:
                del self._pending[gone]
        names |= {n for n, c in self._pending.items() if now >= c.since + self.settle_s}
        for name in sorted(names):
            if self.stopping:
                break
            self.consider(name, now)
        return False

    def consider(self, name: str, now: float) -> None:
        if ignored(name):
            return
        path = self.drop / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            self._pending.pop(name, None)
            return
        if stat.S_ISDIR(st.st_mode):
            return
        if not stat.S_ISREG(st.st_mode):
            self.claim(name, path, regular=False)
            return
        signature = (st.st_size, st.st_mtime_ns, st.st_ino)
        cand = self._pending.get(name)
        if cand is None or cand.signature != signature:
            cand = self._pending[name] = _Candidate(signature, now)
        if cand.complete is None:
            cand.complete = st.st_size <= self.max_bytes and complete_by_content(path, name)
        if cand.complete or now - cand.since >= self.settle_s:
            self.claim(name, path, regular=True)

    def claim(self, name: str, path: Path, regular: bool) -> None:
        self._pending.pop(name, None)
        source_id = new_source_id(self.ctx.clock())
        try:
            spool_name = self.ctx.spool.claim(path, source_id)
        except FileNotFoundError:
            return  # taken away by its writer between the check and the claim
        except OSError as exc:
            # Log a failing file once, not on every rescan; it stays in the drop folder.
            if self._failed.get(name) != str(exc):
                self._failed[name] = str(exc)
                logs.error("intake.claim_failed", file=name, error=exc)
            return
        self._failed.pop(name, None)
        crash_point("after_claim")
        spooled = self.ctx.spool.path(spool_name)
        size = os.lstat(spooled).st_size if regular else None
        # A file over the limit is refused unread: no point hashing a gigabyte.
        sha256 = file_digest(spooled)[0] if regular and size <= self.max_bytes else None
        job = self.journal.register_source(source_id, os.fsencode(name), spool_name, sha256, size)
        crash_point("after_register")
        logs.info("job.incoming", job=job, file=display_name(name), size=size)
        self.on_claimed()


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
