"""The sync stage (SPEC §11): deliver the journal to head office, in seq order, once.

Delivery is at-least-once with stable seqs, and head office dedupes by station and seq,
so the whole is exactly-once. The worker sends the events after head office's last
`acked_through` in batches, and only an answer moves that mark: a reset after head
office committed, or a timeout, just sends the same events again.

Retries (tenacity) cover the temporary class only, with exponential backoff and full
jitter capped by `backoff_max_s`, and `Retry-After` honoured. The sleep between tries
is this runner's own: a new event ends a backoff early (but not a wait head office asked
for), `sync --now` ends any wait, and shutdown raises out of it at once. A permanent
4xx pauses sync until a reload or `sync --now`; a 409 halts it the same way, loudly.
So does an `acked_through` above the highest seq this station ever sent (spool/outbox.py):
head office cannot hold what it was never sent, so the answer is a lie, or this journal
is not the one head office knows, and no event is marked synced on its word.
An outage is logged when it starts and when it ends, not on every try.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_never
from tenacity.wait import wait_random_exponential

from printstation.base import logs
from printstation.config import Config
from printstation.spool import iso, outbox, queries
from printstation.spool.states import SYNC, SyncState

from . import offline
from .context import Context
from .crash import crash_point
from .runner import JournalRunner
from .sync_client import (
    Conflict,
    HeadOffice,
    Permanent,
    Temporary,
    TokenProblem,
    Untrusted,
    read_token,
)

# After a failed try, a new event may end the backoff early, but not sooner than this:
# a station printing through an outage would otherwise try once per event.
EVENT_WAKE_FLOOR_S = 1.0
# When idle, ask head office this often whether it still holds what it acknowledged.
VERIFY_EVERY_S = 300.0
# The outbox report rides on a post at most this often while a backlog drains.
REPORT_EVERY_S = 10.0
# Backoff grows from about this many seconds (full jitter: a random wait up to it).
BACKOFF_BASE_S = 0.5


class ShutdownRequested(Exception):
    """Raised by the retry sleep when the daemon stops: no try happens after it."""


class SyncRunner(JournalRunner):
    name = "sync"
    # An abandoned request is harmless (the events go again on the next start), so the
    # daemon does not wait for one to finish when it stops.
    stop_budget_s = 0.5

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.client: HeadOffice | None = None
        # Where the worker starts; every later change goes through `_set_state`.
        self.state = SyncState.IDLE if ctx.settings.sync.url else SyncState.OFF
        self.acked = 0
        self.last_ok_at: str | None = None
        self.last_error: str | None = None
        self.last_error_at: str | None = None
        self.next_attempt_at: str | None = None
        self.outage_since: float | None = None
        self.outage_tries = 0
        self._kick = False
        self._reconfigure = True
        self._honour_wait = False
        self._verify_now = False
        self._verified_at = -float("inf")
        self._reported_at = -float("inf")
        # (head office's acked_through, this journal's last seq) when head office holds
        # more than this journal: set by this thread, read by the main loop.
        self.journal_behind: tuple[int, int] | None = None

    # -- control, from the main thread ----------------------------------------------------

    def kick(self) -> None:
        """`sync --now`: end any wait, resume a paused or halted sync, and ask head office
        what it holds."""
        self._kick = self._verify_now = True
        self.wake()

    def reconfigure(self, old: Config | None = None, new: Config | None = None) -> None:
        """After a reload: new URL, token or CA, and a paused sync tries again."""
        self._reconfigure = True
        self.wake()

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state.value, "url": self.ctx.settings.sync.url,
                "acked_through": self.acked, "last_ok_at": self.last_ok_at,
                "last_error": self.last_error, "last_error_at": self.last_error_at,
                "next_attempt_at": self.next_attempt_at}

    # -- the loop ------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.acked = outbox.acked_through(self.journal.conn)

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close()
        super().teardown()

    def nap_s(self) -> float:
        """Events wake this runner as they are journaled; the clock only brings the idle
        look at what head office holds (every VERIFY_EVERY_S). Retries wait in `deliver`."""
        if not self.ctx.settings.sync.url or self.state in (SyncState.PAUSED,
                                                            SyncState.HALTED):
            return self.idle_s
        return max(0.05, VERIFY_EVERY_S - (time.monotonic() - self._verified_at))

    def run_once(self) -> bool:
        settings = self.ctx.settings.sync
        if self._reconfigure or (self._kick and self.state in (SyncState.PAUSED,
                                                               SyncState.HALTED)):
            self._reconfigure = self._kick = False
            if self.client is not None:
                self.client.close()
                self.client = None
            if self.state in (SyncState.PAUSED, SyncState.HALTED):
                # The end of what `_stop_sync` logged: an operator resumed it.
                logs.info("sync.resumed", was=self.state.value, url=settings.url)
            self._set_state(SyncState.IDLE if settings.url else SyncState.OFF)
        self._kick = False
        if not settings.url or self.state in (SyncState.PAUSED, SyncState.HALTED):
            return False
        if self.state is SyncState.OFF:
            # A reload turned sync on, and this pass came before its reconfigure() call.
            self._set_state(SyncState.IDLE)
        if self.client is None:
            try:
                token = read_token(settings.token_file, owner=os.geteuid())
            except TokenProblem as exc:
                self._stop_sync(SyncState.PAUSED, str(exc))
                return False
            self.client = HeadOffice(settings.url, token, settings.timeout_s, settings.ca_file)
        # The hooks are named apart from the runner loop's own `_sleep` and `_failed`
        # (daemon/runner.py), which that loop calls with other arguments.
        retrying = Retrying(
            retry=retry_if_exception_type(Temporary), wait=self._wait,
            sleep=self._retry_sleep, stop=stop_never, before_sleep=self._before_retry,
            reraise=True)
        try:
            return retrying(self.deliver)
        except ShutdownRequested:
            return False
        except Permanent as exc:
            self._stop_sync(SyncState.PAUSED, str(exc))
        except Conflict as exc:
            self._stop_sync(SyncState.HALTED, f"{exc}; head office holds different events under"
                            " the same seq: compare `printstation journal --verify` here with"
                            " head office's copy before `printstation sync --now`")
        except Untrusted as exc:
            self._stop_sync(SyncState.HALTED, f"{exc}; no event was marked synced on its word:"
                            " check that head office (and nothing between) is the real one,"
                            " and that this journal is the station's own, before"
                            " `printstation sync --now`")
        return False

    def deliver(self) -> bool:
        """One request: the next batch, or nothing when head office has everything."""
        assert self.client is not None
        events = outbox.pending(self.journal.conn, self.ctx.settings.sync.batch)
        if not events:
            if self._verify_now or time.monotonic() - self._verified_at >= VERIFY_EVERY_S:
                return self.verify()
            self._set_state(SyncState.IDLE)
            self._restored()
            return False
        self._set_state(SyncState.SENDING)
        first, last = events[0]["seq"], events[-1]["seq"]
        # Before the request: the answer is then held to what was really sent.
        outbox.record_sent(self.journal, last)
        acked = self.client.post_events(self.ctx.settings.station.id, events,
                                        self._report(len(events)))
        crash_point("sync_after_post")
        # When head office took the whole batch (the usual case while a backlog drains),
        # the next batch's sent mark rides on this commit: one commit per request, not
        # two. It is then raised a moment before that request goes out, as record_sent
        # raises it for the first; if this one turns out untrusted, nothing is written.
        ahead = None
        if acked == last:
            ahead = outbox.next_last(self.journal.conn, acked, self.ctx.settings.sync.batch)
        try:
            synced, resent = outbox.acknowledge(self.journal, acked, sending_through=ahead)
        except outbox.NeverSent as exc:
            raise self._untrusted(exc, f"POST {first}-{last}") from None
        believed, self.acked = self.acked, outbox.acked_through(self.journal.conn)
        self.last_ok_at = iso(self.ctx.clock())
        if acked < believed:
            logs.warning("sync.behind", acked_through=acked, believed=believed, resend=resent,
                         note="head office holds less than it acknowledged before "
                              "(restored from a backup?); sending again from there")
            return True
        if acked < first:
            # Head office took none of a batch that follows what it holds: sending it
            # again at once would loop, so this counts as a failed try.
            raise Temporary(f"head office acknowledged none of seq {first}-{last} "
                            f"(acked_through {acked})")
        self._restored()
        logs.debug("sync.sent", first=first, last=last, acked_through=acked, synced=synced)
        return True

    def _report(self, batch_len: int) -> dict[str, Any] | None:
        """The outbox report for head office's dashboard, on the first post, when the
        last one is REPORT_EVERY_S old, and on a batch that empties the outbox (so head
        office's last word from a station that caught up is current). Not on every post:
        it reads every unacknowledged printed event, which a backlog of 100,000 events
        should not pay 200 times."""
        now = time.monotonic()
        draining = batch_len < self.ctx.settings.sync.batch
        if not draining and now - self._reported_at < REPORT_EVERY_S:
            return None
        self._reported_at = now
        report = outbox.report(self.journal.conn)
        found = offline.budget(self.journal.conn, self.ctx.settings, self.ctx.clock())
        report["offline_used"] = found.used() if found is not None else None
        return report

    def verify(self) -> bool:
        """Ask head office what it holds; True when it holds less and events must go again.

        Done at start, when idle every VERIFY_EVERY_S, and on `sync --now`, so a head
        office restored from a backup is noticed even when nothing new is printed.
        """
        assert self.client is not None
        acked = self.client.acked_through(self.ctx.settings.station.id)
        self._verified_at, self._verify_now = time.monotonic(), False
        self.last_ok_at = iso(self.ctx.clock())
        sent = outbox.sent_through(self.journal.conn)
        if acked > sent:
            # Head office claims events this station never sent: a lie, or this journal
            # was replaced or restored from an older copy. Either way, halt.
            last = self.journal.last_seq()
            if acked > last and not queries.has_event(self.journal.conn, "journal.new"):
                # Head office holds more than this whole journal: the station's history
                # is gone from it (the daemon stops taking files: daemon/service.py),
                # unless an operator began a new journal on purpose.
                self.journal_behind = (acked, last)
            raise self._untrusted(outbox.NeverSent(acked, sent), "GET /stations")
        if acked >= self.acked:
            self._set_state(SyncState.IDLE)
            self._restored()
            return False
        _, resent = outbox.acknowledge(self.journal, acked)
        logs.warning("sync.behind", acked_through=acked, believed=self.acked, resend=resent,
                     note="head office holds less than it acknowledged before "
                          "(restored from a backup?); sending again from there")
        self.acked = outbox.acked_through(self.journal.conn)
        return True

    def _untrusted(self, exc: outbox.NeverSent, request: str) -> Untrusted:
        logs.error("sync.ahead", acked_through=exc.acked, sent_through=exc.sent,
                   last_seq=self.journal.last_seq(), request=request,
                   note="head office claims events this station never sent: a lie, or "
                        "this journal was replaced or restored from an older copy")
        return Untrusted(str(exc))

    # -- retry policy ------------------------------------------------------------------

    def _wait(self, retry_state: RetryCallState) -> float:
        """Retry-After when head office sent one; else capped exponential, full jitter."""
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, Temporary) and error.retry_after is not None:
            self._honour_wait = True
            return error.retry_after
        self._honour_wait = False
        backoff = wait_random_exponential(multiplier=BACKOFF_BASE_S,
                                          max=self.ctx.settings.sync.backoff_max_s)
        return backoff(retry_state)

    def _before_retry(self, retry_state: RetryCallState) -> None:
        """Before each sleep: remember the error; log an outage once, when it begins."""
        error = retry_state.outcome.exception() if retry_state.outcome else None
        wait_s = retry_state.upcoming_sleep
        self._set_state(SyncState.RETRYING)
        self.last_error, self.last_error_at = str(error), iso(self.ctx.clock())
        self.next_attempt_at = iso(self.ctx.clock() + dt.timedelta(seconds=wait_s))
        self.outage_tries += 1
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            logs.warning("sync.outage", url=self.ctx.settings.sync.url, error=error,
                         retry_in_s=f"{wait_s:.1f}")
        else:
            logs.debug("sync.retry", error=error, wait_s=f"{wait_s:.1f}")

    def _retry_sleep(self, seconds: float) -> None:
        """Wait between tries; raises `ShutdownRequested` the moment the daemon stops."""
        start = time.monotonic()
        deadline = start + seconds
        early_from = None if self._honour_wait else start + min(seconds, EVENT_WAKE_FLOOR_S)
        woken_by_event = False
        while True:
            if self.stopping:
                raise ShutdownRequested
            if self._kick:
                self._kick = False
                break
            now = time.monotonic()
            if now >= deadline or (woken_by_event and early_from is not None
                                   and now >= early_from):
                break
            until = deadline if not woken_by_event or early_from is None else early_from
            if self._wake.wait(until - now):
                self._wake.clear()
                woken_by_event = True
        self.beat = time.monotonic()
        self.next_attempt_at = None

    def _restored(self) -> None:
        if self.outage_since is not None:
            logs.info("sync.restored", url=self.ctx.settings.sync.url,
                      outage_s=f"{time.monotonic() - self.outage_since:.1f}",
                      tries=self.outage_tries + 1)
            self.outage_since, self.outage_tries = None, 0
        self.last_error = None
        self.next_attempt_at = None

    def _stop_sync(self, state: SyncState, error: str) -> None:
        self._set_state(state)
        self.last_error, self.last_error_at = error, iso(self.ctx.clock())
        self.next_attempt_at = None
        logs.error(f"sync.{state.value}", url=self.ctx.settings.sync.url, error=error,
                   resume="printstation sync --now, or a reload")

    def _set_state(self, new: SyncState) -> None:
        """The one place the sync state changes: a move the SYNC table lacks is a bug, and
        raises `IllegalTransition` before anything is changed."""
        SYNC.check("worker", self.state, new)
        self.state = new
