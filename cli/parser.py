"""The command line of `printstation` (SPEC §3): every command, option and help text."""

from __future__ import annotations

import argparse


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

    p = sub.add_parser("run", help="run the daemon in the foreground")
    p.add_argument("--new-journal", action="store_true",
                   help="the journal lost the station's history and no backup is left: "
                        "set it aside and begin a new one (journaled)")
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
    p = sub.add_parser("journal", help="search the journal, verify its hash chain, or "
                                       "restore it from a backup (`journal restore BACKUP`)")
    p.add_argument("action", nargs="?", choices=("restore",), help=argparse.SUPPRESS)
    p.add_argument("backup", nargs="?", metavar="BACKUP", help=argparse.SUPPRESS)
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


def join_negative_offsets(argv: list[str]) -> list[str]:
    """`--offset -2.5,1` as `--offset=-2.5,1`: argparse takes "-2.5,1" for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--offset" and arg.startswith("-"):
            out[-1] = f"--offset={arg}"
        else:
            out.append(arg)
    return out
