"""The configuration of a command that only reads: status, queue, show, invoices, journal,
paper show, validate, preview.

A broken `conf.d` drop-in must not keep clerks from looking at the queue while the daemon
runs on the config it loaded before: it is left out with a one-line warning (and `status
--check` counts it, since the daemon will refuse it at its next start or reload). `run`,
`check-config` and every command that changes something load the config strictly and
refuse it (config/loader.py `load_config_for_reading`).
"""

from __future__ import annotations

import sys

from printstation.config import find_config
from printstation.config.loader import Config, Problem, load_config_for_reading

from . import catalog


def config(explicit: str | None) -> Config:
    """The config (`--config PATH`, or the usual search), broken drop-ins left out."""
    loaded, problems = load_config_for_reading(find_config(explicit))
    if problems:
        print(f"printstation: {catalog.say('warn.dropin', **_fields(problems))}",
              file=sys.stderr)
    return loaded


def unhealthy(explicit: str | None) -> list[str]:
    """`status --check`'s line for broken drop-ins, or nothing."""
    problems = load_config_for_reading(find_config(explicit))[1]
    return [catalog.say("check.dropin", **_fields(problems))] if problems else []


def _fields(problems: list[Problem]) -> dict[str, str]:
    """The broken drop-ins and their first problem."""
    first = problems[0].message if problems[0].key == "-" else \
        f"{problems[0].key}: {problems[0].message}"
    return {"files": ", ".join(sorted({p.file for p in problems})), "first": first}
