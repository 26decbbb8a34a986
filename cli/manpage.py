"""The man page (roff) and the bash completion of `printstation`, made from its parser.

`make install` runs `python -m printstation.cli.manpage man FILE` and `... bash FILE`
with the installed package (scripts/install), so both always say what the installed
command accepts: one source, `cli/parser.py`, for `--help`, the page and the completion.
Written here rather than taken from argparse-manpage or shtab: about 200 lines against
two more dependencies on the station, and the page gets the sections a man page needs
(exit status, environment, files) that neither takes from a parser.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

from .parser import build_parser, version

# Sections after the commands, from SPEC §3 and §2.
EXIT_STATUS = (
    ("0", "ok"),
    ("1", "the thing checked is bad: an invalid invoice, an unhealthy station with "
          "status --check, an unknown job or invoice"),
    ("2", "usage: a wrong option, or an unknown state, printer or stock (with the "
          "closest names)"),
    ("69", "a service the command needs is down: CUPS, head office, the daemon for a change"),
    ("70", "internal error (a bug; --debug shows the traceback)"),
    ("75", "try again later: another daemon already runs on this data folder"),
    ("77", "not permitted: operator commands need membership of group printstation"),
    ("78", "configuration error (check-config lists every one)"),
    ("141", "the reader of the output went away (printstation ... | head)"),
)
ENVIRONMENT = (
    ("PRINTSTATION_CONFIG", "the config file when --config is not given"),
    ("LANG", "zh_CN.UTF-8 (a clerk's PC) shows clerks' texts in Chinese, any other locale "
             "in English"),
)
FILES = (
    ("/etc/printstation/printstation.toml", "the config; then conf.d/*.toml in name order"),
    ("/var/lib/printstation/calibration.toml", "offsets set by calibrate (kept by the "
                                               "daemon; over the config's offsets)"),
    ("/etc/printstation/stocks/", "stock layouts of your own"),
    ("/var/lib/printstation/journal.db", "the journal (SQLite): jobs, invoices, events"),
    ("/var/lib/printstation/archive/", "printed files and the pages sent to the printer"),
    ("/srv/printstation/inbox/", "the drop folder"),
)
# Metavars of arguments that name a file or folder: completed from the file system.
FILE_METAVARS = frozenset({"FILE", "PATH", "DEST", "BACKUP", "PEM", "OUT.pdf|OUT.png"})


def commands(parser: argparse.ArgumentParser,
             prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str,
                                                             argparse.ArgumentParser]]:
    """(words, one-line help, parser) for every command and sub-command, in order."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        for name, sub in action.choices.items():
            yield (*prefix, name), helps.get(name, ""), sub
            yield from commands(sub, (*prefix, name))


