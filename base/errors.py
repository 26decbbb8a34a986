"""Operator-facing errors: each class carries its exit code (SPEC §3)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_BAD = 1          # the thing checked is bad
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_CONFIG = 78      # listed in the unit's RestartPreventExitStatus=


class CliError(Exception):
    """An error shown as one line on stderr, without a traceback."""

    exit_code = EXIT_BAD


class UsageError(CliError):
    exit_code = EXIT_USAGE


class Unavailable(CliError):
    exit_code = EXIT_UNAVAILABLE


class ConfigInvalid(CliError):
    exit_code = EXIT_CONFIG
