"""Bounds on what one file may ask of the reader.

Without them a file well under `max_file_mb` could cost the daemon gigabytes: 0.57 MB of
empty item lines made 200,000 per-line problems, a 90 MB error row and a 273 MB result
file (found by a red-team pass). Real invoices are far inside these bounds: the
invoicing software caps a paper invoice at 8 lines and a sales list at a few hundred, and
a batch file from the finance software holds one day's invoices at most.
"""

from __future__ import annotations

from typing import Any

MAX_LINES = 1000      # item lines of one invoice
MAX_INVOICES = 1000   # invoices in one batch file
MAX_PROBLEMS = 50     # problems reported for one invoice (the first ones)


def bad_text(value: Any, path: str = "") -> str | None:
    """The path of the first string that is not valid Unicode text (a lone surrogate from
    a `\\udc80` escape, which SQLite and every file refuse to store), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "(document)"
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and bad_text(key) is not None:
            return path or "(a key)"
        where = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path
                                                                else str(key))
        found = bad_text(item, where)
        if found is not None:
            return found
    return None
