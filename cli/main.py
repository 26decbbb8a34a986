"""`printstation [--config PATH] COMMAND ...`: the single entry point (SPEC §3)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from printstation.base import logs
from printstation.base.errors import (
    EXIT_BAD,
    EXIT_CONFIG,
    EXIT_OK,
    CliError,
    ConfigInvalid,
    UsageError,
)
from printstation.config import ConfigError, Settings, find_config, load_settings, load_stocks
from printstation.daemon import status as report
from printstation.daemon.checks import Checked, check_file, read_limited
from printstation.daemon.clock import station_clock
from printstation.daemon.context import Context
from printstation.spool import display_name

from . import actions, rendering, sync_commands, tables


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="printstation",
        description="Offline-first invoice print station: validates invoice files dropped in "
                    "a folder, prints them on pre-printed stock, journals every step.")
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $PRINTSTATION_CONFIG, then "
                             "/etc/printstation/printstation.toml, then built-in defaults)")
    parser.add_argument("--debug", action="store_true", help="tracebacks and debug logs")
    parser.add_argument("--log-format", choices=("kv", "json"), default="kv",
                        help="log lines as key=value (default) or JSON, for shipping")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("run", help="run the daemon in the foreground")
    sub.add_parser("check-config", help="validate config and stock layouts")
    p = sub.add_parser("status", help="queue counts per state and printers")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true",
                   help="for monitoring: exit 1 and say why when the station is unhealthy")
    p = sub.add_parser("queue", help="list jobs (default: those not yet final)")
    p.add_argument("--state", help="only jobs in this state")
    p.add_argument("--all", action="store_true", help="include final jobs")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show", help="one job with its event history")
    p.add_argument("job")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("preview", help="render exactly what would print, as PDF or PNG")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="OUT.pdf|OUT.png")
    p.add_argument("--printer", help="use this printer's offset (default: the one it routes to)")
    p.add_argument("--background", action="store_true", help="draw the blank form under it")
    p = sub.add_parser("calibrate", help="print a calibration sheet, or set an offset")
    p.add_argument("printer")
    p.add_argument("--stock", required=True)
    p.add_argument("--offset", metavar="X,Y", help="set the offset in mm (x right, y down)")
    for action, text in (("hold", "hold jobs (they wait until released)"),
                         ("release", "release held jobs"),
                         ("requeue", "retry deferred or held jobs now"),
                         ("cancel", "cancel jobs not yet handed to the printer")):
        p = sub.add_parser(action, help=text)
        p.add_argument("jobs", nargs="+", metavar="JOB", help="job ids, or - to read them")
        p.add_argument("--note", default="", help="why, for the journal")
    p = sub.add_parser("resolve", help="settle a job in state uncertain")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--printed", action="store_true", help="it printed: the sheet is used")
    how.add_argument("--spoiled", action="store_true", help="it did not: the sheet is spoiled")
    p.add_argument("job")
    p.add_argument("--reason", default="")
    p = sub.add_parser("void", help="mark a printed invoice (and its sheet) voided")
    p.add_argument("invoice")
    p.add_argument("--reason", required=True)
    p = sub.add_parser("reprint", help="print an invoice again, journaled as a reprint")
    p.add_argument("invoice")
    p.add_argument("--reason", required=True)
    p.add_argument("--printer")
    paper_cmd = sub.add_parser("paper", help="the ledger of numbered sheets")
    paper_sub = paper_cmd.add_subparsers(dest="paper_command", metavar="ACTION", required=True)
    p = paper_sub.add_parser("load", help="load a range of numbered sheets into a printer")
    p.add_argument("printer")
    p.add_argument("--stock")
    p.add_argument("--code", default="", help="the sheets' invoice code (发票代码)")
    p.add_argument("--from", dest="first", required=True, metavar="N")
    p.add_argument("--to", dest="last", required=True, metavar="M")
    p = paper_sub.add_parser("show", help="sheets per printer and stock")
    p.add_argument("printer", nargs="?")
    p.add_argument("--json", action="store_true")
    p = paper_sub.add_parser("spoil", help="spoil the next sheet(s)")
    p.add_argument("printer")
    p.add_argument("--stock")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--reason", required=True)
    p = sub.add_parser("journal", help="search the journal, or verify its hash chain")
    p.add_argument("--invoice")
    p.add_argument("--since", metavar="D")
    p.add_argument("--until", metavar="D")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_const", const="json", dest="format")
    fmt.add_argument("--csv", action="store_const", const="csv", dest="format")
    fmt.add_argument("--verify", action="store_true")
    p = sub.add_parser("backup", help="a consistent copy of the journal and the archive")
    p.add_argument("dest", metavar="DEST")
    p = sub.add_parser("sync", help="sync with head office: state, backlog, last error")
    p.add_argument("--now", action="store_true", help="sync at once (ends any retry wait)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("reconcile", help="printed invoices head office has not acknowledged")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("receiver", help="the reference head-office receiver (SPEC §11)")
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    p.add_argument("--db", required=True, metavar="FILE", help="its SQLite database")
    p.add_argument("--tokens", required=True, metavar="FILE",
                   help="`STATION_ID TOKEN` lines, one per station")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    p.add_argument("--tls-key", metavar="PEM", help="and this key")
    p = sub.add_parser("validate", help="validate invoice files without printing")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true")
    return parser


def _join_negative_offsets(argv: list[str]) -> list[str]:
    """`--offset -2.5,1` as `--offset=-2.5,1`: argparse takes "-2.5,1" for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--offset" and arg.startswith("-"):
            out[-1] = f"--offset={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_join_negative_offsets(list(sys.argv[1:] if argv is None
                                                         else argv)))
    logs.setup(args.debug, args.log_format, background=args.command == "run")
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except CliError as exc:
        print(f"printstation: {exc}", file=sys.stderr)
        return exc.exit_code
    except sqlite3.OperationalError as exc:
        if "readonly" in str(exc) or "unable to open" in str(exc):
            print(f"printstation: may not change the journal ({exc}): operator commands need "
                  "membership of group printstation", file=sys.stderr)
            return actions.EXIT_NOPERM
        raise
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"printstation: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BAD


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(find_config(args.config))


