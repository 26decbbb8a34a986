"""Clerks' logins for the console: the users file, password hashes, sessions, CSRF tokens and
the login rate limit.

The users file (`[web] users_file`) holds `NAME:scrypt$N$r$p$SALT$HASH` lines (salt and
hash in hex), written by `printstation web passwd NAME`. scrypt is in Python's hashlib (no
dependency) and is memory-hard: N=2^14, r=8 takes 16 MiB and ~50 ms per guess, cheap for
one login, dear for a dictionary. The file is read again whenever it changes, so a new
password or a removed clerk counts at once; a session remembers a fingerprint of the hash
it logged in with, so changing a clerk's password ends their sessions too.

Sessions are Flask's signed cookies (itsdangerous); the server keeps no session state, so
a restart logs no one out. Every form carries the session's CSRF token, and every POST
without it is refused before anything else is looked at (app.py).
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from flask import request, session

from printstation.base.durable import atomic_write, fsync_dir
from printstation.base.errors import ConfigInvalid

# The daemon's own rule for a clerk's name (daemon/control_server.py): a journaled name
# is one word, without anything a log or a CSV would take for a separator.
NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
# 128 * r * N bytes is what scrypt needs; OpenSSL's default ceiling (32 MiB) leaves no room
# for a file written with r=16, so the limit is given.
MAXMEM = 128 << 20
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
LIFETIME_S = 8 * 3600
GROUP = "printstation"


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, dklen=HASH_BYTES, maxmem=MAXMEM)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether `password` matches a stored hash; a malformed or absurdly costly entry (a
    hand-edited file) matches nothing rather than tying up the console."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = (int(v) for v in parts[1:4])
        salt, expected = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return False
    if not (2**10 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16
            and 16 <= len(expected) <= 64 and 128 * r * n <= MAXMEM // 2):
        return False
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                            dklen=len(expected), maxmem=MAXMEM)
    return hmac.compare_digest(digest, expected)


_DUMMY: list[str] = []


def check_login(users: dict[str, str], name: str, password: str) -> bool:
    """Name and password together; an unknown name costs the same hash, so the time taken
    does not say which names exist."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    stored = users.get(name)
    matched = check_password(password, stored or _DUMMY[0])
    return stored is not None and matched


def fingerprint(stored: str) -> str:
    return hashlib.sha256(stored.encode()).hexdigest()[:16]


def parse_users(text: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, stored = line.strip().partition(":")
        if colon and NAME.fullmatch(name) and stored.startswith("scrypt$"):
            users[name] = stored
    return users


def users_text(users: dict[str, str]) -> str:
    head = ("# Logins of the printstation web console: NAME:scrypt$N$r$p$SALT$HASH.\n"
            "# Written by `printstation web passwd NAME`; do not edit by hand.\n")
    return head + "".join(f"{name}:{stored}\n" for name, stored in sorted(users.items()))


def write_users(path: Path, users: dict[str, str]) -> None:
    """Atomically, mode 0640, group printstation (the console's user is a member) when
    that group exists and this user may give the file to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, users_text(users).encode("utf-8"), mode=0o640)
    try:
        gid = grp.getgrnam(GROUP).gr_gid
    except KeyError:
        return
    with contextlib.suppress(PermissionError):
        os.chown(path, -1, gid)


def secret_key(path: Path) -> bytes:
    """The key that signs session cookies, readable by the console alone: made on first
    use (written aside, then linked into place, so a crash never leaves half a key)."""
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_hex(32).encode() + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another console made one meanwhile
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(path.parent)
    except OSError as exc:
        raise ConfigInvalid(f"[web] secret_file {path}: cannot make the session key "
                            f"({exc.strerror}): the console's user must be able to write "
                            "there (its unit's StateDirectory)") from None
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    st = os.stat(path)
    if st.st_mode & 0o077:
        raise ConfigInvalid(f"{path}: the session key may be read by others (mode "
                            f"{st.st_mode & 0o777:o}): chmod 600 it, or remove it for a new one")
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise ConfigInvalid(f"{path}: the session key is too short: remove the file, and a "
                            "new one is made at the next start")
    return key


class UserFile:
    """The users file, read again when it changes (by inode, size and mtime)."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._users: dict[str, str] = {}
        self.problem: str | None = None
        self._lock = threading.Lock()

    def users(self) -> dict[str, str]:
        with self._lock:
            try:
                st = os.stat(self.path)
            except OSError as exc:
                self._seen, self._users = None, {}
                self.problem = f"{self.path}: {exc.strerror}"
                return {}
            seen = (st.st_ino, st.st_size, st.st_mtime_ns)
            if seen != self._seen:
                try:
                    self._users = parse_users(self.path.read_text("utf-8"))
                    self.problem = None
                except (OSError, UnicodeDecodeError) as exc:
                    self._users = {}
                    self.problem = f"{self.path}: {getattr(exc, 'strerror', None) or exc}"
                self._seen = seen
            return dict(self._users)


class Limiter:
    """Login failures per key (a user name, a client address). The first FREE failures
    cost nothing; after that each failure bars the key for a delay that doubles, up to
    MAX_DELAY_S, and an attempt while barred is not even checked (429). A success clears
    its keys; a key with no failure for FORGET_S starts afresh."""

    FREE = 5
    MAX_DELAY_S = 30.0
    FORGET_S = 900.0
    MAX_KEYS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        # key -> (failures, barred until, last failure)
        self._keys: dict[str, tuple[int, float, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def delay(cls, failures: int) -> float:
        return 0.0 if failures < cls.FREE else min(cls.MAX_DELAY_S, 2.0 ** (failures - cls.FREE))

    def wait_s(self, keys: Iterable[str]) -> float:
        now = self.clock()
        with self._lock:
            return max((self._keys[k][1] - now for k in keys if k in self._keys), default=0.0)

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                n, _, last = self._keys.get(key, (0, 0.0, now))
                n = 0 if now - last > self.FORGET_S else n
                self._keys[key] = (n + 1, now + self.delay(n + 1), now)
            if len(self._keys) > self.MAX_KEYS:
                self._forget(now)

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._keys.pop(key, None)

    def _forget(self, now: float) -> None:
        """Old keys first; a flood of new names cannot grow memory without bound."""
        for key in sorted(self._keys, key=lambda k: self._keys[k][2]):
            if len(self._keys) <= self.MAX_KEYS // 2 and \
                    now - self._keys[key][2] <= self.FORGET_S:
                break
            del self._keys[key]


# -- the session --------------------------------------------------------------------

def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_ok() -> bool:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf") or ""
    expected = session.get("csrf") or ""
    return bool(sent and expected) and hmac.compare_digest(sent.encode(), expected.encode())


def log_in(name: str, stored: str) -> None:
    """A new session (never the one a visitor brought: no fixation), with a new token."""
    session.clear()
    session.permanent = True
    session.update(user=name, since=int(time.time()), key=fingerprint(stored),
                   csrf=secrets.token_urlsafe(32))


def log_out() -> None:
    session.clear()


def current_user(users: dict[str, str]) -> str | None:
    """The clerk of this session: logged in less than 8 hours ago, still in the users
    file with the same password."""
    name, since = session.get("user"), session.get("since")
    if not isinstance(name, str) or not isinstance(since, int) or name not in users:
        return None
    if not 0 <= time.time() - since < LIFETIME_S:
        return None
    if not hmac.compare_digest(str(session.get("key", "")), fingerprint(users[name])):
        return None
    return name


def client_keys(name: str) -> list[str]:
    return [f"user:{name.lower()[:64]}", f"addr:{request.remote_addr or '-'}"]
