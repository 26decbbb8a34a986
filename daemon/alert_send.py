"""Delivering alerts (daemon/alerts.py): the `[alerts] command` and `webhook`, from a
thread of their own, so that a hanging script or an unreachable webhook never holds up
the pipeline or the runner that notices incidents.

Each alert goes to the command (the incident as JSON on its stdin; COMMAND_TIMEOUT_S to
finish, exit 0 for success) and to the webhook (an HTTP POST of the same JSON;
WEBHOOK_TIMEOUT_S per try, a 2xx answer for success). A failed try is tried again after
each of RETRY_PAUSES_S; a delivery that still fails is logged, with why, and given up.
Alerts go out in the order they were noticed. When the daemon stops, alerts not yet
delivered are logged as dropped: shutdown never waits on a script or the network.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from printstation.base import logs
from printstation.config.settings import AlertSettings

COMMAND_TIMEOUT_S = 30.0
WEBHOOK_TIMEOUT_S = 10.0
RETRY_PAUSES_S = (5.0, 30.0)
# More alerts waiting than this means nothing gets through: the newest are dropped
# (and logged) rather than memory growing without end.
MAX_WAITING = 500


class DeliveryFailed(Exception):
    """One try at a target did not succeed; the message says why."""


class Sender:
    def __init__(self, settings: Callable[[], AlertSettings]):
        self.settings = settings
        self.waiting: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alert-send", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end; never waits for a delivery in progress."""
        self._stop.set()
        self.waiting.put(None)
        dropped = 0
        while True:
            try:
                dropped += self.waiting.get_nowait() is not None
            except queue.Empty:
                break
        if dropped:
            logs.warning("alert.dropped", count=dropped, why="the daemon is stopping")

    def put(self, alert: dict[str, Any]) -> None:
        if self.waiting.qsize() >= MAX_WAITING:
            logs.error("alert.dropped", incident=alert["incident"], status=alert["status"],
                       why=f"{MAX_WAITING} alerts wait for delivery already")
            return
        self.waiting.put(alert)

    def _run(self) -> None:
        while not self._stop.is_set():
            alert = self.waiting.get()
            if alert is None or self._stop.is_set():
                return
            try:
                self.deliver(alert)
            except Exception as exc:  # a bug here must not end alerting
                logs.error("alert.failed", exc_info=True, incident=alert["incident"],
                           error=repr(exc))

    def deliver(self, alert: dict[str, Any]) -> None:
        settings = self.settings()
        body = (json.dumps(alert, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        targets: list[tuple[str, Callable[[], None]]] = []
        if settings.command:
            targets.append(("command", lambda: run_command(settings.command, body, alert)))
        if settings.webhook:
            targets.append(("webhook", lambda: post(settings.webhook, body)))
        for target, send in targets:
            self.try_hard(target, send, alert)

    def try_hard(self, target: str, send: Callable[[], None], alert: dict[str, Any]) -> None:
        pauses = [0.0, *RETRY_PAUSES_S]
        for attempt, pause in enumerate(pauses, 1):
            if pause and self._stop.wait(pause):
                return
            try:
                send()
            except DeliveryFailed as exc:
                if attempt == len(pauses):
                    logs.error("alert.failed", target=target, incident=alert["incident"],
                               status=alert["status"], tries=attempt, error=str(exc))
                else:
                    logs.debug("alert.retry", target=target, incident=alert["incident"],
                               error=str(exc), retry_s=pauses[attempt])
                continue
            logs.info("alert.sent", target=target, incident=alert["incident"],
                      status=alert["status"], tries=attempt)
            return


def run_command(words: tuple[str, ...], body: bytes, alert: dict[str, Any]) -> None:
    """Run the alert command with the incident on stdin; its status and kind are also in
    the environment, for a script that only needs those."""
    env = {**os.environ, "PRINTSTATION_ALERT_STATUS": alert["status"],
           "PRINTSTATION_ALERT_KIND": alert["kind"],
           "PRINTSTATION_ALERT_INCIDENT": alert["incident"]}
    try:
        done = subprocess.run(list(words), input=body, capture_output=True, env=env,
                              timeout=COMMAND_TIMEOUT_S, close_fds=True, cwd="/")
    except subprocess.TimeoutExpired:
        raise DeliveryFailed(f"{words[0]} did not finish within {COMMAND_TIMEOUT_S:g} s "
                             "(killed)") from None
    except OSError as exc:
        raise DeliveryFailed(f"{words[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DeliveryFailed(f"{words[0]} exited with {done.returncode}"
                             + (f": {said[-1][:200]}" if said else ""))


def post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "printstation-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:
            answer.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"{url}: {reason}") from None
