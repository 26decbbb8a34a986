"""The command line of `printstation` (SPEC §3): every command, option and help text."""

from __future__ import annotations

import argparse
import importlib.metadata

from printstation.spool.states import State

from . import receiver_commands

# What the help says of the values an argument takes, in one place for every command.
STATES = ", ".join(state.value for state in State)
DATE = ("a local date YYYY-MM-DD, or an ISO 8601 time such as 2026-11-28T09:30 "
        "(local) or 2026-11-28T01:30Z (UTC)")
JOB = "a job id as `queue` lists it"
INVOICE = "an invoice key CODE-NUMBER (1100243130-00045001), or NUMBER for a 数电 invoice"
TYPED = ("an invoice number as a clerk types it: the 8-digit number (00045001, or its last "
         "digits: 45001), CODE-NUMBER, or the 20-digit 数电 number")
ONE = f"{TYPED}; digits that several invoices end with are refused, naming them (exit 2)"
PRINTER = "a printer's NAME from [printers.NAME] in the config"
STOCKS = ["vat-special", "vat-ordinary", "vat-roll-76", "einvoice"]  # the built-in layouts
STOCK = f"a stock layout: {', '.join(STOCKS)}, or one in /etc/printstation/stocks/"
MM = "in mm, 0.1 mm steps: x right-positive (向右), y down-positive (向下)"


