"""The SQLite journal, every query on it, the state machines, spool files and the outbox.

Imports only the `invoice` and `base` layers.
"""


from . import operations, outbox, paper, queries, reading
from .db import SCHEMA_VERSION, SchemaTooNew, connect
from .files import SpoolDir, display_name, new_source_id
from .identity import verify_chain
from .journal import Journal, Outcome, StationMismatch, iso, utc_now
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
    "reading",
    "utc_now",
    "verify_chain",
]
