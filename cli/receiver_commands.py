"""`printstation receiver …`: head office's receiver and dashboard (SPEC §11), its tokens
and its dashboard logins.

- `receiver --listen HOST:PORT --db FILE|postgresql://… --tokens FILE [--tls-cert F
  --tls-key F] [--users FILE] [--secret-file FILE] [limits]` serves the sync API and the
  dashboard (headoffice/server.py);
- `receiver token add STATION --tokens FILE` makes a token and keeps only its hash;
  `receiver token revoke STATION [--hash PREFIX]` removes the station's tokens (or one);
  `receiver token list` shows station, hash prefix and when each was added. A running
  receiver sees the change within a second: rotation needs no restart;
- `receiver passwd USER --users FILE [--delete]` sets a dashboard login (as `web passwd`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from printstation.base import logs
from printstation.base.errors import (
    EXIT_OK,
    NotFound,
    PermissionDenied,
    UsageError,
    is_permission_problem,
)
from printstation.daemon import control
from printstation.headoffice.request_limits import MIB, Limits

DEFAULT_USERS = "/etc/printstation/receiver-users"
DEFAULTS = Limits()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "receiver", help="head office: the stations' sync receiver and the dashboard",
        description="Run head office's receiver (SPEC §11): stores the stations' events in "
                    "SQLite or PostgreSQL, answers their sync, and serves the dashboard "
                    "under /dashboard/. `receiver token` manages the stations' tokens, "
                    "`receiver passwd` the dashboard's logins.")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="address to listen on, e.g. 0.0.0.0:8443 (port 0: any free port)")
    p.add_argument("--db", metavar="FILE|URL",
                   help="a SQLite file, or postgresql://USER@HOST/DB for PostgreSQL")
    p.add_argument("--tokens", metavar="FILE",
                   help="the stations' tokens, `STATION_ID sha256:HEX` lines")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    p.add_argument("--tls-key", metavar="PEM", help="and this private key")
    p.add_argument("--users", metavar="FILE", default=DEFAULT_USERS,
                   help=f"the dashboard's logins (default {DEFAULT_USERS})")
    p.add_argument("--secret-file", metavar="FILE",
                   help="the dashboard's session key (default: made anew at each start)")
    p.add_argument("--max-body", metavar="MIB", type=int,
                   default=DEFAULTS.max_body // MIB,
                   help=f"largest batch body in MiB (default {DEFAULTS.max_body // MIB}); "
                        "larger is refused (413) before it is read")
    p.add_argument("--body-timeout", metavar="SECONDS", type=float,
                   default=DEFAULTS.body_timeout,
                   help=f"a whole body must arrive within this (default "
                        f"{DEFAULTS.body_timeout:g} s), else 408")
    p.add_argument("--max-buffered", metavar="MIB", type=int,
                   default=DEFAULTS.max_buffered // MIB,
                   help=f"bodies held at once, all requests together (default "
                        f"{DEFAULTS.max_buffered // MIB} MiB); beyond, 503")
    p.add_argument("--pool-size", metavar="N", type=int, default=DEFAULTS.pool_size,
                   help=f"threads (and database connections) that check and store "
                        f"batches (default {DEFAULTS.pool_size})")
    p.add_argument("--max-inflight", metavar="N", type=int,
                   help="posts admitted to the store at once (default one more than the "
                        "pool); beyond, 503 with a Retry-After")
    p.add_argument("--idle-timeout", metavar="SECONDS", type=float,
                   default=DEFAULTS.idle_timeout,
                   help=f"close a connection with no request in progress after this "
                        f"(default {DEFAULTS.idle_timeout:g} s)")
    actions = p.add_subparsers(dest="receiver_command", metavar="ACTION")
    t = actions.add_parser("token", help="add, revoke or list the stations' tokens",
                           description="Manage the stations' bearer tokens. The file keeps "
                                       "only each token's SHA-256; a running receiver "
                                       "reads the change within a second.")
    token_actions = t.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    a = token_actions.add_parser(
        "add", help="make a new token for a station",
        description="Make a token for STATION, keep its hash in the tokens file and print "
                    "the token once. Put it on the station in the file named by its "
                    "sync.token_file. A station may have several tokens (for rotation).")
    a.add_argument("station", metavar="STATION",
                   help="the station's id: 1 to 64 characters without spaces")
    _tokens_file(a)
    r = token_actions.add_parser(
        "revoke", help="remove a station's tokens",
        description="Remove STATION's tokens from the tokens file, or only the one whose "
                    "hash starts with --hash. Its posts are refused (401) within a second.")
    r.add_argument("station", metavar="STATION", help="the station whose tokens go")
    r.add_argument("--hash", metavar="PREFIX", default="",
                   help="only the token whose hash starts so (as `token list` shows it)")
    _tokens_file(r)
    ls = token_actions.add_parser("list", help="list the stations' tokens",
                                  description="List each token: station, the start of its "
                                              "hash, when it was added.")
    _tokens_file(ls)
    pw = actions.add_parser("passwd", help="set (or remove) a dashboard login",
                            description="Set a login's password for the dashboard (asked "
                                        "twice, or one line from stdin), kept as a scrypt "
                                        "hash in the users file; --delete removes it.")
    pw.add_argument("user", metavar="USER", help="the login: letters, digits and _ . @ -")
    pw.add_argument("--users", dest="users_file", metavar="FILE", default=DEFAULT_USERS,
                    help=f"the dashboard's logins (default {DEFAULT_USERS})")
    pw.add_argument("--delete", action="store_true", help="remove this login instead")


def _tokens_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokens", dest="tokens_file", metavar="FILE", required=True,
                        help="the receiver's tokens file")


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "receiver_command", None)
    if action == "token":
        return _token(args)
    if action == "passwd":
        from .web_commands import passwd

        # The station's `web passwd` on the dashboard's users file. An existing file keeps
        # its owner, group and mode (IT's `chgrp printstation-receiver` stays); a new one
        # says it is the dashboard's and is given to the receiver's group.
        head = ("# Logins of the printstation head-office dashboard (receiver): "
                "NAME:scrypt$N$r$p$SALT$HASH.\n# Written by `printstation receiver passwd "
                "NAME --users FILE`; do not edit by hand.\n")
        return passwd(Path(args.users_file), args.user, args.delete, head=head,
                      group="printstation-receiver", command="receiver passwd",
                      what="head-office dashboard")
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from printstation.headoffice.server import serve

    for flag in ("listen", "db", "tokens"):
        if not getattr(args, flag):
            raise UsageError(f"receiver needs --{flag}")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    _, colon, port = args.listen.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen must be HOST:PORT, got {args.listen!r}")
    limits = Limits(max_body=args.max_body * MIB, body_timeout=args.body_timeout,
                    max_buffered=args.max_buffered * MIB, pool_size=args.pool_size,
                    max_inflight=args.max_inflight, idle_timeout=args.idle_timeout)
    if problems := limits.problems():
        raise UsageError("; ".join(problems))
    # Log lines are written by a thread of their own: the event loop never waits on stderr.
    logs.setup(args.debug, args.log_format, background=True)
    return serve(args.listen, args.db, Path(args.tokens),
                 Path(args.tls_cert) if args.tls_cert else None,
                 Path(args.tls_key) if args.tls_key else None,
                 Path(args.users), Path(args.secret_file) if args.secret_file else None,
                 limits)


class TokensDenied(PermissionDenied):
    """The tokens file is root's (group printstation-receiver may read it): not a clerk's,
    and not the station's journal, which the generic message would name."""

    template = ("{user} may not {action} head office's tokens ({path}): only root (IT) "
                "can, as: sudo printstation receiver token {command}")


