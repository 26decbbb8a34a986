"""`printstation [--config PATH] COMMAND ...`: the single entry point (SPEC §3)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from printstation.config import ConfigError, Settings, find_config, load_settings, load_stocks
from printstation.spool import connect, display_name

from . import logs, views
from .context import Context
from .errors import EXIT_BAD, EXIT_CONFIG, EXIT_OK, CliError, ConfigInvalid, UsageError
from .reading import Checked, check_file, read_limited


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="printstation",
        description="Offline-first invoice print station: validates invoice files dropped in "
                    "a folder, prints them on pre-printed stock, journals every step.")
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $PRINTSTATION_CONFIG, then "
                             "/etc/printstation/printstation.toml, then built-in defaults)")
    parser.add_argument("--debug", action="store_true", help="tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("run", help="run the daemon in the foreground")
    sub.add_parser("check-config", help="validate config and stock layouts")
    p = sub.add_parser("status", help="queue counts per state and printers")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("queue", help="list jobs (default: those not yet final)")
    p.add_argument("--state", help="only jobs in this state")
    p.add_argument("--all", action="store_true", help="include final jobs")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show", help="one job with its event history")
    p.add_argument("job")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("validate", help="validate invoice files without printing")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.setup(args.debug)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except CliError as exc:
        print(f"printstation: {exc}", file=sys.stderr)
        return exc.exit_code
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
    stocks, problems = load_stocks(settings.config_dir / "stocks" if settings.config_dir else None)
    if problems:
        raise ConfigInvalid(f"{problems[0].file}: {problems[0].key}: {problems[0].message}")
    return stocks


def cmd_run(args: argparse.Namespace) -> int:
    from .service import Service

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


def _journal(settings: Settings) -> sqlite3.Connection | None:
    path = settings.journal_path
    return connect(path, readonly=True) if path.exists() else None


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    doc = views.status(_journal(settings), settings)
    print(json.dumps(doc, ensure_ascii=False, indent=2) if args.json else views.status_text(doc))
    return EXIT_OK


def cmd_queue(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rows = views.queue(_journal(settings), args.state, args.all, dt.datetime.now(dt.UTC))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(views.table(rows, ["id", "state", "reason", "invoice", "printer", "age"]))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    settings = _settings(args)
    conn = _journal(settings)
    doc = views.job_detail(conn, args.job) if conn else None
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
        print(f"  {e['seq']:>6}  {views.local_time(e['at'])}  {e['type']:<16} {e['payload']}")
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


COMMANDS = {
    "run": cmd_run,
    "check-config": cmd_check_config,
    "status": cmd_status,
    "queue": cmd_queue,
    "show": cmd_show,
    "validate": cmd_validate,
}
