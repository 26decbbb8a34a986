"""Head office for sync tests: the reference receiver as a real process, and its data."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
from pathlib import Path

from printstation.spool.journal import GENESIS, event_hash

from .kit import EXE, Station, wait_for

TOKEN = "s3cret-token-for-tests"


class Receiver:
    def __init__(self, folder: Path, tokens: dict[str, str] | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.db_path = folder / "headoffice.db"
        self.tokens = folder / "tokens"
        self.tokens.write_text("".join(f"{station} {token}\n" for station, token in
                                       (tokens or {"TEST-001": TOKEN}).items()))
        self.log = folder / "receiver.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        self._log_fh = open(self.log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(EXE), "receiver", "--listen", f"127.0.0.1:{self.port}", "--db",
             str(self.db_path), "--tokens", str(self.tokens), *extra],
            stdout=self._log_fh, stderr=subprocess.STDOUT)

        def ready() -> re.Match | None:
            text = self.log.read_bytes()[offset:].decode("utf-8", "replace")
            assert self.proc.poll() is None, text
            return re.search(r"event=receiver.ready listen=[\d.]+:(\d+)", text)

        self.port = int(wait_for(ready, what="receiver ready").group(1))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            self._log_fh.close()
        self.proc = None

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def station(self, station: str = "TEST-001") -> dict:
        with self.db() as conn:
            row = conn.execute("SELECT * FROM stations WHERE station = ?",
                               (station,)).fetchone()
        return dict(row) if row else {"acked_through": 0, "duplicates": 0}

    def events(self, station: str = "TEST-001") -> list[sqlite3.Row]:
        with self.db() as conn:
            return conn.execute("SELECT * FROM events WHERE station = ? ORDER BY seq",
                                (station,)).fetchall()


def verify_received(receiver: Receiver, station: Station) -> int:
    """Head office holds exactly the station's events: each once, in order, chain intact."""
    held = receiver.events()
    with station.db() as conn:
        local = conn.execute("SELECT seq, hash FROM events ORDER BY seq").fetchall()
    assert [r["seq"] for r in held] == list(range(1, len(held) + 1)), "gap or duplicate"
    assert [(r["seq"], r["hash"]) for r in held] == [(r["seq"], r["hash"]) for r in local]
    prev = GENESIS
    for r in held:
        body = {"seq": r["seq"], "id": r["id"], "at": r["at"], "station": r["station"],
                "type": r["type"], "job_id": r["job_id"], "invoice_key": r["invoice_key"],
                "payload": json.loads(r["payload"])}
        assert r["prev_hash"] == prev and event_hash(prev, body) == r["hash"], r["seq"]
        prev = r["hash"]
    return len(held)


def add_sync(station: Station, url: str, token: str = TOKEN, **keys: object) -> Path:
    """Append `[sync]` (and `[offline]` keys given as offline_NAME) to the station config."""
    token_file = station.folder / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    sync = {"url": url, "token_file": str(token_file), **{
        k: v for k, v in keys.items() if not k.startswith("offline_")}}
    offline = {k[len("offline_"):]: v for k, v in keys.items() if k.startswith("offline_")}
    text = "\n[sync]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in sync.items())
    if offline:
        text += "\n[offline]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in offline.items())
    with station.config.open("a", encoding="utf-8") as fh:
        fh.write(text)
    return token_file
