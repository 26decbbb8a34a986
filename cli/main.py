"""`printstation [--config PATH] COMMAND ...`: the single entry point (SPEC §3)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from printstation.base import logs
from printstation.base.errors import (
    EXIT_BAD,
    EXIT_OK,
    NotFound,
    PermissionDenied,
    StationError,
    UsageError,
    internal,
    is_permission_problem,
)
from printstation.config import ConfigError, Settings, find_config, load_config, load_settings
from printstation.daemon import control, instance
from printstation.daemon import status as report
from printstation.daemon.checks import Checked, check_file, read_limited
from printstation.daemon.clock import station_clock
from printstation.daemon.context import Context
from printstation.spool import display_name

from . import actions, rendering, sync_commands, tables
from .parser import build_parser, join_negative_offsets


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_negative_offsets(list(sys.argv[1:] if argv is None
                                                         else argv)))
    logs.setup(args.debug, args.log_format, background=args.command == "run")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _report_error(exc, args)


def _report_error(exc: Exception, args: argparse.Namespace) -> int:
    """One line on stderr and the exit code of the error's class (SPEC §3).

    A config error lists every problem, one per line. A permission problem is told by its
    errno, or by the journal's access rights, never by the text of the message. Anything
    else is a bug: exit 70, with the traceback only under `--debug`.
    """
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return exc.exit_code
    if not isinstance(exc, StationError):
        journal = _journal_path(args)
        if is_permission_problem(exc, journal):
            exc = PermissionDenied(user=actions.operator(), action="use the journal",
                                   path=journal or getattr(exc, "filename", "-"))
        elif args.debug:
            traceback.print_exception(exc)
            return internal(exc).exit_code
        else:
            exc = internal(exc)
    assert isinstance(exc, StationError)
    print(f"printstation: {exc}", file=sys.stderr)
    return exc.exit_code


def _journal_path(args: argparse.Namespace) -> Path | None:
    """The journal this command would use, if the config can be read."""
    try:
        return _settings(args).journal_path
    except Exception:
        return None


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(find_config(args.config))


def _context(args: argparse.Namespace) -> Context:
    """Settings and stock layouts, each read once, for a command that renders or checks."""
    return Context.of(load_config(find_config(args.config)))


def cmd_run(args: argparse.Namespace) -> int:
    from printstation.daemon.service import Service

    config = load_config(find_config(args.config))
    settings = config.settings
    operator = actions.operator()  # who asks, before root takes the owner's identity
    _as_service_user(settings)
    print(f"printstation: config: {', '.join(settings.origin)}", file=sys.stderr)
    print(f"printstation: drop invoice files into {settings.intake.drop_dir}", file=sys.stderr)
    for printer in settings.printers:
        target = printer.path if printer.driver == "directory" else f"CUPS queue {printer.queue}"
        print(f"printstation: printer {printer.name} ({printer.driver}) -> {target}",
              file=sys.stderr)
    return Service(settings, config.stocks,
                   new_journal=operator if args.new_journal else None).run()


def _as_service_user(settings: Settings) -> None:
    """Root acts as the data folder's owner (or as `printstation` for the system config),
    so that it never leaves files behind that the service cannot write."""
    user = instance.service_user_for(settings.station.data_dir, _system_config(settings))
    if user is None:
        return
    instance.prepare_data_dir(settings.station.data_dir, user)
    instance.become(user)
    print(f"printstation: running as user {user}, the owner of "
          f"{settings.station.data_dir}", file=sys.stderr)


def _system_config(settings: Settings) -> bool:
    return settings.main_file is not None and settings.main_file.is_relative_to("/etc")


def cmd_check_config(args: argparse.Namespace) -> int:
    from printstation.daemon.sync_client import check_sync_settings

    # The token's owner is checked by the daemon itself (IT runs this as root).
    check_sync_settings(_settings(args), check_owner=False)
    print("OK")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    now = station_clock()()
    doc = _status_doc(settings, now)
    if args.check:
        found = report.problems(doc, settings, now)
        for problem in found:
            print(f"UNHEALTHY: {problem}")
        if not found:
            print("OK")
        return EXIT_BAD if found else EXIT_OK
    print(json.dumps(doc, ensure_ascii=False, indent=2) if args.json else tables.status_text(doc))
    return EXIT_OK


def _status_doc(settings: Settings, now: dt.datetime) -> dict:
    """From the running daemon (anyone may ask it), else from the journal file."""
    try:
        return control.ask(settings, "status").doc
    except (control.NoDaemon, StationError):
        pass
    try:
        conn = report.read_journal(settings)
    except Exception as exc:
        if not is_permission_problem(exc, settings.journal_path):
            raise
        conn = None  # an outsider with the daemon down: what can be known without it
    return report.status(conn, settings, now)


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
        raise NotFound(f"no job {args.job}")
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
    ctx = _context(args)
    settings = ctx.settings
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
    ctx = _context(args)
    return rendering.preview(ctx, Path(args.file), Path(args.output), args.printer,
                            args.background)


def cmd_calibrate(args: argparse.Namespace) -> int:
    ctx = _context(args)
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
    if args.action == "restore":
        if not args.backup:
            raise UsageError("journal restore BACKUP: name the backup's journal.db")
        return actions.journal_restore(settings, Path(args.backup),
                                       lambda: _as_service_user(settings))
    if args.action or args.backup:
        raise UsageError("journal takes options, or `restore BACKUP`")
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