def version() -> str:
    """The installed distribution's version (`printstation --version`)."""
    try:
        return importlib.metadata.version("printstation")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="printstation",
        description="Offline-first invoice print station: validates invoice files dropped in "
                    "a folder, prints them on pre-printed stock, journals every step.",
        epilog="`printstation COMMAND --help` describes one command; `man printstation` "
               "the whole tool. Exit codes: 0 ok, 1 the thing checked is bad or unknown, "
               "2 usage, 69 a service is down, 70 internal error, 75 try later, "
               "77 not permitted, 78 configuration error.")
    parser.add_argument("--version", action="version", version=f"printstation {version()}")
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $PRINTSTATION_CONFIG, then "
                             "/etc/printstation/printstation.toml, then built-in defaults)")
    parser.add_argument("--debug", action="store_true", help="tracebacks and debug logs")
    parser.add_argument("--log-format", choices=("text", "kv", "json"), default="text",
                        help="log lines as key=value text (text, the default; kv is the same) "
                             "or JSON, for shipping")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="run the daemon in the foreground",
                       description="Run the print station daemon in the foreground (systemd "
                                   "Type=notify): watch the drop folder, print, journal, sync. "
                                   "Prints which config it uses. Stop it with Ctrl-C or "
                                   "SIGTERM; SIGHUP reloads the config.")
    p.add_argument("--new-journal", action="store_true",
                   help="the journal lost the station's history and no backup is left: "
                        "set it aside and begin a new one (journaled)")
    sub.add_parser("check-config", help="validate config and stock layouts",
                   description="Check the config (main file and conf.d/*.toml) and the stock "
                               "layouts: prints OK (exit 0) or every error as "
                               "FILE: KEY: message (exit 78).")
    p = sub.add_parser("status", help="queue counts per state and printers",
                       description="The daemon, job counts per state, printers and their "
                                   "health, paper left, sync backlog and the offline budget. "
                                   "Anyone may ask.")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p.add_argument("--check", action="store_true",
                   help="for monitoring: exit 1 and say why when the station is unhealthy")
    p = sub.add_parser("queue", help="list jobs (default: those not yet final)",
                       description="List jobs in arrival order: id, state, reason, invoice, "
                                   "printer, age. Default: the jobs not yet final.")
    # Checked in main (an unknown state names the closest); `completions` is for bash.
    p.add_argument("--state", metavar="S", help=f"only jobs in this state: {STATES}"
                   ).completions = [state.value for state in State]
    p.add_argument("--all", action="store_true",
                   help="include final jobs (printed, rejected, failed, cancelled)")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p = sub.add_parser("show", help="one job, or an invoice and its jobs, with the history",
                       description="One job with its full event history, or an invoice with "
                                   "all its jobs and their history (times are local).")
    p.add_argument("job", metavar="JOB|INVOICE", help=f"{JOB}, or {ONE}")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    # -- invoices (发票查询): cli/invoices.py
    p = sub.add_parser("invoices", help="find invoices printed here (发票查询)",
                       description="Invoices printed here, in the order they printed: number, "
                                   "buyer, total, state (printed or voided), print count, "
                                   "jobs and paper sheet. Filters combine.")
    p.add_argument("--number", metavar="N", help=f"{TYPED}; every match is listed")
    p.add_argument("--buyer", metavar="TEXT",
                   help="part of the buyer's name or taxpayer id (case-insensitive)")
    p.add_argument("--since", metavar="D", help=f"printed from D on: {DATE}")
    p.add_argument("--until", metavar="D",
                   help="printed up to D (a date: up to and including that day)")
    p.add_argument("--state", choices=("printed", "voided"), help="only invoices in this state")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_const", const="json", dest="format",
                     help="as JSON (times UTC), for scripts")
    fmt.add_argument("--csv", action="store_const", const="csv", dest="format",
                     help="as CSV (times local with their UTC offset), for spreadsheets")
    p = sub.add_parser("preview", help="render exactly what would print, as PDF or PNG",
                       description="Render an invoice file (JSON, XML or PDF) exactly as it "
                                   "would print, with the printer's offset; its problems go "
                                   "to stderr (exit 1). Anyone may run it.")
    p.add_argument("file", metavar="FILE", help="an invoice file as it would be dropped")
    p.add_argument("-o", "--output", required=True, metavar="OUT.pdf|OUT.png",
                   help="where to write; .png is the first page")
    p.add_argument("--printer", metavar="P",
                   help=f"use this printer's offset ({PRINTER}; default: the printer the "
                        "invoice routes to)")
    p.add_argument("--background", action="store_true", help="draw the blank form under it")
    p = sub.add_parser("calibrate", help="print a calibration sheet or a sample, or set an offset",
                       description="套打 calibration. Without --offset or --adjust: print a "
                                   "calibration sheet (a mm grid, a crosshair at every field, "
                                   "the current offset) on plain paper, to lay over a blank "
                                   "form against the light. --sample prints the sample invoice "
                                   "of the stock instead. --offset and --adjust set the offset "
                                   "through the daemon, which journals it, keeps it in "
                                   "data_dir/calibration.toml and prints with it from the "
                                   "next job on.")
    p.add_argument("printer", metavar="PRINTER", help=PRINTER)
    p.add_argument("--stock", required=True, metavar="S", help=STOCK).completions = STOCKS
    how = p.add_mutually_exclusive_group()
    how.add_argument("--offset", metavar="X,Y",
                     help=f"set the offset to X,Y, {MM}, each within ±30 mm; e.g. 1.5,-0.5")
    how.add_argument("--adjust", metavar="DX,DY",
                     help=f"move by DX,DY from the current offset, {MM}; e.g. 0.5,-1 moves "
                          "the print 0.5 mm right and 1 mm up")
    how.add_argument("--sample", action="store_true",
                     help="print the stock's sample invoice with the current offset, on plain "
                          "paper, to lay over a blank form")
    for action, text in (("hold", "hold jobs (they wait until released)"),
                         ("release", "release held jobs"),
                         ("requeue", "retry deferred or held jobs now"),
                         ("cancel", "cancel jobs not yet handed to the printer")):
        p = sub.add_parser(action, help=text,
                           description=f"{text[0].upper()}{text[1:]}, through the running "
                                       "daemon; journaled with your user name and the note.")
        p.add_argument("jobs", nargs="+", metavar="JOB",
                       help=f"{JOB}; several, or - alone to read them from stdin, one a line")
        p.add_argument("--note", default="", metavar="T", help="why, for the journal")
    p = sub.add_parser("resolve", help="settle a job in state uncertain",
                       description="Settle a job whose outcome could not be known (state "
                                   "uncertain): count the sheets, then say what happened.")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--printed", action="store_true", help="it printed: the sheet is used")
    how.add_argument("--spoiled", action="store_true", help="it did not: the sheet is spoiled")
    p.add_argument("job", metavar="JOB", help=JOB)
    p.add_argument("--reason", default="", metavar="T", help="why, for the journal")
    p = sub.add_parser("void", help="mark a printed invoice (and its sheet) voided",
                       description="作废: mark a printed invoice and its sheet voided. On a "
                                   "terminal it shows the invoice and asks first; a voided "
                                   "invoice is not reprinted.")
    p.add_argument("invoice", metavar="INVOICE", help=ONE)
    p.add_argument("--reason", required=True, metavar="T", help="why, for the journal")
    p.add_argument("--yes", action="store_true",
                   help="do not ask (required without a terminal, e.g. in scripts)")
    p = sub.add_parser("reprint", help="print an invoice again, journaled as a reprint",
                       description="Print an invoice again (a new job, journaled as a reprint "
                                   "of the invoice). A voided invoice is refused (exit 1): "
                                   "issue a new invoice in the invoicing software.")
    p.add_argument("invoice", metavar="INVOICE", help=ONE)
    p.add_argument("--reason", required=True, metavar="T", help="why, for the journal")
    p.add_argument("--printer", metavar="P",
                   help=f"{PRINTER} (default: the printer the invoice routes to)")
    paper_cmd = sub.add_parser("paper", help="the ledger of numbered sheets",
                               description="The ledger of numbered invoice sheets per printer "
                                           "and stock: load, show, spoil.")
    paper_sub = paper_cmd.add_subparsers(dest="paper_command", metavar="ACTION", required=True)
    p = paper_sub.add_parser("load", help="load a range of numbered sheets into a printer",
                             description="Record that the sheets numbered N to M are loaded "
                                         "in PRINTER.")
    p.add_argument("printer", metavar="PRINTER", help=PRINTER)
    p.add_argument("--stock", metavar="S", help=f"{STOCK} (default: the printer's only stock)"
                   ).completions = STOCKS
    p.add_argument("--code", default="", metavar="C",
                   help="the sheets' invoice code (发票代码), 10 or 12 digits")
    p.add_argument("--from", dest="first", required=True, metavar="N",
                   help="the first sheet's 8-digit number (发票号码), e.g. 00012001")
    p.add_argument("--to", dest="last", required=True, metavar="M",
                   help="the last sheet's number, N or more")
    p = paper_sub.add_parser("show", help="sheets per printer and stock",
                             description="Sheets per printer and stock: loaded, free, in the "
                                         "printer, used, spoiled, voided, the next one.")
    p.add_argument("printer", nargs="?", metavar="PRINTER", help=f"only this one: {PRINTER}")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p = paper_sub.add_parser("spoil", help="spoil the next sheet(s)",
                             description="Mark the printer's next sheet(s) spoiled (jammed, "
                                         "torn, misprinted), with the reason.")
    p.add_argument("printer", metavar="PRINTER", help=PRINTER)
    p.add_argument("--stock", metavar="S", help=f"{STOCK} (default: the one loaded)"
                   ).completions = STOCKS
    p.add_argument("--count", type=int, default=1, metavar="K",
                   help="how many sheets (default 1)")
    p.add_argument("--reason", required=True, metavar="T", help="why, e.g. 卡纸")
    p = sub.add_parser("journal", help="search the journal, verify its hash chain, or "
                                       "restore it from a backup (`journal restore BACKUP`)",
                       description="Search the journal's events (streamed in seq order), "
                                   "verify its hash chain (--verify, exit 0/1), or, with the "
                                   "daemon stopped, `journal restore BACKUP` to put a backup's "
                                   "journal.db in place (the current one is set aside).")
    p.add_argument("action", nargs="?", choices=("restore",), help=argparse.SUPPRESS)
    p.add_argument("backup", nargs="?", metavar="BACKUP", help=argparse.SUPPRESS)
    p.add_argument("--invoice", metavar="K", help=f"only this invoice's events: {INVOICE}")
    p.add_argument("--since", metavar="D", help=f"events from D on: {DATE}")
    p.add_argument("--until", metavar="D", help="events before D (same forms as --since)")
    p.add_argument("--limit", metavar="N", type=int,
                   help="at most N events (the first N in seq order)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_const", const="json", dest="format",
                     help="as JSON, for scripts")
    fmt.add_argument("--csv", action="store_const", const="csv", dest="format",
                     help="as CSV with every column, hashes included")
    fmt.add_argument("--verify", action="store_true",
                     help="check seq and the hash chain; report the first broken link")
    p = sub.add_parser("backup", help="a consistent copy of the journal and the archive",
                       description="Copy journal.db (SQLite backup API, checked), the archive "
                                   "and archive-index.json into DEST; safe while the daemon "
                                   "prints. Exit 1 naming each problem found.")
    p.add_argument("dest", metavar="DEST", help="a folder (created if missing)")
    p = sub.add_parser("sync", help="sync with head office: state, backlog, last error",
                       description="Sync state with head office: backlog count and age, "
                                   "acknowledged seq, last error, next attempt.")
    p.add_argument("--now", action="store_true",
                   help="sync at once (ends any retry wait; without a daemon, sends from here)")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p = sub.add_parser("reconcile", help="printed invoices head office has not acknowledged",
                       description="Ask head office what it holds and list the printed "
                                   "invoices it has not acknowledged, with their age.")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    receiver_commands.add_parser(sub)
    p = sub.add_parser("web", help="the station's local web console (SPEC §12)",
                       description="Serve the web console for clerks: queue, printers, paper, "
                                   "rejected files, invoices, page pictures, calibration; "
                                   "actions after a login. `web passwd USER` sets a login.")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="address to listen on (default: [web] listen, 127.0.0.1:8631)")
    web_sub = p.add_subparsers(dest="web_command", metavar="ACTION")
    p = web_sub.add_parser("passwd", help="set (or remove) a clerk's login to the console",
                           description="Set a clerk's password for the web console (asked "
                                       "twice, or one line from stdin), kept as a scrypt hash "
                                       "in [web] users_file; --delete removes the login.")
    p.add_argument("user", metavar="USER", help="the login: letters, digits and _ . @ -")
    p.add_argument("--delete", action="store_true", help="remove this login instead")
    p = sub.add_parser("validate", help="validate invoice files without printing",
                       description="The daemon's checks without printing: each error with its "
                                   "code, field and message; exit 0 valid, 1 invalid. Anyone "
                                   "may run it.")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="invoice files (.json, .xml, .pdf) as they would be dropped")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    return parser


def join_negative_offsets(argv: list[str]) -> list[str]:
    """`--offset -2.5,1` as `--offset=-2.5,1` (and `--adjust`): argparse takes "-2.5,1"
    for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in ("--offset", "--adjust") and arg.startswith("-"):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out