def _stocks(settings: Settings):
    stocks, problems = load_stocks(settings.config_dir / "stocks")
    if problems:
        raise ConfigInvalid(f"{problems[0].file}: {problems[0].key}: {problems[0].message}")
    return stocks


def cmd_run(args: argparse.Namespace) -> int:
    from printstation.daemon.service import Service

    settings = _settings(args)
    print(f"printstation: config: {', '.join(settings.origin)}", file=sys.stderr)
    print(f"printstation: drop invoice files into {settings.intake.drop_dir}", file=sys.stderr)
    for printer in settings.printers:
        target = printer.path if printer.driver == "directory" else f"CUPS queue {printer.queue}"
        print(f"printstation: printer {printer.name} ({printer.driver}) -> {target}",
              file=sys.stderr)
    return Service(settings, _stocks(settings)).run()


def cmd_check_config(args: argparse.Namespace) -> int:
    _settings(args)
    print("OK")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    now = station_clock()()
    doc = report.status(report.read_journal(settings), settings, now)
    if args.check:
        found = report.problems(doc, settings, now)
        for problem in found:
            print(f"UNHEALTHY: {problem}")
        if not found:
            print("OK")
        return EXIT_BAD if found else EXIT_OK
    print(json.dumps(doc, ensure_ascii=False, indent=2) if args.json else tables.status_text(doc))
    return EXIT_OK


