"""The receiver's limits on what one client, and all clients together, may make it hold.

Head office faces hundreds of stations and, on the internet, anyone else. Each limit here
bounds one resource a client could otherwise take without end: memory (the body size,
and the sum of bodies being buffered at once), time (a body must arrive within a
deadline, so a slow-loris or an endless chunked body ends), CPU (JSON nesting, the work
pool) and the store (requests waiting for it). `Limits` holds the numbers, with their
defaults; the command line sets them (`cli/receiver_commands.py`).
"""

from __future__ import annotations

import collections
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

from printstation.base import logs

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # One POST /events body. A station sends `sync.batch` events (500 by default, at most
    # 10,000) of ~0.5 KB each: 16 MiB holds the largest batch with room to spare.
    max_body: int = 16 * MIB
    # Seconds for a whole body to arrive, counted from its headers: a station sends a
    # batch in well under a second; 30 s covers a slow mobile link.
    body_timeout: float = 30.0
    # The sum of bodies being read or worked on, across all requests: 16 maximal bodies.
    max_buffered: int = 256 * MIB
    # Threads that parse, check and store (and database connections in the pool). They
    # share the event loop's interpreter lock, so more threads add waiting, not speed.
    pool_size: int = 3
    # Posts admitted to the store at once; None means one more than the pool (one ready
    # to start as each finishes). An admitted post waits for the others, so latency is
    # about this number divided by the batches stored per second (Little's law): on
    # 2 cores, 3 threads and 4 places stored 22,000 events/s with p99 241 ms, where 8
    # and 16 stored as many with p99 above 1 s (bench/headoffice.py).
    max_inflight: int | None = None
    # Nesting of the JSON body: an event is 3 deep, a payload a few more.
    max_depth: int = 32
    # A dashboard request body (a login form, a search): small.
    max_dashboard_body: int = 64 * 1024
    # hypercorn: a connection with no request in progress (before the first, between two,
    # or one whose header is still trickling in) is closed after this. It is hypercorn's
    # keep-alive timeout; its read timeout is left off, because on expiry it only stops
    # reading and leaves the socket open until the keep-alive timeout, so a station
    # posting in between would wait for an answer that never comes.
    idle_timeout: float = 60.0
    handshake_timeout: float = 10.0
    # Seconds the server waits for requests in progress when asked to stop.
    graceful_timeout: float = 5.0

    @property
    def inflight(self) -> int:
        return self.max_inflight if self.max_inflight is not None else self.pool_size + 1

    def problems(self) -> list[str]:
        """What is wrong with these numbers, as `--flag: message` lines."""
        wrong = []
        for name in ("max_body", "max_buffered", "pool_size", "max_depth",
                     "max_dashboard_body"):
            if getattr(self, name) < 1:
                wrong.append(f"--{name.replace('_', '-')}: must be 1 or more")
        if self.body_timeout <= 0:
            wrong.append("--body-timeout: must be more than 0 seconds")
        if self.idle_timeout < 1:
            wrong.append("--idle-timeout: must be 1 second or more")
        if self.max_inflight is not None and self.max_inflight < 1:
            wrong.append("--max-inflight: must be 1 or more")
        if self.max_buffered < self.max_body:
            wrong.append("--max-buffered: must be at least --max-body")
        return wrong


class BufferBudget:
    """Bytes of request bodies held at once, across all requests.

    Used from the event loop only, so it needs no lock: a reservation and its release
    are never interleaved with another coroutine's.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def reserve(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def release(self, size: int) -> None:
        self.used -= size


class Admission:
    """Requests admitted to wait for the work pool (event loop only, like `BufferBudget`).

    Why a bound keeps every station's latency bounded: an admitted request waits behind at
    most `limit` others, which the pool clears in `limit / pool` store calls. Without the
    bound, a burst of posts (every station reconnecting after an outage) queues without
    end, and each post waits for all those ahead of it, ever longer. Beyond the bound the
    answer is 503 with a `Retry-After` the sync client honours.

    The wait asked for is the receiver's own estimate of when it can take the station:
    the stations turned away lately, divided by the batches it stores per second, with a
    random spread so that they do not all come back in the same second. A fixed second
    made 500 stations come back 500 times a second, each sending its whole batch again
    to be turned away again: most of the machine went on requests that stored nothing.
    """

    # Stations turned away within this many seconds count as waiting.
    WAITING_WINDOW_S = 30.0
    RETRY_MAX_S = 60
    RATE_WINDOW_S = 5.0
    UPLOADS_PER_STATION = 2

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[float, float], float] = random.uniform):
        self.limit = limit
        self.current = 0
        self.uploading = 0
        self.upload_limit = max(8, 4 * limit)
        self._uploads: dict[str, int] = {}
        self._clock, self._rand = clock, rand
        self._waiting: dict[str, float] = {}
        # When the last batches were stored: the rate is how many in the last RATE_WINDOW_S.
        self._done: collections.deque[float] = collections.deque()

    def may_upload(self, station: str) -> bool:
        """Whether a new batch may start to arrive: not while the store's places are all
        taken, so that a burst (every station posting at the same moment) is turned away
        at its header instead of arriving whole to wait; the bodies arriving at once are
        held to four times those places, and one station's to UPLOADS_PER_STATION, so
        that stations dribbling bodies (slow-loris) need many tokens to take the others'
        places."""
        return (self.current < self.limit and self.uploading < self.upload_limit
                and self._uploads.get(station, 0) < self.UPLOADS_PER_STATION)

    def start_upload(self, station: str) -> None:
        self.uploading += 1
        self._uploads[station] = self._uploads.get(station, 0) + 1

    def end_upload(self, station: str) -> None:
        self.uploading -= 1
        left = self._uploads.pop(station) - 1
        if left:
            self._uploads[station] = left

    def enter(self) -> bool:
        if self.current >= self.limit:
            return False
        self.current += 1
        return True

    def leave(self, station: str | None = None) -> None:
        """A request is done; given the `station` whose batch it stored, it counts
        towards the rate (a station lookup does not)."""
        self.current -= 1
        if station is None:
            return
        now = self._clock()
        self._waiting.pop(station, None)
        self._done.append(now)
        while self._done and self._done[0] < now - self.RATE_WINDOW_S:
            self._done.popleft()

    def retry_after(self, station: str) -> int:
        """Seconds the turned-away `station` is asked to wait (1 to RETRY_MAX_S)."""
        now = self._clock()
        self._waiting[station] = now
        if len(self._waiting) > 4 * self.limit:
            cutoff = now - self.WAITING_WINDOW_S
            self._waiting = {s: t for s, t in self._waiting.items() if t >= cutoff}
        while self._done and self._done[0] < now - self.RATE_WINDOW_S:
            self._done.popleft()
        if len(self._done) < 5:
            # No rate measured yet (just started, or idle until this burst): a guess of
            # five batches a second per admitted place, so that the first stations turned
            # away do not all come back together a second later.
            rate = 5.0 * self.limit
        else:
            rate = len(self._done) / max(now - self._done[0], 0.5)
        estimate = len(self._waiting) / rate
        return max(1, min(self.RETRY_MAX_S, round(estimate * self._rand(0.5, 1.5))))


def raise_nofile() -> int:
    """Raise the open-files soft limit to the hard limit: every connection is one file,
    and the soft default (1024) would refuse the 1,001st station. Returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            logs.warning("receiver.nofile", soft=soft, hard=hard, error=str(exc))
            return soft
    return hard
