"""The SQLite journal, every query on it, the state machines, spool files and the outbox.

Imports only the `invoice` and `base` layers.
"""


from . import operations, outbox, paper, queries
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
    "connect",
    "display_name",
    "iso",
    "new_source_id",
    "operations",
    "outbox",
    "paper",
    "queries",
    "utc_now",
    "verify_chain",
]
