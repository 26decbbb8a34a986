"""The receiver's side of the sync protocol (SPEC §11): tokens and the shape of a batch."""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Any

from printstation.spool.journal import event_hash

HASH = re.compile(r"[0-9a-f]{64}")
# The hashed body of an event, with the type each field must have.
BODY_FIELDS: dict[str, tuple[type, ...]] = {
    "seq": (int,), "id": (str,), "at": (str,), "station": (str,), "type": (str,),
    "job_id": (str, type(None)), "invoice_key": (str, type(None)), "payload": (dict,)}


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Tokens:
    """`STATION_ID TOKEN` lines; re-read when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: int | None = None
        self._tokens: list[tuple[str, str]] = []
        self.load()

    def load(self) -> None:
        seen = self.path.stat().st_mtime_ns
        if seen == self._seen:
            return
        tokens = []
        for number, line in enumerate(self.path.read_text("utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{self.path}:{number}: expected `STATION_ID TOKEN`")
            tokens.append((parts[0], parts[1]))
        self._tokens, self._seen = tokens, seen

    def station_of(self, token: str) -> str | None:
        self.load()
        found = None
        # Compare with every token in constant time, so timing does not leak one.
        for station, known in self._tokens:
            if hmac.compare_digest(known.encode(), token.encode()):
                found = station
        return found


def check_events(station: str, events: Any) -> list[dict[str, Any]]:
    """The batch's shape, order and each event's own hash; raises `BadRequest`."""
    if not isinstance(events, list) or not events:
        raise BadRequest(400, "events must be a non-empty list")
    previous = None
    for event in events:
        if not isinstance(event, dict):
            raise BadRequest(400, "each event must be an object")
        for name, types in BODY_FIELDS.items():
            if not isinstance(event.get(name), types) or isinstance(event.get(name), bool):
                raise BadRequest(400, f"event field {name!r} is missing or of the wrong type")
        for name in ("prev_hash", "hash"):
            if not isinstance(event.get(name), str) or not HASH.fullmatch(event[name]):
                raise BadRequest(400, f"event field {name!r} must be 64 hex digits")
        if event["station"] != station:
            raise BadRequest(400, f"event seq {event['seq']} is of station "
                                  f"{event['station']!r}, not {station!r}")
        if previous is not None and event["seq"] != previous + 1:
            raise BadRequest(400, "events must have consecutive seqs")
        previous = event["seq"]
        body = {name: event[name] for name in BODY_FIELDS}
        if event_hash(event["prev_hash"], body) != event["hash"]:
            raise BadRequest(422, f"event seq {event['seq']}: hash does not match its content")
    return events
