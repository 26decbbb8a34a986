"""Every error a person is shown, in one table: each class carries its exit code (SPEC §3)
and its message template, in the manner of borg's `helpers/errors.py`.

An error is raised with the values its template names; `str()` gives the one line shown
on stderr. Other layers subclass these classes for their own errors (a refused operator
action, a missing font, CUPS down), so the exit code travels with the class and is chosen
in one place. Anything that is not a `StationError` is a bug: the command exits 70 with
one line, and shows the traceback only with `--debug`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_BAD = 1           # the thing checked is bad, or is not there
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69  # sysexits EX_UNAVAILABLE: CUPS or head office down
EXIT_INTERNAL = 70     # sysexits EX_SOFTWARE: a bug, never reported as 1
EXIT_TEMPFAIL = 75     # sysexits EX_TEMPFAIL: try again later (another daemon runs)
EXIT_NOPERM = 77       # sysexits EX_NOPERM
EXIT_CONFIG = 78       # sysexits EX_CONFIG; listed in the unit's RestartPreventExitStatus=

# Every exit code SPEC §3 allows; the tests hold each error class to it.
SPEC_EXIT_CODES = frozenset({EXIT_OK, EXIT_BAD, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_INTERNAL,
                             EXIT_TEMPFAIL, EXIT_NOPERM, EXIT_CONFIG})

PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
# SQLite's primary result codes for "may not write" and "cannot open" (sqlite3.h).
SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN = 3, 8, 14


class StationError(Exception):
    """An error shown as one line on stderr, without a traceback."""

    exit_code = EXIT_BAD
    template = "{}"

    def __init__(self, *args: Any, **fields: Any):
        super().__init__(*args)
        self.fields = fields

    def __str__(self) -> str:
        return self.template.format(*self.args, **self.fields)


class NotFound(StationError):
    """A job, invoice or printer the command names does not exist."""

    exit_code = EXIT_BAD


class UsageError(StationError):
    """The command's arguments are wrong."""

    exit_code = EXIT_USAGE


class Unavailable(StationError):
    """A service the command needs (CUPS, head office, a font) is not there."""

    exit_code = EXIT_UNAVAILABLE


class InternalError(StationError):
    """A bug: something the code did not expect. Never exit 1 for it."""

    exit_code = EXIT_INTERNAL
    template = ("internal error ({kind}): {detail}; run again with --debug for the "
                "traceback, and report it")


class AlreadyRunning(StationError):
    """Another daemon holds this data folder."""

    exit_code = EXIT_TEMPFAIL
    template = "another daemon (pid {pid}) already runs on {data_dir}"


class PermissionDenied(StationError):
    """This user may not do what the command asks."""

    exit_code = EXIT_NOPERM
    template = ("{user} may not {action} ({path}): operator commands need membership of "
                "group printstation")


class ConfigInvalid(StationError):
    """The configuration, a stock layout, or the journal's identity is wrong."""

    exit_code = EXIT_CONFIG


def is_permission_problem(exc: BaseException, path: Path | None = None) -> bool:
    """Whether `exc` means "not allowed", told by errno or by the file's access rights.

    An OSError says so by its errno. SQLite does not pass errno on: a read-only or
    permission result code says so, and "cannot open" does when the journal (or, before
    its first run, its folder) is not writable for this user.
    """
    if isinstance(exc, OSError):
        return exc.errno in PERMISSION_ERRNOS
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in (SQLITE_PERM, SQLITE_READONLY):
            return True
        if code == SQLITE_CANTOPEN and path is not None:
            target = path if path.exists() else path.parent
            return target.exists() and not os.access(target, os.W_OK)
    return False


def internal(exc: BaseException) -> InternalError:
    """The one line for a bug."""
    detail = str(exc).splitlines()[0] if str(exc) else "-"
    return InternalError(kind=type(exc).__name__, detail=detail)
