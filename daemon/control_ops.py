"""The operator actions a clerk may ask for, as the daemon carries them out.

Each takes the journal, the settings, who asks (a name the kernel vouched for, or the clerk
the web console's user vouched for: see daemon/control_server.py) and the request's
arguments, and returns a `Reply`. The same functions run inside the daemon (through the
control socket) and, when no daemon runs, in the CLI of the service user or root; so what
an action does never depends on the path, nor on whether a clerk used the web console.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from printstation.base import logs
from printstation.base.errors import (
    EXIT_BAD,
    ConfigInvalid,
    StationError,
    Unavailable,
    UsageError,
)
from printstation.config import Config, Settings, load_stocks, offset_file, schema
from printstation.spool import Journal, operations, paper


@dataclass
class Reply:
    """What the CLI prints: lines for stdout and stderr, an exit code, and data."""
    exit: int = 0
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    doc: Any = None
    # A change to the configuration in force that the daemon makes as soon as the action
    # is journaled (a clerk's offset), as a reload would; never sent to the client.
    apply: Callable[[Config], Config] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"exit": self.exit, "out": self.out, "err": self.err, "doc": self.doc}


Op = Callable[[Journal, Settings, str, dict[str, Any]], Reply]


# Notes, reasons and ids are short; the journal and head office must not carry megabytes
# a clerk typed (or a script sent).
MAX_TEXT = 500
MAX_IDS = 1000
MAX_SHEETS = 10000


def _text(args: dict[str, Any], key: str, default: str | None = None) -> str:
    value = args.get(key, default)
    if not isinstance(value, str):
        raise UsageError(f"{key}: a text is required")
    if len(value) > MAX_TEXT:
        raise UsageError(f"{key}: at most {MAX_TEXT} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{key}: not valid text") from None
    return value


def queue_action(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    act = {"hold": operations.hold, "release": operations.release,
           "requeue": operations.requeue, "cancel": operations.cancel}.get(args.get("action"))
    ids = args.get("ids")
    if act is None or not isinstance(ids, list) or len(ids) > MAX_IDS:
        raise UsageError(f"queue action: an action and a list of up to {MAX_IDS} job ids "
                         "are required")
    ids = [_text({"id": i}, "id") for i in ids]
    reply = Reply()
    for job_id in ids:
        try:
            reply.out.append(act(journal, job_id, who, _text(args, "note", "")))
        except operations.Refused as exc:
            reply.err.append(str(exc))
            reply.exit = EXIT_BAD
    return reply


def resolve(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    return Reply(out=[operations.resolve(journal, _text(args, "job"), bool(args.get("printed")),
                                         who, _text(args, "reason"))])


def void(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    return Reply(out=[operations.void(journal, _text(args, "invoice"), _text(args, "reason"),
                                      who)])


def reprint(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    printer = args.get("printer")
    if printer is not None and settings.printer(_text(args, "printer")) is None:
        raise UsageError(f"no printer {printer!r}")
    key = _text(args, "invoice")
    job_id = operations.reprint(journal, key, _text(args, "reason"), who, printer)
    return Reply(out=[f"{key}: reprint queued as job {job_id}"], doc={"job": job_id})


def _printer_stock(settings: Settings, printer: str, stock: str | None) -> str:
    found = settings.printer(printer)
    if found is None:
        raise UsageError(f"no printer {printer!r} (configured: "
                         f"{', '.join(p.name for p in settings.printers)})")
    if stock is None:
        if len(found.stocks) != 1:
            raise UsageError(f"printer {printer} holds {', '.join(found.stocks)}: name --stock")
        return found.stocks[0]
    if stock not in found.stocks:
        raise UsageError(f"printer {printer} has no stock {stock!r} ({', '.join(found.stocks)})")
    return stock


def paper_load(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    printer = _text(args, "printer")
    stock = _printer_stock(settings, printer, _text(args, "stock") if args.get("stock")
                           is not None else None)
    first, last = _text(args, "first"), _text(args, "last")
    try:
        count = paper.load(journal, printer, stock, _text(args, "code", ""), first, last, who)
    except paper.PaperError as exc:
        raise UsageError(str(exc)) from None
    mode = settings.printer(printer).paper_check
    return Reply(out=[f"{printer}: loaded {count} sheets of {stock} {first}-{last}"
                      + (" (note: paper_check is off for this printer)" if mode == "off"
                         else "")])


def paper_spoil(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    printer = _text(args, "printer")
    stock = _text(args, "stock") if args.get("stock") is not None else None
    count = args.get("count")
    if not isinstance(count, int) or not 1 <= count <= MAX_SHEETS:
        raise UsageError(f"--count is 1 to {MAX_SHEETS}")
    if stock is None:
        # SPEC's `paper spoil PRINTER`: the stock is the one with sheets in that printer.
        loaded = [r["stock"] for r in paper.summary(journal.conn, printer) if r["free"]]
        if len(loaded) == 1:
            stock = loaded[0]
    stock = _printer_stock(settings, printer, stock)
    sheets = paper.spoil(journal, printer, stock, count, _text(args, "reason"), who)
    return Reply(out=[f"{printer}: spoiled {', '.join(str(s) for s in sheets)}"])


# What `calibrate` journals of the sheets it printed, field by field: nothing else is
# taken from the client. (`calibration.offset` is journaled by `set-offset` alone, with
# the change it makes.)
CALIBRATION_EVENTS = {"calibration.printed": ("offset_mm", "job"),
                      "calibration.sample": ("offset_mm", "job", "invoice")}
MAX_OFFSET_MM = 50.0


def _offset(value: Any) -> list[float]:
    if not (isinstance(value, list) and len(value) == 2 and all(
            isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n)
            and abs(n) <= MAX_OFFSET_MM for n in value)):
        raise UsageError(f"calibration: an offset is two numbers of at most "
                         f"{MAX_OFFSET_MM:g} mm")
    return [float(n) for n in value]


def calibrated(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    """Journal a calibration sheet or sample `calibrate` printed (the CLI prints it: the
    page goes to the printer outside the queue); each field checked, none added."""
    event, payload = args.get("event"), args.get("payload")
    fields = CALIBRATION_EVENTS.get(event) if isinstance(event, str) else None
    if fields is None or not isinstance(payload, dict):
        raise UsageError("calibration: an event and its fields are required")
    printer = settings.printer(_text(payload, "printer"))
    stock = _text(payload, "stock")
    if printer is None or stock not in printer.stocks:
        raise UsageError("calibration: a printer and a stock it holds are required")
    record: dict[str, Any] = {"printer": printer.name, "stock": stock, "operator": who}
    for name in fields:
        record[name] = _offset(payload.get(name)) if name in ("old", "new", "offset_mm") \
            else _text(payload, name)
    with journal.transaction():
        journal.append_event(event, payload=record)
    return Reply()


def _mm(value: Any, key: str) -> Decimal:
    """One coordinate as sent: a decimal text (`"1.5"`, exact) or a JSON number."""
    number = None
    if isinstance(value, str) and len(value) <= 20:
        with contextlib.suppress(InvalidOperation):
            number = Decimal(value.strip())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = Decimal(str(value))
    if number is None or not number.is_finite():
        raise UsageError(f"{key}: two numbers in mm are required, such as 1.5,-0.5")
    return number


def set_offset(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    """Set a printer's offset for a stock: `offset` [X, Y], or `adjust` [DX, DY] to move
    the print from where it is now (套打 adjusts that way). Checked as the config's own
    `[printers.X] offsets` are (`schema.offsets`: ±30 mm in 0.1 mm steps; no field pushed
    off the page), journaled (`calibration.offset`, old and new, the operator) and written
    to `data_dir/calibration.toml` in one step, then put in force at once.

    The data folder is the service user's: this runs in the daemon, or, with none running,
    in the CLI of root (acting as the folder's owner) or of the owner (daemon/control.py).
    """
    name = _text(args, "printer")
    stock = _printer_stock(settings, name, _text(args, "stock"))
    if args.get("adjust") is not None and args.get("offset") is not None:
        raise UsageError("an offset or an adjustment, not both")
    key = "adjust" if args.get("adjust") is not None else "offset"
    pair = args.get(key)
    if not isinstance(pair, list) or len(pair) != 2:
        raise UsageError(f"{key}: two numbers in mm are required, such as 1.5,-0.5")
    x, y = (_mm(v, key) for v in pair)
    old = settings.printer(name).offset_for(stock)
    if key == "adjust":
        x, y = Decimal(str(old[0])) + x, Decimal(str(old[1])) + y
    try:
        new = schema.offsets({stock: [x, y]})[stock]
    except schema.Invalid as exc:
        raise UsageError(f"{key}: {exc}") from None
    # The layouts as the config folder has them now, as the loader will read them.
    stocks, _ = load_stocks(settings.config_dir / "stocks")
    if stock not in stocks:
        raise ConfigInvalid(f"the layout of stock {stock} cannot be read: "
                            "`printstation check-config` says why")
    why = offset_file.refusal(settings, stocks, name, stock, new)
    if why is not None:
        raise UsageError(f"{key}: {why}")
    path = offset_file.state_file(settings)
    record = {"printer": name, "stock": stock, "old": list(old), "new": list(new),
              "file": str(path), "operator": who}
    written, before = False, None
    try:
        # The file is written inside the journal's transaction: a change that cannot be
        # journaled is put back, and two clerks' changes are made one after the other.
        with journal.transaction():
            journal.append_event("calibration.offset", payload=record)
            before = offset_file.write_offset(settings, name, stock, new)
            written = True
    except BaseException as exc:
        if written:
            offset_file.restore(settings, before)
        if isinstance(exc, OSError):
            raise Unavailable(f"cannot write {path}: {exc.strerror or exc}; the offset is "
                              "unchanged") from None
        raise
    return Reply(out=[f"{name} {stock}: offset {old[0]:+.1f},{old[1]:+.1f} -> "
                      f"{new[0]:+.1f},{new[1]:+.1f} mm, written to {path}"],
                 doc={"printer": name, "stock": stock, "old": list(old), "new": list(new),
                      "file": str(path)},
                 apply=_in_force(name, stock, new))


def _in_force(printer: str, stock: str, new: tuple[float, float]) -> Callable[[Config], Config]:
    """The daemon's configuration with the new offset, checked again against the layouts
    in force (a reload may have come in between); one the config in force cannot take is
    logged and left as it is, as the loader would leave it out."""
    def change(config: Config) -> Config:
        why = offset_file.refusal(config.settings, config.stocks, printer, stock, new)
        if why is not None:
            logs.warning("calibration.ignored", printer=printer, stock=stock, error=why)
            return config
        return dataclasses.replace(config, settings=offset_file.with_offset(
            config.settings, printer, stock, new))
    return change


# Actions that change the journal: clerks (group printstation) and the service user.
CHANGES: dict[str, Op] = {
    "queue": queue_action, "resolve": resolve, "void": void, "reprint": reprint,
    "paper-load": paper_load, "paper-spoil": paper_spoil, "calibrated": calibrated,
    "set-offset": set_offset,
}


def perform(op: str, journal: Journal, settings: Settings, who: str,
            args: dict[str, Any], via: str | None = None) -> Reply:
    """Run one change; a refused one is a reply with its exit code, not an exception.

    `via` says which tool the operator used when it was not the CLI (`"web"`): every event
    the change journals carries it beside the operator's name, and nothing else differs.
    """
    try:
        if via is None:
            return CHANGES[op](journal, settings, who, args)
        with journal.stamped(via=via):
            return CHANGES[op](journal, settings, who, args)
    except (operations.Refused, paper.PaperError, StationError) as exc:
        return Reply(exit=exc.exit_code, err=[str(exc)])