def shown(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments a person is told about: not -h, not hidden ones, not sub-commands."""
    return [a for a in parser._actions
            if a.help != argparse.SUPPRESS and not isinstance(
                a, argparse._HelpAction | argparse._SubParsersAction | argparse._VersionAction)]


def takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def metavar(action: argparse.Action) -> str:
    if action.metavar:
        return str(action.metavar)
    if action.choices:
        return "{" + ",".join(str(c) for c in action.choices) + "}"
    return action.dest.upper() if action.option_strings else action.dest


# -- the man page ------------------------------------------------------------------------

def roff(text: str) -> str:
    """Text safe in a roff line: backslashes, hyphens of options, a leading dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def _invocation(action: argparse.Action) -> str:
    names = ", ".join(f"\\fB{roff(o)}\\fR" for o in action.option_strings)
    value = f" \\fI{roff(metavar(action))}\\fR" if takes_value(action) else ""
    return (names + value) if action.option_strings else f"\\fI{roff(metavar(action))}\\fR"


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    out = []
    for action in shown(parser):
        out += [".TP", _invocation(action), roff(action.help or "")]
    return out


def man_page(parser: argparse.ArgumentParser, today: dt.date | None = None) -> str:
    today = today or dt.date.today()
    usage = parser.format_usage().removeprefix("usage: ").strip()
    lines = [
        r'.\" -*- coding: UTF-8 -*-',
        r'.\" Generated from printstation/cli/parser.py by printstation.cli.manpage.',
        f'.TH PRINTSTATION 1 "{today:%Y-%m-%d}" "printstation {version()}" "User Commands"',
        ".SH NAME", "printstation \\- " + roff("offline-first invoice print station"),
        ".SH SYNOPSIS", ".nf", roff(" ".join(usage.split())), ".fi",
        ".SH DESCRIPTION", roff(parser.description or ""),
        ".PP", roff("Every command and option below is also told by "
                    "printstation COMMAND --help."),
        ".SH OPTIONS", *_arguments(parser),
        ".SH COMMANDS",
    ]
    for words, summary, sub in commands(parser):
        if not any(not isinstance(a, argparse._SubParsersAction) for a in shown(sub)) \
                and any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
            lines += [f'.SS "{roff(" ".join(words))}"', roff(sub.description or summary)]
            continue
        usage = " ".join(sub.format_usage().removeprefix("usage: ").split())
        lines += [f'.SS "{roff(" ".join(words))}"', ".nf", roff(usage), ".fi",
                  roff(sub.description or summary)]
        args = _arguments(sub)
        if args:
            lines += [".RS", *args, ".RE"]
    lines.append(".SH EXIT STATUS")
    for code, text in EXIT_STATUS:
        lines += [".TP", f"\\fB{code}\\fR", roff(text)]
    lines.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT:
        lines += [".TP", f"\\fB{name}\\fR", roff(text)]
    lines.append(".SH FILES")
    for name, text in FILES:
        lines += [".TP", f"\\fI{roff(name)}\\fR", roff(text)]
    lines += [".SH SEE ALSO", r"\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fBlpadmin\fR(8), "
              r"\fBlpstat\fR(1)", ""]
    return "\n".join(lines)


# -- the bash completion -----------------------------------------------------------------

def _words(items: list[str]) -> str:
    return " ".join(items)


def _case_for(key: str, parser: argparse.ArgumentParser) -> list[str]:
    """The completion of one command (`key` is its words, or "" before any command)."""
    options, values, subs = [], [], []
    positional_files = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subs += list(action.choices)
            continue
        if action.help == argparse.SUPPRESS:
            continue
        options += action.option_strings
        if action.option_strings and takes_value(action):
            pattern = "|".join(action.option_strings)
            offered = action.choices or getattr(action, "completions", None)
            if offered:
                values.append(f"            {pattern}) _printstation_words "
                              f"\"{_words([str(c) for c in offered])}\"; return ;;")
            elif metavar(action) in FILE_METAVARS:
                values.append(f"            {pattern}) _printstation_files; return ;;")
            else:
                values.append(f"            {pattern}) return ;;")
        elif not action.option_strings and metavar(action) in FILE_METAVARS:
            positional_files = True
    body = [f'        "{key}")']
    if values:
        body += ['            case "$prev" in', *values, "            esac"]
    body.append(f'            opts="{_words(sorted(options))}" subs="{_words(subs)}" '
                f"files={'1' if positional_files else ''} ;;")
    return body


def bash_completion(parser: argparse.ArgumentParser) -> str:
    """A completion function using bash's builtins only (no bash-completion package)."""
    valued = sorted({option for option, value in _all_options(parser) if value})
    groups = sorted({" ".join(words) for words, _, sub in commands(parser)
                     if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)})
    cases = _case_for("", parser)
    for words, _, sub in commands(parser):
        cases += _case_for(" ".join(words), sub)
    return "\n".join([
        "# bash completion for printstation; generated from its parser by",
        "# printstation.cli.manpage (make install puts it in share/bash-completion/completions).",
        "_printstation_words() {",
        '    COMPREPLY=($(compgen -W "$1" -- "$cur"))',
        "}",
        "_printstation_files() {",
        "    local IFS=$'\\n'",
        '    COMPREPLY=($(compgen -f -- "$cur"))',
        "    compopt -o filenames 2>/dev/null",
        "}",
        "_printstation() {",
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}",
        "    local key='' word i opts='' subs='' files=''",
        "    COMPREPLY=()",
        "    # The command's words so far (`paper load`): options and their values skipped.",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        word=${COMP_WORDS[i]}",
        "        case $word in",
        f"            {'|'.join(valued)}) ((i++)) ;;",
        "            -*) ;;",
        "            *) if [[ -z $key ]]; then key=$word",
        f'               elif [[ " {_words(groups)} " == *" $key "* ]]; then key="$key $word"',
        "               fi ;;",
        "        esac",
        "    done",
        '    case "$key" in',
        *cases,
        "        *) return ;;",
        "    esac",
        '    if [[ $cur == -* ]]; then _printstation_words "$opts"',
        '    elif [[ -n $subs ]]; then _printstation_words "$subs"',
        "    elif [[ -n $files ]]; then _printstation_files",
        "    fi",
        "}",
        "complete -F _printstation printstation",
        "",
    ])


def _all_options(parser: argparse.ArgumentParser) -> Iterator[tuple[str, bool]]:
    """Every option of every command, and whether it takes a value."""
    parsers = [parser, *(sub for _, _, sub in commands(parser))]
    for each in parsers:
        for action in each._actions:
            for option in action.option_strings:
                yield option, takes_value(action)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) not in (1, 2) or args[0] not in ("man", "bash"):
        print("usage: python -m printstation.cli.manpage man|bash [OUT]", file=sys.stderr)
        return 2
    parser = build_parser()
    text = man_page(parser) if args[0] == "man" else bash_completion(parser)
    if len(args) == 2:
        Path(args[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
