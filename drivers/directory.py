"""The `directory` printer: a virtual printer that writes each job's PDF to a folder.

Holding a job is writing `.NAME.pdf.held` atomically; releasing it is renaming it to
`NAME.pdf` and syncing the folder (both through `base.durable`), so a PDF in the folder
is always complete and appears once per job, however often the daemon crashes. The folder
is the printer: a folder that cannot be written is the printer being down, not a job's
fault.

The held page's bytes are synced before `create_held` returns, its name only by the
release's folder sync. After a power loss between the `submitted` commit and the release
the held name may be gone: the job is then `uncertain` (the printer lost it), for an
operator to decide, never printed twice and never silently lost. The release's sync stays:
`status` says COMPLETED from the released name, and the `printed` commit that follows
must not outlive the page (DURABILITY.md, "Printer").
"""

from __future__ import annotations

import os
from pathlib import Path

from printstation.base.durable import atomic_write, replace_file

from .base import JobStatus, PrinterUnavailable, PrintRequest


class DirectoryPrinter:
    def __init__(self, name: str, path: Path):
        self.name = name
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def _final(self, external_id: str) -> Path:
        return self.path / f"{external_id}.pdf"

    def _held(self, external_id: str) -> Path:
        return self.path / f".{external_id}.pdf.held"

    def create_held(self, request: PrintRequest) -> str:
        # The job id leads the name so that `find` can look it up after a crash.
        external_id = f"{request.job_id}--{_safe(request.title)}"
        try:
            atomic_write(self._held(external_id), request.pdf, sync_dir=False)
        except OSError as exc:
            raise PrinterUnavailable(f"cannot write to {self.path}: {exc}") from None
        return external_id

    def release(self, external_id: str) -> None:
        if not self._held(external_id).exists() and self._final(external_id).exists():
            return  # released before a crash: releasing again changes nothing
        try:
            replace_file(self._held(external_id), self._final(external_id))
        except OSError as exc:
            raise PrinterUnavailable(f"cannot write to {self.path}: {exc}") from None

    def cancel(self, external_id: str) -> None:
        self._held(external_id).unlink(missing_ok=True)

    def status(self, external_id: str, job_id: str) -> JobStatus:
        if self._final(external_id).exists():
            return JobStatus.COMPLETED
        if self._held(external_id).exists():
            return JobStatus.HELD
        return JobStatus.UNKNOWN

    def find(self, job_id: str) -> str | None:
        for entry in os.listdir(self.path):
            for prefix, suffix in (("", ".pdf"), (".", ".pdf.held")):
                if entry.startswith(f"{prefix}{job_id}--") and entry.endswith(suffix):
                    return entry[len(prefix):-len(suffix)]
        return None

    def close(self) -> None:
        pass


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80]
