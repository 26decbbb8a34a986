"""Logging: one line per event on stderr, as key=value pairs (journald adds the time)."""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("printstation")


def kv(event: str, **fields: Any) -> str:
    parts = [f"event={event}"]
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if not text or any(c in text for c in ' "=\n\t'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


def info(event: str, **fields: Any) -> None:
    log.info(kv(event, **fields))


def warning(event: str, **fields: Any) -> None:
    log.warning(kv(event, **fields))


def error(event: str, **fields: Any) -> None:
    log.error(kv(event, **fields))


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"level={record.levelname.lower()} {record.getMessage()}"
        # Tracebacks only when debugging; at INFO a line is a line.
        if record.exc_info and log.isEnabledFor(logging.DEBUG):
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(debug: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False