def _token(args: argparse.Namespace) -> int:
    try:
        return _token_action(args)
    except OSError as exc:
        if not is_permission_problem(exc):
            raise
        raise TokensDenied(user=control.caller_name(), path=args.tokens_file,
                           action="read" if args.token_command == "list" else "change",
                           command=args.token_command) from None


def _token_action(args: argparse.Namespace) -> int:
    from printstation.headoffice import tokens

    path = Path(args.tokens_file)
    if args.token_command == "add":
        try:
            token = tokens.add_token(path, args.station)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        print(token)
        print(f"# the token of {args.station}, shown only this once: put it on the station "
              f"in the file its sync.token_file names (one line, chmod 600)",
              file=sys.stderr)
        return EXIT_OK
    if not path.exists():
        raise NotFound(f"{path}: no such tokens file")
    if args.token_command == "revoke":
        try:
            removed = tokens.revoke_tokens(path, args.station, args.hash)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if not removed:
            raise NotFound(f"{path}: no token of {args.station}"
                           + (f" with a hash starting {args.hash}" if args.hash else ""))
        for line in removed:
            print(f"revoked {line.station} {tokens.PREFIX}{line.digest[:12]}")
        return EXIT_OK
    found = tokens.list_tokens(path)
    for line in found:
        state = "in clear: replace it" if line.clear else (line.added or "-")
        print(f"{line.station}\t{tokens.PREFIX}{line.digest[:12]}\t{state}")
    return EXIT_OK
