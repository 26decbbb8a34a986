"""Per-station bearer tokens, kept hashed in the tokens file (`--tokens FILE`).

Each line is `STATION_ID sha256:<64 hex digits> [ADDED_AT]`: the SHA-256 of the token,
never the token. A token is 32 random bytes (`secrets.token_urlsafe(32)`), so a plain
SHA-256 is enough: there is no password to guess, and a stolen file gives no token. The
legacy `STATION_ID TOKEN` line (the token in clear, as the tests and older installs write
it) still works, with a warning each time the file is loaded.

A request's token is hashed and looked up in a dict by its hash. No token is compared in
clear, so there is no timing to measure: what a dict lookup's timing could reveal is the
hash, and a hash does not lead back to a token.

The file is re-read when its inode, size or modification time change (one stat() per
request, a microsecond), so `receiver token add|revoke` take effect without a restart:
rotation is add the new token, move the station to it, revoke the old one. A bad line is
logged and skipped; the others keep working. Several lines may name one station.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import grp
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from printstation.base import logs
from printstation.base.durable import fsync_dir

PREFIX = "sha256:"
HASHED = re.compile(r"sha256:([0-9a-f]{64})")
# A station id: 1 to 64 characters without white space (it is a field of this file) or
# control characters (a NUL cannot be stored in PostgreSQL), not starting with `#` (the
# line would be a comment). Any other character is the station's own; the store keeps
# it as data, passed as a parameter, never as SQL text.
STATION_ID = re.compile(r"[^\s\x00-\x1f\x7f#][^\s\x00-\x1f\x7f]{0,63}")
# Who may read the file besides root: the service's own group.
SERVICE_GROUP = "printstation-receiver"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenLine:
    station: str
    digest: str
    added: str | None
    clear: bool  # the legacy line, with the token itself


def parse_line(line: str) -> TokenLine | None:
    """One line of the file; None for a blank line or a comment; ValueError if bad."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    parts = text.split()
    if not STATION_ID.fullmatch(parts[0]):
        raise ValueError("a station id is 1 to 64 characters, without spaces or control "
                         "characters")
    if len(parts) < 2 or len(parts) > 3:
        raise ValueError("expected `STATION_ID sha256:HEX [ADDED_AT]`")
    hashed = HASHED.fullmatch(parts[1])
    if hashed:
        return TokenLine(parts[0], hashed.group(1), parts[2] if len(parts) == 3 else None,
                         False)
    if parts[1].startswith(PREFIX):
        raise ValueError("sha256: must be followed by 64 lower-case hex digits")
    if len(parts) == 3:
        raise ValueError("expected `STATION_ID TOKEN` for a token in clear")
    return TokenLine(parts[0], digest(parts[1]), None, True)


class Tokens:
    """The tokens file, as a dict from a token's hash to its station."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._stations: dict[str, str] = {}
        self.load()

    def load(self) -> None:
        """Read the file if it changed. Raises OSError only on the first load."""
        try:
            info = os.stat(self.path)
        except OSError as exc:
            if self._seen is None:
                raise
            # Keep the tokens held: a file being replaced is renamed into place, and a
            # missing file is a mistake to report, not a reason to lock every station out.
            logs.error("receiver.tokens_unreadable", path=self.path, error=exc.strerror)
            return
        seen = (info.st_ino, info.st_size, info.st_mtime_ns)
        if seen == self._seen:
            return
        try:
            text = self.path.read_text("utf-8", errors="replace")
        except OSError as exc:
            if self._seen is None:
                raise
            logs.error("receiver.tokens_unreadable", path=self.path, error=exc.strerror)
            return
        stations: dict[str, str] = {}
        clear = 0
        for number, line in enumerate(text.splitlines(), 1):
            try:
                parsed = parse_line(line)
            except ValueError as exc:
                logs.error("receiver.token_line_skipped", path=self.path, line=number,
                           error=str(exc))
                continue
            if parsed is not None:
                if stations.get(parsed.digest, parsed.station) != parsed.station:
                    # One token for two stations: only the later line counts, so the
                    # earlier station is refused; IT must see why.
                    logs.error("receiver.token_shared", path=self.path, line=number,
                               stations=f"{stations[parsed.digest]},{parsed.station}",
                               note="the later line wins; give each station its own token")
                stations[parsed.digest] = parsed.station
                clear += parsed.clear
        if clear:
            logs.warning("receiver.token_in_clear", path=self.path, lines=clear,
                         advice="replace them with `printstation receiver token add`")
        first = self._seen is None
        self._stations, self._seen = stations, seen
        if not first:
            logs.info("receiver.tokens_reloaded", path=self.path, tokens=len(stations))

    def station_of(self, token: str) -> str | None:
        self.load()
        return self._stations.get(digest(token)) if token else None


# The operator's side: `printstation receiver token add|revoke|list`.

def read_lines(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines() if path.exists() else []


@contextlib.contextmanager
def _editing(path: Path) -> Iterator[None]:
    """Hold the tokens file's lock while it is read, changed and replaced: two `token`
    commands at once would otherwise each write their own copy, and one add or one
    revoke would be lost (a revoke undone is a token that still works)."""
    if not path.parent.is_dir():
        raise ValueError(f"{path.parent}: no such folder")
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def add_token(path: Path, station: str, now: dt.datetime | None = None) -> str:
    """A new token for `station`, its hash appended to the file; returns the token."""
    if not STATION_ID.fullmatch(station):
        raise ValueError(f"{station!r}: a station id is 1 to 64 characters, without spaces "
                         "or control characters, not starting with #")
    token = secrets.token_urlsafe(32)
    added = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with _editing(path):
        write_lines(path, [*read_lines(path), f"{station} {PREFIX}{digest(token)} {added}"])
    return token


def revoke_tokens(path: Path, station: str, prefix: str = "") -> list[TokenLine]:
    """Remove the station's tokens (only those whose hash starts with `prefix`, if given);
    returns what was removed."""
    with _editing(path):
        return _revoke(path, station, prefix)


def _revoke(path: Path, station: str, prefix: str) -> list[TokenLine]:
    kept, removed = [], []
    for line in read_lines(path):
        try:
            parsed = parse_line(line)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.station == station and \
                parsed.digest.startswith(prefix.removeprefix(PREFIX).lower()):
            removed.append(parsed)
        else:
            kept.append(line)
    if removed:
        write_lines(path, kept)
    return removed


def list_tokens(path: Path) -> list[TokenLine]:
    found = []
    for line in read_lines(path):
        with contextlib.suppress(ValueError):
            if (parsed := parse_line(line)) is not None:
                found.append(parsed)
    return found


def write_lines(path: Path, lines: list[str]) -> None:
    """Replace the file atomically, mode 0640, keeping its owner and group (the service's
    group must still read it); a new file goes to group printstation-receiver if any."""
    try:
        old = os.stat(path)
        owner: tuple[int, int] | None = (old.st_uid, old.st_gid)
    except FileNotFoundError:
        owner = None
        with contextlib.suppress(KeyError):
            owner = (-1, grp.getgrnam(SERVICE_GROUP).gr_gid)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in lines))
            fh.flush()
            if owner is not None:
                # Only root may give a file away; anyone else keeps their own.
                with contextlib.suppress(PermissionError):
                    os.fchown(fh.fileno(), *owner)
            os.fchmod(fh.fileno(), 0o640)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
