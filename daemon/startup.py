"""What the daemon puts right before its stages start, from the journal and the spool.

Moved out of daemon/service.py unchanged (a module stays under 400 lines): files claimed
into the spool before a crash but never journaled, and jobs routed to a printer the
configuration no longer has.
"""

from __future__ import annotations

import os
import sqlite3

from printstation.base import logs
from printstation.base.durable import disk_full
from printstation.spool import Journal, State, queries

from .context import Context
from .intake_files import file_digest


def hold_for_missing_printers(ctx: Context, journal: Journal) -> None:
    """Jobs routed to a printer the config no longer has would wait for ever: hold
    them (`printer.missing`) for a clerk to cancel, or to release once it is back; a
    job already handed to it cannot be followed any more, so an operator decides."""
    names = [p.name for p in ctx.settings.printers]
    waiting = queries.jobs_of_other_printers(journal.conn, names,
                                             [State.QUEUED, State.DEFERRED])
    handed = queries.jobs_of_other_printers(journal.conn, names, [State.SUBMITTED])
    for job, new in [(j, State.HELD) for j in waiting] + \
            [(j, State.UNCERTAIN) for j in handed]:
        with journal.transaction():
            journal.transition(job["id"], new, "printer.missing",
                               payload={"printer": job["printer"]})
        logs.warning(f"job.{new.value}", job=job["id"], invoice=job["invoice_key"],
                     printer=job["printer"], reason="printer.missing")


def recover_orphans(ctx: Context, journal: Journal) -> None:
    """Files claimed into the spool before a crash but never journaled are journaled
    now (`recovered`)."""
    drop_dir = ctx.settings.intake.drop_dir
    for source_id, name, spool_name in ctx.spool.orphans(journal.known_sources()):
        ctx.spool.finish_claim(spool_name, drop_dir)
        path = ctx.spool.path(spool_name)
        sha256, size = file_digest(path) if path.is_file() and not path.is_symlink() \
            else (None, None)
        try:
            journal.register_source(source_id, os.fsencode(name), spool_name, sha256,
                                    size, recovered=True)
        except (OSError, sqlite3.Error) as exc:
            if not disk_full(exc):
                raise
            # The disk is full: the intake adopts what is left once there is room.
            logs.error("daemon.recovery_deferred", file=name, error=exc)
            return
        logs.info("job.incoming", job=source_id, file=name, recovered=True)

