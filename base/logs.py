"""Logging: one line per event on stderr, `key=value` pairs (or JSON lines for shipping).

Every line starts with its sd-daemon priority, `<3>` error, `<4>` warning, `<6>` info,
`<7>` debug (sd-daemon(3)): journald takes the entry's priority from it and strips it,
so `journalctl -p warning` finds the warnings and errors. journald stamps each entry
with its own time; a line that goes anywhere else (a terminal, a file, a test) carries
its time itself, as ISO 8601 local time with its UTC offset (`ts=` first). Whether
stderr is journald's is told by `JOURNAL_STREAM`, which systemd sets to the device and
inode of the stream it connected: a variable inherited by a process whose stderr was
redirected elsewhere does not count.

JSON lines always carry `ts` and `level`; the priority prefix goes in front of them only
for journald (which strips it), so that a JSON line written to a file or a pipe stays
one JSON document that a shipper can parse.

Every line about a job carries its job id and invoice key. No tracebacks at INFO: they
are shown with `--debug`, each of their lines with the priority of the line they belong to.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import logging.handlers
import os
import queue
import re
import sys
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("printstation")

# sd-daemon(3) priorities (syslog's): what journald files each line under.
PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
            logging.DEBUG: 7}


_NEEDS_QUOTES = re.compile(r'[ "=\x00-\x1f\x7f]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}")


def kv(event: str, **fields: Any) -> str:
    parts = [f"event={event}"]
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if not text or _NEEDS_QUOTES.search(text):
            # Control characters (a file name may hold CR or ESC) are escaped: a log line
            # is one line, and a terminal showing it must not obey it.
            text = '"' + _CONTROL.sub(_escape, text.replace("\\", "\\\\")
                                      .replace('"', '\\"')) + '"'
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


def prefix(level: int) -> str:
    """The sd-daemon priority prefix of a log level, e.g. `<4>` for WARNING."""
    return f"<{PRIORITY.get(level, 6)}>"


def under_journald(environ: Mapping[str, str] | None = None, fd: int = 2) -> bool:
    """Whether `fd` (stderr) is the stream systemd connected to journald: `JOURNAL_STREAM`
    (`DEVICE:INODE`) names that very stream (systemd.exec(5))."""
    found = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, colon, inode = found.partition(":")
    if not colon:
        return False
    try:
        st = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (int(device), int(inode))
    except (OSError, ValueError):
        return False


def local_ts(created: float) -> str:
    """An ISO 8601 local time with milliseconds and its UTC offset."""
    return dt.datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class _KeyValue(logging.Formatter):
    def __init__(self, journald: bool):
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        mark = prefix(record.levelno)
        stamp = "" if self.journald else f"ts={local_ts(record.created)} "
        line = f"{mark}{stamp}level={record.levelname.lower()} " + \
            kv(record.getMessage(), **getattr(record, "fields", {}))
        if record.exc_info and log.isEnabledFor(logging.DEBUG):
            # Each line of the traceback with the priority of the line it explains.
            line += "".join(f"\n{mark}{text}"
                            for text in self.formatException(record.exc_info).splitlines())
        return line


class _Json(logging.Formatter):
    def __init__(self, journald: bool):
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "event": record.getMessage()}
        doc.update({k: v if isinstance(v, int | float | bool) else str(v)
                    for k, v in getattr(record, "fields", {}).items() if v is not None})
        if record.exc_info and log.isEnabledFor(logging.DEBUG):
            doc["traceback"] = self.formatException(record.exc_info)
        line = json.dumps(doc, ensure_ascii=False)
        return prefix(record.levelno) + line if self.journald else line


def setup(debug: bool = False, fmt: str = "kv", background: bool = False,
          environ: Mapping[str, str] | None = None) -> None:
    """Log to stderr. With `background` (the daemon), lines are formatted in the calling
    thread but written by a thread of their own: a write to stderr releases the GIL, and
    the pipeline's threads then queue for it again, which cost a backlog a quarter of its
    speed. The queue is flushed at exit; a SIGKILL may lose its last lines, never the
    journal's."""
    journald = under_journald(environ)
    formatter = _Json(journald) if fmt == "json" else _KeyValue(journald)
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
