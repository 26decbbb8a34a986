"""What the daemon asks of a printer backend.

Submission is two-phase so that a crash can never print twice: `create_held` makes a job
that does not print yet and returns its id, the daemon journals that id, and only then
calls `release`. After a crash `find` looks a job up by our job id; `status` checks that
the printer's job is still ours (CUPS reuses ids when it loses its history). A backend
knows nothing of the journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class JobStatus(StrEnum):
    HELD = "held"            # created, not released
    PENDING = "pending"      # released, not yet finished
    COMPLETED = "completed"  # the printer took it
    FAILED = "failed"
    UNKNOWN = "unknown"      # the backend does not know this job


@dataclass(frozen=True)
class PrintRequest:
    job_id: str
    title: str
    pdf: bytes
    stock: str


class PrinterDriver(Protocol):
    name: str

    def create_held(self, request: PrintRequest) -> str: ...

    def release(self, external_id: str) -> None: ...

    def status(self, external_id: str, job_id: str) -> JobStatus: ...

    def find(self, job_id: str) -> str | None: ...

    def close(self) -> None: ...
