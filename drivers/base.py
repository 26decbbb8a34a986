"""What the daemon asks of a printer backend.

Submission is two-phase so that a crash can never print twice: `create_held` makes a job
that does not print yet and returns its id, the daemon journals that id, and only then
calls `release`. After a crash `find` looks a job up by our job id; `status` checks that
the printer's job is still ours (CUPS reuses ids when it loses its history). A backend
knows nothing of the journal.

A backend says what kind of failure it met by the exception it raises, because the daemon
treats the three kinds differently (SPEC §9): `PrinterUnavailable` is about the printer as
a whole (its jobs wait, their attempts untouched), `JobFailed` about this job and may pass
(the job is deferred and tried again), `JobRefused` about this job for good (it is moved
aside with the printer's answer). Anything else a backend raises is a bug in it, and the
daemon treats it like `JobFailed`, so that it cannot block the jobs behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from printstation.base.errors import Unavailable


class PrinterUnavailable(Unavailable):
    """The printer cannot take any job now: its server is down or does not answer, its
    queue is missing, not accepting jobs, or refuses us; nothing is wrong with a job."""


class JobFailed(Exception):
    """The printer answered an error for this job that may pass (a server error while
    creating or releasing it): trying again later may work."""


class JobRefused(Exception):
    """The printer refused this job's document for good (its format, size or options):
    sent again the same way it is refused again."""


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

    def cancel(self, external_id: str) -> None:
        """Withdraw a job that was created held and never released, so it never prints."""
        ...

    def close(self) -> None: ...
