"""Head office for sync tests: the reference receiver as a real process, and its data,
on SQLite (a file in the receiver's folder) or PostgreSQL (a `postgresql://` url)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from printstation.spool.journal import GENESIS, event_hash

from .kit import EXE, Station, wait_for

TOKEN = "s3cret-token-for-tests"


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Receiver:
    def __init__(self, folder: Path, tokens: dict[str, str] | None = None,
                 db: str | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.db_path = folder / "headoffice.db"
        # None: SQLite in `db_path`; else the PostgreSQL database's url.
        self.db_url = db
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
             self.db_url or str(self.db_path), "--tokens", str(self.tokens), *extra],
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

    @property
    def backend(self) -> str:
        return "sqlite" if self.db_url is None else "postgresql"

    def db(self) -> sqlite3.Connection:
        """The SQLite file, opened (SQLite only: use `query` for either backend)."""
        assert self.db_url is None, "db() is the SQLite file; use query()"
        conn = sqlite3.connect(self.db_path, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        """Rows of `sql` (`?` placeholders) as dicts, from either backend."""
        if self.db_url is None:
            conn = self.db()
            try:
                return [dict(r) for r in conn.execute(sql, params).fetchall()]
            finally:
                conn.close()
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.db_url, row_factory=dict_row) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()

    def station(self, station: str = "TEST-001") -> dict:
        rows = self.query("SELECT * FROM stations WHERE station = ?", (station,))
        return rows[0] if rows else {"acked_through": 0, "duplicates": 0}

    def events(self, station: str = "TEST-001") -> list[dict[str, Any]]:
        return self.query("SELECT * FROM events WHERE station = ? ORDER BY seq", (station,))

    def backup(self, target: Path) -> Path:
        """A consistent copy of head office's database, taken while it runs."""
        if self.db_url is None:
            with self.db() as conn:
                conn.execute("VACUUM INTO ?", (str(target),))
        else:
            subprocess.run([str(PG_BIN / "pg_dump"), "--format=custom", "--file",
                            str(target), self.db_url], check=True, capture_output=True)
        return target

    def restore(self, backup: Path) -> None:
        """Head office loses its database and gets `backup` back (receiver stopped)."""
        assert self.proc is None, "stop the receiver first"
        if self.db_url is None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
            shutil.move(backup, self.db_path)
            return
        import psycopg

        server, _, name = self.db_url.rpartition("/")
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        subprocess.run([str(PG_BIN / "pg_restore"), "--dbname", self.db_url, str(backup)],
                       check=True, capture_output=True)


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


def chain(count: int, station: str = "TEST-001", start_prev: str = GENESIS, first: int = 1,
          kind: str = "job.printed", payload: dict | None = None) -> list[dict]:
    """`count` linked events of `station` as a station sends them, from seq `first`."""
    events, prev = [], start_prev
    for seq in range(first, first + count):
        body = {"seq": seq, "id": f"e{seq}", "at": "2026-11-28T01:02:03.000Z",
                "station": station, "type": kind, "job_id": f"J{seq}", "invoice_key": None,
                "payload": payload or {"total": "1.00", "note": "发票"}}
        digest = event_hash(prev, body)
        events.append({**body, "prev_hash": prev, "hash": digest})
        prev = digest
    return events
