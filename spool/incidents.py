"""What the journal tells alerts (daemon/alerts.py): jobs that failed since a point."""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def failed_since(conn: sqlite3.Connection, seq: int, limit: int = 100) -> list[dict[str, Any]]:
    """`job.failed` events after `seq`, oldest first; `operator` names the clerk who
    caused one (settling an uncertain job as spoiled), None when the daemon did."""
    rows = conn.execute(
        "SELECT e.seq, e.at, e.job_id, e.invoice_key, e.payload, j.printer, j.reason"
        " FROM events e LEFT JOIN jobs j ON j.id = e.job_id"
        " WHERE e.type = 'job.failed' AND e.seq > ? ORDER BY e.seq LIMIT ?", (seq, limit))
    found = []
    for row in rows:
        payload = json.loads(row["payload"])
        found.append({"seq": row["seq"], "at": row["at"], "job": row["job_id"],
                      "invoice": row["invoice_key"], "printer": row["printer"],
                      "reason": row["reason"], "error": payload.get("error"),
                      "operator": payload.get("operator")})
    return found
