"""The login rate limit of the station's console (web/) and the head-office dashboard:
guessing passwords is slowed, and no one can bar a user they are not.

Three counts of failed logins, each with its own rule:

- a user name from one address (the bar that matters): 5 failures cost nothing, then each
  failure bars that name from that address for a delay that doubles, up to 30 s;
- a user name from anywhere (a guesser spreading over many addresses): 20 failures, then
  a 5 s wait after each one, no more, so that a stranger cannot shut a user out for long;
- an address across all names (one machine trying every name): 50 failures, then delays
  that double up to 30 s.

Every loopback source (all of 127.0.0.0/8 and ::1) is one address: a program on this
machine may bind any of them, and changing its source must not give it a fresh count.

A user who has logged in from an address before is not held up there by the counts of
their name from anywhere, or of that address across names: those are strangers' failures
(another program on loopback trying made-up names), and only their own name from their
own address bars them. What the limiter knows lives in memory: a restart forgets
it, which gives a guesser nothing a wait of 15 minutes would not.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

LOOPBACK = "loopback"


@dataclass(frozen=True)
class Rule:
    """`free` failures cost nothing; from then on the n-th failure bars for
    `first_s * 2 ** (n - free)` seconds, at most `most_s`."""

    free: int
    first_s: float
    most_s: float

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.most_s, self.first_s * 2.0 ** (failures - self.free))


PAIR = Rule(free=5, first_s=1.0, most_s=30.0)
USER = Rule(free=20, first_s=5.0, most_s=5.0)
ADDRESS = Rule(free=50, first_s=1.0, most_s=30.0)


def client_address(remote: str | None) -> str:
    """The address a count is kept for: every loopback address as one."""
    text = (remote or "-").strip()
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text[:64]
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return LOOPBACK if address.is_loopback else address.compressed


class Limiter:
    """Login failures by (name, address), by name and by address (see the module's words).
    An attempt while barred is not even checked (429). A success clears its own (name,
    address) count and marks the pair as known; a count with no failure for FORGET_S
    starts afresh."""

    FORGET_S = 900.0
    MAX_KEYS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        # (kind, key) -> (failures, barred until, last failure)
        self._keys: dict[tuple[str, str], tuple[int, float, float]] = {}
        # (name, address) pairs that logged in, oldest first.
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _counts(name: str, address: str) -> list[tuple[tuple[str, str], Rule]]:
        user = name.lower()[:64]
        return [(("pair", f"{user}\0{address}"), PAIR), (("user", user), USER),
                (("addr", address), ADDRESS)]

    def wait_s(self, name: str, address: str) -> float:
        """Seconds until `name` may try again from `address` (0: now)."""
        now = self.clock()
        with self._lock:
            known = (name.lower()[:64], address) in self._known
            waits = [self._keys[key][1] - now for key, _ in self._counts(name, address)
                     if key in self._keys and (key[0] == "pair" or not known)]
        return max(waits, default=0.0)

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key, rule in self._counts(name, address):
                n, _, last = self._keys.get(key, (0, 0.0, now))
                n = 0 if now - last > self.FORGET_S else n
                self._keys[key] = (n + 1, now + rule.delay(n + 1), now)
            if len(self._keys) > self.MAX_KEYS:
                self._forget(now)

    def succeeded(self, name: str, address: str) -> None:
        pair = (name.lower()[:64], address)
        with self._lock:
            self._keys.pop(self._counts(name, address)[0][0], None)
            self._known[pair] = None
            self._known.move_to_end(pair)
            while len(self._known) > self.MAX_KEYS:
                self._known.popitem(last=False)

    def _forget(self, now: float) -> None:
        """Old counts first; a flood of new names cannot grow memory without bound."""
        for key in sorted(self._keys, key=lambda k: self._keys[k][2]):
            if len(self._keys) <= self.MAX_KEYS // 2 and \
                    now - self._keys[key][2] <= self.FORGET_S:
                break
            del self._keys[key]
