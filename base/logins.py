"""Logins of the station's console (web/) and of the head-office dashboard: the users file,
password hashes, sessions, CSRF tokens and the key that signs session cookies.

The users file holds `NAME:scrypt$N$r$p$SALT$HASH` lines (salt and hash in hex). scrypt
is in Python's hashlib (no dependency) and is memory-hard: N=2^14, r=8 takes 16 MiB and
~50 ms per guess, cheap for one login, dear for a dictionary. The file is read again
whenever it changes, so a new password or a removed user counts at once; a session
remembers a fingerprint of the hash it logged in with, so changing a user's password ends
their sessions too.

A session is a random id in a signed cookie, and what it means is kept by the serving
process (`Sessions`): logging out ends it on the server, and a restart logs everyone out.
Every form carries the session's CSRF token (an HMAC of the id), and the application
refuses every POST without it before anything else is looked at. The login rate limit is
in login_throttle.py. What is a station's own (which names a clerk may not take, the
group that reads the file) stays in web/auth.py.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from flask import current_app, request, session

from printstation.base.durable import fsync_dir
from printstation.base.errors import ConfigInvalid

# A login is one word, without anything a log line or a CSV would take for a separator.
LOGIN_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
# 128 * r * N bytes is what scrypt needs; OpenSSL's default ceiling (32 MiB) leaves no room
# for a file written with r=16, so the limit is given.
MAXMEM = 128 << 20
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
LIFETIME_S = 8 * 3600


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, dklen=HASH_BYTES, maxmem=MAXMEM)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether `password` matches a stored hash; a malformed or absurdly costly entry (a
    hand-edited file) matches nothing rather than tying up the server."""
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


def check_login(users: dict[str, str], name: str, password: str,
                refused: Callable[[str], str | None] | None = None) -> bool:
    """Name and password together; an unknown name costs the same hash, so the time taken
    does not say which names exist. A name that may not be a login (`refused` gives a
    reason for it) matches nothing."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    stored = users.get(name)
    if stored is not None and refused is not None and refused(name):
        # Written by hand, or before the passwd command refused such names: no login.
        stored = None
    matched = check_password(password, stored or _DUMMY[0])
    return stored is not None and matched


def fingerprint(stored: str) -> str:
    return hashlib.sha256(stored.encode()).hexdigest()[:16]


def parse_users(text: str, rule: re.Pattern[str] = LOGIN_NAME) -> dict[str, str]:
    """The logins of a users file's text; a line that is not `NAME:scrypt$…` with a name
    the `rule` allows is no login."""
    users: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, stored = line.strip().partition(":")
        if colon and rule.fullmatch(name) and stored.startswith("scrypt$"):
            users[name] = stored
    return users


def users_text(users: dict[str, str], head: str) -> str:
    """The file's text: `head` (comment lines) and one line per login, by name."""
    return head + "".join(f"{name}:{stored}\n" for name, stored in sorted(users.items()))


