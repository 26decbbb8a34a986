"""The operator actions a clerk may ask for, as the daemon carries them out.

Each takes the journal, the settings, who asks (a name the kernel vouched for: see
daemon/control_server.py) and the request's arguments, and returns a `Reply`. The same
functions run inside the daemon (through the control socket) and, when no daemon runs,
in the CLI of the service user or root; so what an action does never depends on the path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from printstation.base.errors import EXIT_BAD, StationError, UsageError
from printstation.config import Settings
from printstation.spool import Journal, operations, paper


@dataclass
class Reply:
    """What the CLI prints: lines for stdout and stderr, an exit code, and data."""
    exit: int = 0
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    doc: Any = None

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


# What `calibrate` journals, field by field: nothing else is taken from the client.
CALIBRATION_EVENTS = {"calibration.offset": ("old", "new", "file"),
                      "calibration.printed": ("offset_mm", "job"),
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
    """Journal what `calibrate` did: an offset written to `conf.d` (only IT can write
    there) or a calibration sheet printed; each field checked, none added."""
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


# Actions that change the journal: clerks (group printstation) and the service user.
CHANGES: dict[str, Op] = {
    "queue": queue_action, "resolve": resolve, "void": void, "reprint": reprint,
    "paper-load": paper_load, "paper-spoil": paper_spoil, "calibrated": calibrated,
}


def perform(op: str, journal: Journal, settings: Settings, who: str,
            args: dict[str, Any]) -> Reply:
    """Run one change; a refused one is a reply with its exit code, not an exception."""
    try:
        return CHANGES[op](journal, settings, who, args)
    except (operations.Refused, paper.PaperError, StationError) as exc:
        return Reply(exit=exc.exit_code, err=[str(exc)])
