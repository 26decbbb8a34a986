"""Clerks' logins for the console: what is the station's own about them. The machinery
(scrypt hashes, the users file read again when it changes, sessions kept in memory, CSRF
tokens, the session key) is shared with the head-office dashboard and lives in
base/logins.py; the login rate limit is base/login_throttle.py.

What stays here is tied to the daemon: which names a clerk may log in with (the daemon
journals a clerk's actions under that name), and the group `printstation`, which the
console's user is a member of and which is given the users file (`[web] users_file`,
written by `printstation web passwd NAME`).
"""

from __future__ import annotations

import pwd
import re

# `time` is kept as a name of this module: the tests move the sessions' clock through
# `auth.time` (base/logins.py reads the same module).
import time
from pathlib import Path

from printstation.base import logins
from printstation.base.logins import (
    LIFETIME_S,
    MAX_PASSWORD,
    MIN_PASSWORD,
    Sessions,
    UserFile,
    check_password,
    csrf_ok,
    csrf_token,
    current_user,
    fingerprint,
    hash_password,
    log_in,
    log_out,
    secret_key,
)

# The daemon's own rule for a clerk's name (daemon/control_server.py): a journaled name
# is one word, without anything a log or a CSV would take for a separator.
NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
GROUP = "printstation"
HEAD = ("# Logins of the printstation web console: NAME:scrypt$N$r$p$SALT$HASH.\n"
        "# Written by `printstation web passwd NAME`; do not edit by hand.\n")


def check_login(users: dict[str, str], name: str, password: str) -> bool:
    """Name and password together, the time taken the same for a name that is not there;
    a name that may not be a login (`reserved`) matches nothing."""
    return logins.check_login(users, name, password, refused=reserved)


def parse_users(text: str) -> dict[str, str]:
    return logins.parse_users(text, NAME)


def users_text(users: dict[str, str]) -> str:
    return logins.users_text(users, HEAD)


def write_users(path: Path, users: dict[str, str]) -> None:
    """Atomically, mode 0640, group printstation (the console's user is a member) when
    that group exists and this user may give the file to it."""
    logins.write_users(path, users, HEAD, GROUP)


def reserved(name: str) -> str | None:
    """Why `name` may not be a console login, or None when it may: `root` and every
    account of this system. The daemon journals a clerk's actions under their name, as it
    does a CLI user's, so a console login named like an account would make the journal
    say that account (or root) did what a clerk did."""
    if name == "root":
        return "root is the system's administrator, not a clerk"
    try:
        pwd.getpwnam(name)
    except KeyError:
        return None
    return f"{name} is an account of this system"


__all__ = [
    "GROUP", "LIFETIME_S", "MAX_PASSWORD", "MIN_PASSWORD", "NAME", "Sessions", "UserFile",
    "check_login", "check_password", "csrf_ok", "csrf_token", "current_user", "fingerprint",
    "hash_password", "log_in", "log_out", "parse_users", "reserved", "secret_key", "time",
    "users_text", "write_users",
]
