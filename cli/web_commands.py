"""`printstation web [--listen HOST:PORT]` serves the console (web/console.py);
`printstation web passwd USER [--delete]` sets or removes a clerk's login.

A password is asked twice on a terminal, or read as one line from standard input (for
scripts: `echo "$PW" | printstation web passwd li.na`). The users file is replaced
atomically, mode 0640, group printstation (web/auth.py); only IT (root) may write it.
`root` and the names of this system's accounts are refused as logins: the journal names
a clerk's actions as it names a CLI user's, and must not say that an account did what a
clerk did.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from printstation.base.errors import (
    EXIT_OK,
    NotFound,
    PermissionDenied,
    UsageError,
    is_permission_problem,
)
from printstation.config import find_config, load_settings
from printstation.daemon import control


class LoginsDenied(PermissionDenied):
    """Not root: the console's logins are IT's to change, whatever groups one is in."""

    template = ("{user} may not change the {what}'s logins ({path}): only root (IT) "
                "can, as: sudo printstation {command} {login}")


def run(args: argparse.Namespace) -> int:
    config = find_config(args.config)
    if getattr(args, "web_command", None) == "passwd":
        return passwd(load_settings(config).web.users_file, args.user, args.delete)
    from printstation.web.console import serve

    if args.listen is not None:
        from printstation.config.schema import Invalid, split_listen

        try:
            split_listen(args.listen)
        except Invalid as exc:
            raise UsageError(f"--listen {exc}") from None
    return serve(config, args.listen)


def passwd(path: Path, user: str, delete: bool, *, head: str | None = None,
           group: str | None = None, command: str = "web passwd",
           what: str = "web console") -> int:
    """Set or remove a login in the users file `path`: the station console's by default.
    With `head`, another program's users file (the head-office dashboard's): a new file
    gets `head` as its comment lines and is given to `group`. Either way an existing
    file keeps its owner, group and mode (base/logins.py)."""
    from printstation.base import logins
    from printstation.web import auth

    def write(users: dict[str, str]) -> None:
        if head is None:
            auth.write_users(path, users)
        else:
            logins.write_users(path, users, head, group)

    if not auth.NAME.fullmatch(user):
        raise UsageError(f"{user!r}: a login is 1 to 64 letters, digits and _ . @ -")
    why = None if delete else auth.reserved(user)
    if why is not None:
        raise UsageError(f"{user}: not a console login: {why}; choose the clerk's own name "
                         "(as li.na)")
    try:
        users = auth.parse_users(path.read_text("utf-8")) if path.exists() else {}
        if delete:
            if user not in users:
                raise NotFound(f"{path}: no login {user}")
            del users[user]
            write(users)
            print(f"{path}: removed the login {user}")
            return EXIT_OK
        users[user] = auth.hash_password(_new_password(user))
        write(users)
    except OSError as exc:
        if is_permission_problem(exc):
            raise LoginsDenied(user=control.caller_name(), path=path, what=what,
                               command=command,
                               login=user + (" --delete" if delete else "")) from None
        raise
    print(f"{path}: set the password of {user}")
    return EXIT_OK


def _new_password(user: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"new password for {user}: ")
        if getpass.getpass("again: ") != first:
            raise UsageError("the two passwords differ; nothing changed")
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    from printstation.web.auth import MAX_PASSWORD, MIN_PASSWORD

    if not MIN_PASSWORD <= len(first) <= MAX_PASSWORD:
        raise UsageError(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters; "
                         "nothing changed")
    return first
