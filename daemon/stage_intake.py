"""The intake stage: watch the drop folder and claim finished files into the spool (SPEC §5).

Events (inotify or polling) are only hints that wake the check; a full rescan at start and
every `rescan_s` catches whatever they miss (renames from outside arrive as `created`
only; the polling observer never sends `closed`; an inotify overflow sends nothing). A
file is taken when its content proves it complete, or once (size, mtime, inode) have not
changed for `settle_ms`. Symlinks, FIFOs and devices are claimed at once and never opened.

Two conditions hold the intake, each shown in `problem` for `status` and logged once:
the data folder is full (nothing is claimed; files wait in the drop folder; a retry at
every rescan resumes by itself), and a drop folder that will not let go of a file (it is
left alone until it changes or the folder becomes writable: without this, every attempt
made a spool copy and a hint for the next attempt, thousands a second).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.observers.api import BaseObserver

from printstation.base import logs
from printstation.base.durable import disk_full, remove_stale_temps
from printstation.spool import batches, display_name, new_source_id, sources
from printstation.spool.batches import NewSource
from printstation.spool.files import Claim, DropLocked

from .context import Context
from .crash import crash_point
from .intake_files import (
    complete_by_content,
    drop_writable,
    file_digest,
    ignored,
    must_copy,
    signature,
    test_source_ids,
)
from .intake_watch import watch
from .runner import JournalRunner

__all__ = ["IntakeRunner", "complete_by_content", "file_digest", "ignored"]

# Files found ready in one pass are claimed together, their folder syncs and their commit
# shared: at most this many, and none waits longer than this for the rest of its batch.
BATCH_FILES = 64
BATCH_S = 0.05


@dataclass
class _Candidate:
    signature: tuple[int, int, int]
    since: float
    complete: bool | None = None


class IntakeRunner(JournalRunner):
    name = "intake"
    # A stop must not wait on a long copy: the copy checks `stopping` between chunks.
    stop_budget_s = 3.0

    def __init__(self, ctx: Context, on_claimed: Callable[[], None]):
        super().__init__(ctx)
        self.on_claimed = on_claimed
        # The drop folder is fixed for the process (a reload may not move it).
        self.drop = ctx.settings.intake.drop_dir
        self._hints: set[str] = set()
        self._lock = threading.Lock()
        self._pending: dict[str, _Candidate] = {}
        self._failed: dict[str, str] = {}
        # Files the drop folder would not let go of: name -> (signature, next retry).
        self._stuck: dict[str, tuple[tuple[int, int, int], float]] = {}
        # Claimed files the journal could not record (disk full), to record first.
        self._unrecorded: list[NewSource] = []
        # Files ready to be claimed in one batch, and since when the first has waited.
        self._wanted: list[tuple[str, Path, os.stat_result]] = []
        self._wanted_since = 0.0
        self._held_until = 0.0
        self._test_ids = test_source_ids(os.environ)
        self._next_rescan = 0.0
        # What holds the intake, for `status`: "disk" and "drop" -> a sentence.
        self.problems: dict[str, str] = {}
        self.observer: BaseObserver | None = None

    @property
    def problem(self) -> str | None:
        """Why files are waiting in the drop folder, or None. Read from other threads: the
        copy of the values is made in one step (under the GIL), never mid-change."""
        return "; ".join(tuple(self.problems.values())) or None

    def setup(self) -> None:
        super().setup()
        self.clean_up()
        self.observer = watch(self.drop, self._hint,
                              polling=self.ctx.settings.intake.observer == "polling")

    def teardown(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(5)
        super().teardown()

    def clean_up(self) -> None:
        """At start: remove temporary files a crash left (in our folders only, and only
        our own names), and record spool files the journal does not know."""
        s = self.ctx.settings
        # Neither step may stop the intake: what they leave is only untidy, and the
        # next start tries again.
        try:
            removed = self.ctx.spool.clean_temps() + remove_stale_temps(s.station.data_dir) \
                + remove_stale_temps(s.intake.rejected_dir) \
                + remove_stale_temps(s.intake.results_dir)
            for path in removed:
                logs.info("intake.temp_removed", path=path)
        except OSError as exc:
            logs.error("intake.temp_cleanup_failed", error=exc)
        try:
            self.adopt_strays()
        except Exception as exc:
            if disk_full(exc):
                self._hold(exc)
            else:
                logs.error("intake.adopt_failed", exc_info=True, error=repr(exc))

    def adopt_strays(self) -> None:
        """Spool files with no journal row that start-up recovery left: a second file
        that got an id already in use (ids were shorter before), a name the journal could
        not store. Each gets a new id and is recorded, never left behind."""
        strays = self.ctx.spool.strays(sources.live_spool_names(self.journal))
        for spool_name in strays:
            if sources.spool_name_known(self.journal, spool_name):
                logs.warning("intake.spool_leftover", spool=spool_name,
                             note="a finished file's name; left alone")
                continue
            source_id = self._new_id()
            new_name = self.ctx.spool.rename(spool_name, source_id)
            if new_name is None:
                logs.error("intake.stray_failed", spool=spool_name)
                continue
            sha256, size = file_digest(self.ctx.spool.path(new_name))
            name = new_name.partition("--")[2]
            self.journal.register_source(source_id, os.fsencode(name), new_name, sha256, size,
                                         recovered=True)
            logs.info("job.incoming", job=source_id, file=name, recovered=True)
            self.on_claimed()

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
        if self._held_until:
            return max(0.01, min(self._held_until - now, self.idle_s))
        due = [self._next_rescan] + [c.since + self.settle_s for c in self._pending.values()]
        return max(0.01, min(min(due) - now, self.idle_s))

    def run_once(self) -> bool:
        now = time.monotonic()
        if self._held_until:
            if now < self._held_until or not self._record_unrecorded():
                return False
            self._held_until = 0.0
            self._next_rescan = 0.0  # look at everything that waited
        elif self._unrecorded:
            self._record_unrecorded()  # a commit that failed for another reason
        with self._lock:
            names, self._hints = self._hints, set()
        if now >= self._next_rescan:
            self._next_rescan = now + self.ctx.settings.intake.rescan_s
            listed = set(os.listdir(self.drop))
            names |= listed
            # Forget candidates that disappeared without an event.
            for gone in set(self._pending) - listed:
                del self._pending[gone]
            for gone in set(self._stuck) - listed:
                del self._stuck[gone]
            if not self._stuck:
                self._solved("drop")
        names |= {n for n, c in self._pending.items() if now >= c.since + self.settle_s}
        for name in sorted(names):
            if self.stopping or self._held_until:
                break
            self.consider(name, now)
        self._claim_wanted()
        return False

    def consider(self, name: str, now: float) -> None:
        if ignored(name):
            return
        path = self.drop / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            self._pending.pop(name, None)
            self._stuck.pop(name, None)
            return
        if stat.S_ISDIR(st.st_mode):
            return
        sig = signature(st)
        stuck = self._stuck.get(name)
        if stuck is not None:
            # Left alone until it changes, or (at most once a rescan) the folder lets go.
            if stuck[0] == sig and (now < stuck[1] or not drop_writable(self.drop, st)):
                return
            del self._stuck[name]
        if not stat.S_ISREG(st.st_mode):
            self._want(name, path, st)
            return
        cand = self._pending.get(name)
        if cand is None or cand.signature != sig:
            cand = self._pending[name] = _Candidate(sig, now)
        if cand.complete is None:
            cand.complete = complete_by_content(path, name, self.max_bytes, sig)
        if cand.complete or now - cand.since >= self.settle_s:
            self._want(name, path, st)

    def _want(self, name: str, path: Path, st: os.stat_result) -> None:
        """Queue a file that is ready to be claimed. The queue is claimed as one batch
        when it is full or has waited BATCH_S, and at the end of every pass: a lone file
        is claimed at once, and a backlog shares its folder syncs and its commit."""
        self._pending.pop(name, None)
        if not self._wanted:
            self._wanted_since = time.monotonic()
        self._wanted.append((name, path, st))
        if len(self._wanted) >= BATCH_FILES or \
                time.monotonic() - self._wanted_since >= BATCH_S:
            self._claim_wanted()

    def claim(self, name: str, path: Path, st: os.stat_result) -> None:
        """Claim one file now (a batch of one)."""
        self._claim_batch([(name, path, st)])

    def _claim_wanted(self) -> None:
        wanted, self._wanted = self._wanted, []
        if wanted and not self._held_until:
            self._claim_batch(wanted)

    def _claim_batch(self, wanted: list[tuple[str, Path, os.stat_result]]) -> None:
        """Claim several files with the spool and drop folders synced once for all, then
        record them in one commit. A crash between the two leaves them in the spool with
        no journal row, where start-up recovery registers each (`recover_orphans`,
        `adopt_strays`)."""
        claims = []
        in_spool = self.ctx.spool.ids()
        for _, path, st in wanted:
            source_id = self._new_id(in_spool)
            in_spool.add(source_id)
            claims.append(Claim(path, source_id, must_copy(path, st, self.max_bytes),
                                (st.st_dev, st.st_ino)))
        results = self.ctx.spool.claim_many(claims, abort=lambda: self.stopping)
        taken: list[tuple[str, str, str]] = []
        bug: Exception | None = None
        for (name, _, st), claim, result in zip(wanted, claims, results, strict=True):
            if isinstance(result, str):
                self._failed.pop(name, None)
                taken.append((claim.source_id, name, result))
            elif not isinstance(result, OSError):
                bug = result
            else:
                self._claim_failed(name, st, result)
        if taken and not self._stuck:
            self._solved("drop")
        if taken:
            crash_point("after_claim")
            if len(taken) > 1:
                crash_point("after_claim_batch")
        for source_id, name, spool_name in taken:
            spooled = self.ctx.spool.path(spool_name)
            try:
                now_st = os.lstat(spooled)
            except FileNotFoundError:
                continue
            size = now_st.st_size if stat.S_ISREG(now_st.st_mode) else None
            # A file over the limit is refused unread: no point hashing a gigabyte. A
            # file we may not read has no digest: the reader refuses it
            # (`file.unreadable`).
            sha256 = file_digest(spooled)[0] if size is not None and size <= self.max_bytes \
                else None
            self._unrecorded.append(NewSource(source_id, os.fsencode(name), spool_name,
                                              sha256, size))
        if self._unrecorded and self._record_unrecorded(put_back=True):
            self._solved("disk")
        if bug is not None:
            raise bug

    def _claim_failed(self, name: str, st: os.stat_result, exc: OSError) -> None:
        if isinstance(exc, (FileNotFoundError, InterruptedError)):
            return  # taken away by its writer, or we are stopping: it stays for later
        if isinstance(exc, DropLocked):
            retry_at = time.monotonic() + self.ctx.settings.intake.rescan_s
            self._stuck[name] = (signature(st), retry_at)
            self._problem("drop", "intake.drop_locked",
                          f"cannot remove files from the drop folder {self.drop} "
                          f"({exc.strerror}): they are not taken", file=display_name(name))
            return
        if disk_full(exc):
            self._hold(exc)
            return
        # Log a failing file once, not on every rescan; it stays in the drop folder.
        if self._failed.get(name) != str(exc):
            self._failed[name] = str(exc)
            logs.error("intake.claim_failed", file=display_name(name), error=exc)

    def _record_unrecorded(self, put_back: bool = False) -> bool:
        """Journal the claimed files, in one commit; False if the data folder is full.
        With `put_back`, files that cannot be recorded go back to the drop folder to wait
        there (one that cannot go back is recorded once there is room)."""
        claimed = self._unrecorded
        if not claimed:
            return True
        try:
            if len(claimed) == 1:
                c = claimed[0]
                ids = [self.journal.register_source(c.source_id, c.raw_name, c.spool_name,
                                                    c.sha256, c.size)]
            else:
                ids = batches.register_sources(self.journal, claimed)
        except Exception as exc:
            if not disk_full(exc):
                raise
            if put_back:
                self._unrecorded = [c for c in claimed if not self.ctx.spool.unclaim(
                    c.spool_name, self.drop, os.fsdecode(c.raw_name))]
            self._hold(exc)
            return False
        self._unrecorded = []
        crash_point("after_register")
        for job, c in zip(ids, claimed, strict=True):
            logs.info("job.incoming", job=job, file=display_name(os.fsdecode(c.raw_name)),
                      size=c.size)
        self.on_claimed()
        return True

    def _new_id(self, in_spool: set[str] | None = None) -> str:
        """A source id no source, job or spool file has yet (`in_spool`: the spool's ids,
        listed once for a batch)."""
        while True:
            candidate = self._test_ids.pop(0) if self._test_ids \
                else new_source_id(self.ctx.clock())
            used = candidate in in_spool if in_spool is not None \
                else self.ctx.spool.has_id(candidate)
            if not sources.id_taken(self.journal, candidate) and not used:
                return candidate
            logs.warning("intake.id_collision", job=candidate)

    def _hold(self, exc: BaseException) -> None:
        # Tried again at each rescan: space freed by hand is noticed as soon as a missed
        # file would be.
        self._held_until = time.monotonic() + max(1.0, self.ctx.settings.intake.rescan_s)
        self._problem("disk", "intake.disk_full",
                      f"the data folder {self.ctx.settings.station.data_dir} is full: "
                      "files wait in the drop folder", error=str(exc))

    def _problem(self, key: str, event: str, text: str, **fields: str) -> None:
        """Record what holds the intake; log it when it starts, not on every retry."""
        if key not in self.problems:
            logs.error(event, problem=text, **fields)
        self.problems[key] = text

    def _solved(self, key: str) -> None:
        if self.problems.pop(key, None) is not None:
            logs.info(f"intake.{key}_ok", note="intake resumed")
