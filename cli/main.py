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
    PermissionDenied,
    StationError,
    UsageError,
    internal,
    is_permission_problem,
)
from printstation.config import ConfigError, Settings, find_config, load_config, load_settings
from printstation.config.loader import Config
from printstation.daemon import control, instance
from printstation.daemon import status as report
from printstation.daemon.checks import Checked, read_limited
from printstation.daemon.clock import station_clock
from printstation.daemon.context import Context
from printstation.spool import display_name

from . import (
    actions,
    catalog,
    choices,
    invoices,
    pipes,
    read_config,
    receiver_commands,
    rendering,
    sync_commands,
    tables,
    web_commands,
)
from .parser import build_parser, join_negative_offsets


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_negative_offsets(list(sys.argv[1:] if argv is None
                                                         else argv)))
    logs.setup(args.debug, args.log_format, background=args.command == "run")
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, where a reader that has gone can still be told apart
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError as exc:
        if pipes.stdout_reader_gone():  # `printstation … | head`: a quiet end
            return pipes.end_quietly()
        return _report_error(exc, args)
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
            _tell(args, str(problem), "config.invalid")
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
            # Said without the exception's class name, in the clerk's language.
            _tell(args, f"printstation: {catalog.internal_line(exc)}")
            return internal(exc).exit_code
    assert isinstance(exc, StationError)
    _tell(args, f"printstation: {catalog.error_line(exc)}")
    return exc.exit_code


def _tell(args: argparse.Namespace, line: str, event: str = "daemon.refused") -> None:
    """An error line on stderr; the daemon's (`run`) as a log line like all its others
    (priority prefix, JSON with --log-format json), so journald files it as an error."""
    if args.command == "run":
        logs.error(event, error=line.removeprefix("printstation: "))
    else:
        print(line, file=sys.stderr)


def _journal_path(args: argparse.Namespace) -> Path | None:
    """The journal this command would use, if the config can be read."""
    try:
        return _settings(args).journal_path
    except Exception:
        return None


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(find_config(args.config))


def _for_reading(args: argparse.Namespace) -> Config:
    """Broken conf.d drop-ins left out with a warning: the command only reads."""
    return read_config.config(args.config)


def _context(args: argparse.Namespace) -> Context:
    """Settings and stock layouts, each read once, for a command that renders or checks."""
    return Context.of(load_config(find_config(args.config)))


def cmd_run(args: argparse.Namespace) -> int:
    from printstation.base import heap
    from printstation.daemon.service import Service

    # Before any thread starts: a thread keeps the malloc arena it first had.
    heap.cap_arenas()
    config = load_config(find_config(args.config))
    settings = config.settings
    operator = actions.operator()  # who asks, before root takes the owner's identity
    _as_service_user(settings, log=True)
    # Log lines from the first on (a priority each, JSON with --log-format json).
    logs.info("daemon.config", files=", ".join(settings.origin))
    logs.info("daemon.inbox", path=settings.intake.drop_dir, note="drop invoice files here")
    for printer in settings.printers:
        logs.info("daemon.printer", printer=printer.name, driver=printer.driver,
                  target=printer.path if printer.driver == "directory" else printer.queue)
    return Service(settings, config.stocks,
                   new_journal=operator if args.new_journal else None).run()


def _as_service_user(settings: Settings, log: bool = False) -> None:
    """Root acts as the data folder's owner (or as `printstation` for the system config),
    so that it never leaves files behind that the service cannot write."""
    user = instance.service_user_for(settings.station.data_dir, _system_config(settings))
    if user is None:
        return
    instance.prepare_data_dir(settings.station.data_dir, user)
    instance.become(user)
    if log:
        logs.info("daemon.user", user=user, owner_of=settings.station.data_dir)
    else:
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
    settings = _for_reading(args).settings
    now = station_clock()()
    doc = _status_doc(settings, now)
    if args.check:
        found = report.problems(doc, settings, now) + read_config.unhealthy(args.config)
        for problem in found:
            print(catalog.say("status.unhealthy", problem=catalog.said(problem)))
        if not found:
            print(catalog.say("status.ok"))
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
    settings = _for_reading(args).settings
    rows = report.queue(report.read_journal(settings), choices.state(args.state), args.all,
                        dt.datetime.now(dt.UTC))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(tables.queue_text(rows, dt.datetime.now(dt.UTC)))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    settings = _for_reading(args).settings
    conn = report.read_journal(settings)
    doc = report.job_detail(conn, args.job) if conn else None
    if doc is None:  # not a job id: an invoice, as a clerk types its number
        return invoices.show(conn, args.job, args.json)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(tables.job_text(doc))
    return EXIT_OK