def cmd_queue(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rows = report.queue(report.read_journal(settings), args.state, args.all,
                        dt.datetime.now(dt.UTC))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(tables.table(rows, ["id", "state", "reason", "invoice", "printer", "age"]))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    settings = _settings(args)
    conn = report.read_journal(settings)
    doc = report.job_detail(conn, args.job) if conn else None
    if doc is None:
        raise UsageError(f"no job {args.job}")
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    for key, value in doc.items():
        if key != "events":
            print(f"{key:<16} {value if value is not None else '-'}")
    print("\nevents")
    for e in doc["events"]:
        print(f"  {e['seq']:>6}  {report.local_time(e['at'])}  {e['type']:<16} {e['payload']}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    ctx = Context(settings, _stocks(settings))
    reports, bad = [], False
    for name in args.files:
        path = Path(name)
        try:
            data = read_limited(path, settings.intake.max_file_mb)
        except OSError as exc:
            raise UsageError(f"{name}: {exc.strerror}") from None
        checked = check_file(path.name, data, ctx) if isinstance(data, bytes) \
            else Checked([data])
        bad |= not checked.valid
        reports.append({
            "file": display_name(name), "valid": checked.valid,
            "errors": [p.to_dict() for p in checked.file_problems],
            "invoices": [{"invoice": e.key or None, "kind": e.kind,
                          "errors": [p.to_dict() for p in e.problems]}
                         for e in checked.entries],
        })
    if args.json:
        print(json.dumps(reports, ensure_ascii=False, indent=2))
    else:
        for report in reports:
            print(f"{report['file']}: {'OK' if report['valid'] else 'INVALID'}")
            for err in report["errors"]:
                print(f"  [{err['code']}]: {err['zh']} / {err['en']}")
            for inv in report["invoices"]:
                for err in inv["errors"]:
                    where = f" {err['field']}" if err["field"] else ""
                    print(f"  {inv['invoice'] or '-'} [{err['code']}]{where}: "
                          f"{err['zh']} / {err['en']}")
    return EXIT_BAD if bad else EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    settings = _settings(args)
    ctx = Context(settings, _stocks(settings))
    return rendering.preview(ctx, Path(args.file), Path(args.output), args.printer,
                            args.background)


def cmd_calibrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    ctx = Context(settings, _stocks(settings))
    if args.offset is None:
        return rendering.print_calibration(ctx, args.printer, args.stock)
    return rendering.set_offset(ctx, args.printer, args.stock, args.offset)


def cmd_queue_action(args: argparse.Namespace) -> int:
    return actions.queue_action(_settings(args), args.command, args.jobs, args.note)


def cmd_resolve(args: argparse.Namespace) -> int:
    return actions.resolve(_settings(args), args.job, args.printed, args.reason)


def cmd_void(args: argparse.Namespace) -> int:
    return actions.void(_settings(args), args.invoice, args.reason)


def cmd_reprint(args: argparse.Namespace) -> int:
    return actions.reprint(_settings(args), args.invoice, args.reason, args.printer)


def cmd_paper(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.paper_command == "load":
        return actions.paper_load(settings, args.printer, args.stock, args.code, args.first,
                                args.last)
    if args.paper_command == "spoil":
        if args.count < 1:
            raise UsageError("--count is 1 or more")
        return actions.paper_spoil(settings, args.printer, args.stock, args.count, args.reason)
    return actions.paper_show(report.read_journal(settings), args.printer, args.json)


def cmd_journal(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.verify:
        return actions.journal_verify(settings)
    return actions.journal_search(report.read_journal(settings), args.invoice, args.since,
                                  args.until, args.format or "text")


def cmd_backup(args: argparse.Namespace) -> int:
    return actions.run_backup(_settings(args), Path(args.dest))


def cmd_sync(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.now:
        return sync_commands.now_(Context(settings, {}, station_clock()), args.json,
                            station_clock()())
    return sync_commands.show(settings, args.json, station_clock()())


def cmd_reconcile(args: argparse.Namespace) -> int:
    return sync_commands.reconcile(_settings(args), args.json, station_clock()())


def cmd_receiver(args: argparse.Namespace) -> int:
    from printstation.headoffice.server import serve

    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    _, colon, port = args.listen.rpartition(":")
    if not colon or not port.isdigit():
        raise UsageError(f"--listen must be HOST:PORT, got {args.listen!r}")
    tokens = Path(args.tokens)
    if not tokens.is_file():
        raise UsageError(f"--tokens {tokens}: no such file")
    return serve(args.listen, Path(args.db), tokens,
                 Path(args.tls_cert) if args.tls_cert else None,
                 Path(args.tls_key) if args.tls_key else None)


COMMANDS = {
    "run": cmd_run,
    "check-config": cmd_check_config,
    "status": cmd_status,
    "queue": cmd_queue,
    "show": cmd_show,
    "validate": cmd_validate,
    "preview": cmd_preview,
    "calibrate": cmd_calibrate,
    "hold": cmd_queue_action,
    "release": cmd_queue_action,
    "requeue": cmd_queue_action,
    "cancel": cmd_queue_action,
    "resolve": cmd_resolve,
    "void": cmd_void,
    "reprint": cmd_reprint,
    "paper": cmd_paper,
    "journal": cmd_journal,
    "backup": cmd_backup,
    "sync": cmd_sync,
    "reconcile": cmd_reconcile,
    "receiver": cmd_receiver,
}
