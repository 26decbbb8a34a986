"""The offsets clerks set, kept by the daemon in `data_dir/calibration.toml`.

An offset is operational state set by clerks, like the paper ledger, not configuration:
in production `/etc/printstation` is root's and read-only to the services, and letting
clerks write `conf.d` would let them write `alerts.command`, which the daemon runs. So the
daemon writes this file, alone and atomically, when a clerk sets an offset through its
control socket (`printstation calibrate --offset/--adjust`, the web console); with no
daemon running, root or the data folder's owner writes it as the owner
(daemon/control_ops.py `set_offset`). It holds offsets and nothing else:

    [front]
    vat-special = [1.5, -0.5]

The config's `[printers.X] offsets` stay the defaults; an entry here wins for its printer
and stock. The loader merges the file over the settings it built (`merged`). An entry the
config cannot take (a printer or stock it does not have, a value out of range, fields
pushed off the page, a file that is not TOML) is logged and left out: this file never
stops the daemon. A drop-in `conf.d/50-calibration-PRINTER.toml` of an earlier version is
plain config and still read as such.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from printstation.base import logs
from printstation.base.durable import atomic_write

from . import schema
from .settings import Settings
from .stocks import Stock

STATE_NAME = "calibration.toml"
HEADER = ("# Offsets set by clerks (printstation calibrate --offset/--adjust, the web console),\n"
          "# kept by the printstation daemon: it rewrites this file whenever one changes.\n"
          "# IT's defaults are [printers.NAME] offsets in the config; an entry here wins.\n")
# A key TOML takes bare; any other is written quoted.
_BARE = re.compile(r"[A-Za-z0-9_-]+")

Offsets = dict[str, dict[str, tuple[float, float]]]


def state_file(settings: Settings) -> Path:
    return settings.station.data_dir / STATE_NAME


def _parse(data: bytes) -> tuple[Offsets, list[str]]:
    """Every well-formed entry of the file, by printer and stock, and what was wrong with
    the others (a file that is not TOML is one problem, and no entries)."""
    try:
        raw = tomllib.loads(data.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"not valid TOML: {exc}"]
    found: Offsets = {}
    problems = []
    for printer, table in raw.items():
        if not isinstance(table, dict):
            problems.append(f"{printer}: must be a table of stocks, got {table!r:.60}")
            continue
        for stock, pair in table.items():
            try:
                value = schema.offsets({stock: pair})[stock]
            except schema.Invalid as exc:
                problems.append(f"{printer}.{exc}")
                continue
            found.setdefault(printer, {})[stock] = value
    return found, problems


def read_state(path: Path) -> tuple[Offsets, list[str]]:
    """The offsets in `path` (none when it does not exist) and the problems found."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}, []
    except PermissionError:
        # A user the data folder keeps out: the config's offsets are all this user can
        # see, and saying so on every command would only be noise.
        logs.debug("calibration.unreadable", file=path)
        return {}, []
    except OSError as exc:
        return {}, [f"cannot read it: {exc.strerror}"]
    return _parse(data)


def with_offset(settings: Settings, printer: str, stock: str,
                value: tuple[float, float]) -> Settings:
    """`settings` with `printer`'s offset for `stock` set to `value` (checked by the
    caller); unchanged when the printer is gone or no longer holds the stock."""
    found = settings.printer(printer)
    if found is None or stock not in found.stocks:
        return settings
    changed = dataclasses.replace(found, offsets={**found.offsets, stock: value})
    return dataclasses.replace(settings, printers=tuple(
        changed if p.name == printer else p for p in settings.printers))


def refusal(settings: Settings, stocks: Mapping[str, Stock], printer: str, stock: str,
            value: tuple[float, float]) -> str | None:
    """Why the config in force cannot take this offset, or None: the loader's own checks
    of `[printers.X] offsets` (the value's range and resolution are `schema.offsets`')."""
    found = settings.printer(printer)
    if found is None:
        return f"no printer {printer!r} in the config"
    if stock not in found.stocks:
        return f"printer {printer} has no stock {stock!r} ({', '.join(found.stocks)})"
    lost = stocks[stock].off_page(*value) if stock in stocks else []
    if lost:
        return (f"{stock}: [{value[0]:g}, {value[1]:g}] would move {', '.join(lost[:3])}"
                f"{' …' if len(lost) > 3 else ''} off the page")
    return None


def merged(settings: Settings, stocks: Mapping[str, Stock]) -> Settings:
    """The settings with the clerks' offsets over the config's; what cannot be taken is
    logged (`calibration.ignored`) and left out."""
    path = state_file(settings)
    found, problems = read_state(path)
    for problem in problems:
        logs.warning("calibration.ignored", file=path, error=problem)
    for printer, table in found.items():
        for stock, value in table.items():
            why = refusal(settings, stocks, printer, stock, value)
            if why is not None:
                logs.warning("calibration.ignored", file=path, error=why)
                continue
            settings = with_offset(settings, printer, stock, value)
    return settings


def _key(name: str) -> str:
    return name if _BARE.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _number(value: float) -> str:
    # 0.1 mm resolution (schema.offsets); `+ 0.0` writes -0.0 as 0.0.
    return f"{value + 0.0:.1f}"


def render(offsets: Offsets) -> bytes:
    lines = [HEADER]
    for printer in sorted(offsets):
        lines.append(f"\n[{_key(printer)}]\n")
        lines += [f"{_key(stock)} = [{_number(x)}, {_number(y)}]\n"
                  for stock, (x, y) in sorted(offsets[printer].items())]
    return "".join(lines).encode("utf-8")


def write_offset(settings: Settings, printer: str, stock: str,
                 value: tuple[float, float]) -> bytes | None:
    """Set `printer`'s offset for `stock` in the file (the caller checked it), keeping
    every other well-formed entry, also of printers the config has left out for now (their
    calibration is there when they come back). Returns the file's bytes before, or None
    when there was none, so that a change that could not be journaled can be put back.

    Entries that are not offsets (or a file that is not TOML at all) are not written
    again; they were not in force anyway. The file as it was is kept beside as
    `calibration.toml.broken` for IT to read, so nothing anyone wrote is lost."""
    path = state_file(settings)
    try:
        before: bytes | None = path.read_bytes()
    except FileNotFoundError:
        before = None
    current, problems = _parse(before) if before is not None else ({}, [])
    if before is not None and problems:
        kept = path.with_name(STATE_NAME + ".broken")
        atomic_write(kept, before)
        logs.warning("calibration.broken_kept", file=kept, error=problems[0])
    current.setdefault(printer, {})[stock] = value
    _write(path, render(current))
    return before


def restore(settings: Settings, before: bytes | None) -> None:
    """Put the file back as `write_offset` found it."""
    path = state_file(settings)
    if before is None:
        path.unlink(missing_ok=True)
    else:
        _write(path, before)


def _write(path: Path, data: bytes) -> None:
    """Written whole or not at all, then made readable by everyone: the service's umask
    (0027) keeps its files from others, but anyone may run `preview` (SPEC §12), which
    must place the fields with the offsets the daemon prints with; offsets are no secret."""
    atomic_write(path, data)
    os.chmod(path, 0o644)