def cmd_invoices(args: argparse.Namespace) -> int:
    return invoices.search(report.read_journal(_for_reading(args).settings), args.number,
                           args.buyer, args.since, args.until, args.state,
                           args.format or "text")


def cmd_validate(args: argparse.Namespace) -> int:
    ctx = Context.of(_for_reading(args))
    settings = ctx.settings
    reports, bad = [], False
    journal = invoices.journal_for_checks(settings)  # for duplicates, when it can be read
    for name in args.files:
        path = Path(name)
        try:
            data = read_limited(path, settings.intake.max_file_mb)
        except OSError as exc:
            raise UsageError(f"{name}: {exc.strerror}") from None
        checked = invoices.check(path.name, data, ctx, journal) if isinstance(data, bytes) \
            else Checked([data])
        bad |= not checked.valid
        reports.append({
            "file": display_name(name), "valid": checked.valid,
            "errors": [p.to_dict() for p in checked.file_problems],
            "invoices": [invoices.journaled(e) for e in checked.entries],
        })
    if args.json:
        print(json.dumps(reports, ensure_ascii=False, indent=2))
    else:
        for report in reports:
            verdict = catalog.say("validate.ok" if report["valid"] else "validate.invalid")
            print(f"{report['file']}: {verdict}")
            for err in report["errors"]:
                print(f"  [{err['code']}]: {err['zh']} / {err['en']}")
            for inv in report["invoices"]:
                for err in inv["errors"]:
                    where = f" {err['field']}" if err["field"] else ""
                    print(f"  {inv['invoice'] or '-'} [{err['code']}]{where}: "
                          f"{err['zh']} / {err['en']}")
    return EXIT_BAD if bad else EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    ctx = Context.of(_for_reading(args))
    return rendering.preview(ctx, Path(args.file), Path(args.output),
                             choices.printer(ctx.settings, args.printer), args.background)


def cmd_calibrate(args: argparse.Namespace) -> int:
    return rendering.calibrate(_context(args), args.printer, args.stock, args.offset,
                               args.adjust, args.sample)


def cmd_queue_action(args: argparse.Namespace) -> int:
    return actions.queue_action(_settings(args), args.command, args.jobs, args.note)


def cmd_resolve(args: argparse.Namespace) -> int:
    return actions.resolve(_settings(args), args.job, args.printed, args.reason)


def cmd_void(args: argparse.Namespace) -> int:
    return invoices.void(_settings(args), args.invoice, args.reason, args.yes)


def cmd_reprint(args: argparse.Namespace) -> int:
    settings = _settings(args)
    return invoices.reprint(settings, args.invoice, args.reason,
                            choices.printer(settings, args.printer))


def cmd_paper(args: argparse.Namespace) -> int:
    if args.paper_command == "show":
        settings = _for_reading(args).settings
        return actions.paper_show(report.read_journal(settings),
                                  choices.printer(settings, args.printer), args.json,
                                  settings.alerts.low_sheets)
    settings = _settings(args)
    choices.printer(settings, args.printer)
    choices.stock(settings, args.printer, args.stock)
    if args.paper_command == "load":
        return actions.paper_load(settings, args.printer, args.stock, args.code, args.first,
                                args.last)
    if args.paper_command == "spoil":
        if args.count < 1:
            raise UsageError("--count is 1 or more")
        return actions.paper_spoil(settings, args.printer, args.stock, args.count, args.reason)
    raise UsageError(f"paper {args.paper_command}: unknown action")


def cmd_journal(args: argparse.Namespace) -> int:
    if args.action == "restore":
        settings = _settings(args)
        if not args.backup:
            raise UsageError("journal restore BACKUP: name the backup's journal.db")
        return actions.journal_restore(settings, Path(args.backup),
                                       lambda: _as_service_user(settings))
    if args.action or args.backup:
        raise UsageError("journal takes options, or `restore BACKUP`")
    settings = _for_reading(args).settings
    if args.verify:
        return actions.journal_verify(settings)
    if args.limit is not None and args.limit < 1:
        raise UsageError(catalog.say("pick.limit"))
    return actions.journal_search(report.read_journal(settings), args.invoice, args.since,
                                  args.until, args.format or "text", args.limit)


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
    return receiver_commands.run(args)


COMMANDS = {
    "run": cmd_run,
    "check-config": cmd_check_config,
    "status": cmd_status,
    "queue": cmd_queue,
    "show": cmd_show,
    "invoices": cmd_invoices,
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
    "web": web_commands.run,
}
