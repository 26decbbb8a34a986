"""The SQLite journal, the job state machine, spool files and durable file operations.

Imports only the `invoice` layer.
"""

from printstation.base.durable import atomic_write, fit_name, free_name, fsync_dir, move_file

from . import operations, outbox, paper
from .db import SCHEMA_VERSION, SchemaTooNew, connect
from .files import SpoolDir, display_name, new_source_id
from .journal import Journal, Outcome, StationMismatch, iso, utc_now, verify_chain
from .states import FINAL, IllegalTransition, State

__all__ = [
    "FINAL",
    "SCHEMA_VERSION",
    "IllegalTransition",
    "Journal",
    "Outcome",
    "SchemaTooNew",
    "SpoolDir",
    "State",
    "StationMismatch",
    "atomic_write",
    "connect",
    "display_name",
    "fit_name",
    "free_name",
    "fsync_dir",
    "iso",
    "move_file",
    "new_source_id",
    "operations",
    "outbox",
    "paper",
    "utc_now",
    "verify_chain",
]
