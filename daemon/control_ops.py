"""The operator actions a clerk may ask for, as the daemon carries them out.

Each takes the journal, the settings, who asks (a name the kernel vouched for: see
daemon/control_server.py) and the request's arguments, and returns a `Reply`. The same
functions run inside the daemon (through the control socket) and, when no daemon runs,
in the CLI of the service user or root; so what an action does never depends on the path.
"""

from __future__ import annotations

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


def _text(args: dict[str, Any], key: str, default: str | None = None) -> str:
    value = args.get(key, default)
    if not isinstance(value, str):
        raise UsageError(f"{key}: a text is required")
    return value


def queue_action(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    act = {"hold": operations.hold, "release": operations.release,
           "requeue": operations.requeue, "cancel": operations.cancel}.get(args.get("action"))
    ids = args.get("ids")
    if act is None or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise UsageError("queue action: an action and a list of job ids are required")
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
    if printer is not None and (not isinstance(printer, str) or settings.printer(printer) is None):
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
    stock = _printer_stock(settings, printer, args.get("stock"))
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
    printer, stock = _text(args, "printer"), args.get("stock")
    count = args.get("count")
    if not isinstance(count, int) or count < 1:
        raise UsageError("--count is 1 or more")
    if stock is None:
        # SPEC's `paper spoil PRINTER`: the stock is the one with sheets in that printer.
        loaded = [r["stock"] for r in paper.summary(journal.conn, printer) if r["free"]]
        if len(loaded) == 1:
            stock = loaded[0]
    stock = _printer_stock(settings, printer, stock)
    sheets = paper.spoil(journal, printer, stock, count, _text(args, "reason"), who)
    return Reply(out=[f"{printer}: spoiled {', '.join(str(s) for s in sheets)}"])


CALIBRATION_EVENTS = frozenset({"calibration.offset", "calibration.printed"})


def calibrated(journal: Journal, settings: Settings, who: str, args: dict[str, Any]) -> Reply:
    """Journal what `calibrate` did: an offset written to `conf.d` (only IT can write
    there) or a calibration sheet printed."""
    event, payload = args.get("event"), args.get("payload")
    printer = settings.printer(payload.get("printer")) if isinstance(payload, dict) else None
    if event not in CALIBRATION_EVENTS or printer is None or \
            payload.get("stock") not in printer.stocks:
        raise UsageError("calibration: an event, and a printer and stock it has, are required")
    with journal.transaction():
        journal.append_event(event, payload={**payload, "operator": who})
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
