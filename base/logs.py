"""Logging: one line per event on stderr, `key=value` pairs (or JSON lines for shipping).

journald adds the time. Every line about a job carries its job id and invoice key. No
tracebacks at INFO: they are shown with `--debug`.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import logging.handlers
import queue
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


def _emit(level: int, event: str, exc_info: bool, fields: dict[str, Any]) -> None:
    log.log(level, event, exc_info=exc_info, extra={"fields": fields})


def debug(event: str, **fields: Any) -> None:
    _emit(logging.DEBUG, event, False, fields)


def info(event: str, **fields: Any) -> None:
    _emit(logging.INFO, event, False, fields)


def warning(event: str, **fields: Any) -> None:
    _emit(logging.WARNING, event, False, fields)


def error(event: str, exc_info: bool = False, **fields: Any) -> None:
    _emit(logging.ERROR, event, exc_info, fields)


class _KeyValue(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"level={record.levelname.lower()} " + \
            kv(record.getMessage(), **getattr(record, "fields", {}))
        if record.exc_info and log.isEnabledFor(logging.DEBUG):
            line += "\n" + self.formatException(record.exc_info)
        return line


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "event": record.getMessage()}
        doc.update({k: v if isinstance(v, int | float | bool) else str(v)
                    for k, v in getattr(record, "fields", {}).items() if v is not None})
        if record.exc_info and log.isEnabledFor(logging.DEBUG):
            doc["traceback"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup(debug: bool = False, fmt: str = "kv", background: bool = False) -> None:
    """Log to stderr. With `background` (the daemon), lines are formatted in the calling
    thread but written by a thread of their own: a write to stderr releases the GIL, and
    the pipeline's threads then queue for it again, which cost a backlog a quarter of its
    speed. The queue is flushed at exit; a SIGKILL may lose its last lines, never the
    journal's."""
    formatter = _Json() if fmt == "json" else _KeyValue()
    writer = logging.StreamHandler(sys.stderr)
    if background:
        lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        handler: logging.Handler = logging.handlers.QueueHandler(lines)
        handler.setFormatter(formatter)
        writer.setFormatter(logging.Formatter("%(message)s"))
        listener = logging.handlers.QueueListener(lines, writer)
        listener.start()
        atexit.register(listener.stop)
    else:
        handler = writer
        handler.setFormatter(formatter)
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False