def write_users(path: Path, users: dict[str, str], head: str, group: str | None) -> None:
    """Atomically (a new file renamed into place). An existing file keeps its owner,
    group and mode: IT may have given it to the serving user's group by hand (`chgrp
    printstation-receiver`), and a new password must not undo that; only its bits for
    others are dropped, since it holds password hashes. A new file is mode 0640, given to
    `group` (the serving user is a member) when that group exists and this user may give
    the file to it. Owner, group and mode are set before the rename, so the serving user
    never sees a file it cannot read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        st = os.stat(path)
        uid, gid, mode = st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode) & 0o770
    except FileNotFoundError:
        uid, gid, mode = -1, _group_id(group), 0o640
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(users_text(users, head).encode("utf-8"))
            fh.flush()
            _give(fh.fileno(), uid, gid)
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _group_id(group: str | None) -> int:
    """The id of `group`, or -1 (no change) when there is none or it does not exist."""
    if group is None:
        return -1
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return -1


def _give(fd: int, uid: int, gid: int) -> None:
    """Give the open file to `uid`/`gid` (-1: unchanged) as far as this user may: root
    may give it to anyone; another user only to a group of theirs, and then keeps it."""
    if uid == -1 and gid == -1:
        return
    try:
        os.fchown(fd, uid, gid)
        return
    except PermissionError:
        pass
    with contextlib.suppress(PermissionError):
        os.fchown(fd, -1, gid)


def secret_key(path: Path, setting: str = "[web] secret_file") -> bytes:
    """The key that signs session cookies, readable by the serving user alone: made on
    first use (written aside, then linked into place, so a crash never leaves half a key).
    `setting` names where the path came from, for the error."""
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
            with contextlib.suppress(FileExistsError):  # another process made one meanwhile
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(path.parent)
    except OSError as exc:
        raise ConfigInvalid(f"{setting} {path}: cannot make the session key "
                            f"({exc.strerror}): the serving user must be able to write "
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


# -- sessions and CSRF tokens ---------------------------------------------------------
#
# The cookie (signed by Flask, readable by whoever holds it) carries one random session
# id and nothing else. What the id means is kept here on the server: the user, when they
# logged in, and the fingerprint of the password they used. Logging out, a password
# change or the user's removal ends a session on the server, so a copied cookie stops
# working at once. The CSRF token is an HMAC of the id with the application's secret: it
# cannot be read from the cookie, and needs no storage of its own (a visitor who is not
# logged in has an id, and a token, too: the login form carries one).

class Sessions:
    """The live sessions of logged-in users, by id. Kept in memory only: a restart logs
    everyone out (they log in again), the price of sessions that can be ended on the
    server without writing anything to disk."""

    MAX = 10_000

    def __init__(self) -> None:
        # id -> (user, logged in at (epoch seconds), password fingerprint)
        self._live: dict[str, tuple[str, float, str]] = {}
        self._lock = threading.Lock()

    def start(self, name: str, stored: str, users: dict[str, str]) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            # Ended and stale sessions go first; logins come only with a password, but
            # memory must stay bounded all the same.
            for old, (user, since, key) in list(self._live.items()):
                if not self._valid(user, since, key, users, now):
                    del self._live[old]
            while len(self._live) >= self.MAX:
                del self._live[min(self._live, key=lambda k: self._live[k][1])]
            self._live[sid] = (name, now, fingerprint(stored))
        return sid

    def end(self, sid: object) -> None:
        with self._lock:
            if isinstance(sid, str):
                self._live.pop(sid, None)

    def user(self, sid: object, users: dict[str, str]) -> str | None:
        """The user of live session `sid`; a session whose user is gone, has another
        password now, or logged in 8 hours ago or more ends here."""
        if not isinstance(sid, str):
            return None
        with self._lock:
            found = self._live.get(sid)
            if found is None:
                return None
            if not self._valid(*found, users, time.time()):
                del self._live[sid]
                return None
            return found[0]

    def __len__(self) -> int:
        return len(self._live)

    @staticmethod
    def _valid(user: str, since: float, key: str, users: dict[str, str], now: float) -> bool:
        return user in users and 0 <= now - since < LIFETIME_S and \
            hmac.compare_digest(key, fingerprint(users[user]))


def _sessions() -> Sessions:
    return current_app.extensions["printstation.sessions"]


def _token_of(sid: str) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"csrf\0" + sid.encode(), hashlib.sha256).hexdigest()


def _sid() -> str | None:
    sid = session.get("sid")
    return sid if isinstance(sid, str) and sid else None


def csrf_token() -> str:
    sid = _sid()
    if sid is None:
        session.clear()
        session.permanent = True
        session["sid"] = sid = secrets.token_urlsafe(32)
    return _token_of(sid)


def csrf_ok() -> bool:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf") or ""
    sid = _sid()
    return bool(sent and sid) and hmac.compare_digest(sent.encode(), _token_of(sid).encode())


def log_in(name: str, stored: str, users: dict[str, str]) -> None:
    """A new session id (never the one a visitor brought: no fixation), and so a new
    token; the visitor's old session, if it was one, ends."""
    _sessions().end(_sid())
    session.clear()
    session.permanent = True
    session["sid"] = _sessions().start(name, stored, users)


def log_out() -> None:
    _sessions().end(_sid())
    session.clear()


def current_user(users: dict[str, str]) -> str | None:
    """The user of this request's session: live on the server, logged in less than 8
    hours ago, still in the users file with the same password."""
    return _sessions().user(_sid(), users)


# Printable ASCII but space: what a path may keep as it is in a Location header; anything
# else (a space, a non-ASCII letter of a search) is percent-encoded.
_KEPT = "".join(chr(c) for c in range(0x21, 0x7F))


def safe_next(target: str | None, default: str = "/") -> str:
    """A path on this site to go back to; anything else (another site) is refused.

    A browser drops tabs and newlines from a URL and reads a backslash as a slash, so
    `/<tab>/evil.example` and `/\\evil.example` are `//evil.example`: another site. So a
    target is refused when it has any control character or a backslash, does not start
    with exactly one `/`, or shows a scheme or a host once tabs and newlines are dropped."""
    if not target or any(ord(c) < 0x20 or c in "\x7f\\" for c in target):
        return default
    stripped = target.strip().replace("\t", "").replace("\n", "").replace("\r", "")
    for seen in (target, stripped):
        if not seen.startswith("/") or seen.startswith("//"):
            return default
        parts = urllib.parse.urlsplit(seen)
        if parts.scheme or parts.netloc:
            return default
    return urllib.parse.quote(target, safe=_KEPT)
