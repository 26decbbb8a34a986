"""A private PostgreSQL 15 cluster for tests: its own folder, port and socket, a fresh
database for each receiver, stopped and removed at the end.

PostgreSQL refuses to run as root, so the cluster belongs to the `postgres` user and its
commands run under `runuser` when the tests run as root.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from .kit import free_port

BIN = Path(os.environ.get("PRINTSTATION_PG_BIN", "/usr/lib/postgresql/15/bin"))
OWNER = "postgres"


def missing() -> str | None:
    """Why a cluster cannot be started here, or None if it can."""
    for name in ("initdb", "pg_ctl", "postgres"):
        if not (BIN / name).exists():
            return f"{BIN / name} is missing (apt-get install postgresql-15)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OWNER)
        except KeyError:
            return f"no {OWNER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "runuser is missing"
    return None


class Postgres:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="printstation-pg-"))
        self.data = self.folder / "data"
        self.sockets = self.folder / "sockets"
        self.log = self.folder / "postgres.log"
        self.port = 0
        self._names = itertools.count(1)
        self.running = False

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        command = [str(a) for a in argv]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OWNER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{log}")
        return done

    def start(self) -> None:
        self.sockets.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OWNER)
            for path in (self.folder, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.folder.chmod(0o755)
        self._run(BIN / "initdb", "-D", self.data, "--auth=trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.port = free_port()
        # fsync stays on: the store's durability is part of what the tests measure.
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
                        " -c fsync=on -c max_connections=300", "start")
        self.running = True

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its `postgresql://` url."""
        import psycopg

        name = f"ho_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.running:
            self._run(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
            self.running = False

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
