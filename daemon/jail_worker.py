"""The jail's worker process: reads one file at a time under CPU and memory limits.

Run as `python -P -m printstation.daemon.jail_worker IN OUT PARENT` by `jail.py`, which
sends (name, CPU seconds, memory MB) then the file's bytes on pipe IN, and reads the answer
on pipe OUT: ("read", FileRead), or ("limit", which), or ("bug", what). It imports only
the readers (`printstation.invoice`), the OFD painter and the page placement, so that the
address space it is allowed measures the file, not the daemon.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import resource
import sys
from multiprocessing.connection import Connection

from printstation.base.signals import die_with
from printstation.drivers.ofd_paint import OfdPaintError, ofd_to_pdf
from printstation.drivers.place import DoesNotFit, place_pages
from printstation.invoice import FileRead, problem, read_file
from printstation.invoice.zip_safe import SafeZip, ZipRefused


def _arm(cpu_s: int, memory_mb: int, size: int) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(used.ru_utime + used.ru_stime) + cpu_s
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (_within(soft, hard), hard))
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_within(memory_mb * 2**20 + 3 * size, hard), hard))


def _disarm() -> None:
    # Between files nothing is limited: receiving the next (larger) file must not fail.
    for limit in (resource.RLIMIT_CPU, resource.RLIMIT_AS):
        resource.setrlimit(limit, (resource.getrlimit(limit)[1],) * 2)


def _within(soft: int, hard: int) -> int:
    return soft if hard == resource.RLIM_INFINITY else min(soft, hard)


def _drawable(data: bytes, found: FileRead) -> FileRead:
    """What prints as it looks is also made ready to print here, under the same limits, and
    thrown away: the daemon does it again when the job prints, outside the jail (an OFD's
    embedded fonts go through fontTools and reportlab, a PDF page's whole content through
    pypdf, only then), so it must be known to end, and to succeed. A PDF page the text
    reader never parsed (no resources, a broken font) could otherwise cost the daemon
    seconds and hundreds of MB at print time, and then fail."""
    for item in found.items:
        asis = item.asis
        if asis is None:
            continue
        try:
            source = SafeZip(data, "parse.zip").read(asis.member) if asis.member else data
            if asis.format == "ofd":
                source = ofd_to_pdf(source)
            # A square paper every page fits upright: the placement itself is what is tried.
            side = 2.0 + max((max(box[2] - box[0], box[3] - box[1]) for box in asis.ink_mm),
                             default=0.0)
            place_pages(source, asis.pages, asis.ink_mm, (side, side))
        except (OfdPaintError, ZipRefused, DoesNotFit) as exc:
            return _undrawable(asis.format, str(exc))
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:
            # pypdf raises many types (LimitReachedError, PdfReadError…) on such pages.
            return _undrawable(asis.format, f"{type(exc).__name__}: {exc}")
    return found


def _undrawable(fmt: str, detail: str) -> FileRead:
    detail = detail[:200]
    return FileRead((problem(f"parse.{fmt}", detail=f"it cannot be drawn for printing: {detail}",
                             detail_zh=f"无法绘制打印（页面内容、字体或图形损坏）：{detail}"),), ())


def _read(name: str, data: bytes) -> tuple[str, object]:
    try:
        found = _drawable(data, read_file(name, data))
    except MemoryError:
        return "limit", "memory"
    except RecursionError:
        return "limit", "nesting"
    except Exception as exc:
        return "bug", f"{type(exc).__name__}: {exc}"[:500]
    # A reader that catches every exception reports running out of memory as damage.
    if any("MemoryError" in p.en for p in found.problems):
        return "limit", "memory"
    return "read", found


def _serve(inbound: Connection, outbound: Connection) -> None:
    outbound.send(("ready", os.getpid()))
    while True:
        try:
            name, cpu_s, memory_mb = inbound.recv()
            data = inbound.recv_bytes()
        except EOFError:
            return  # the daemon closed the pipe: it stopped, or replaced this worker
        _arm(cpu_s, memory_mb, len(data))
        answer = _read(name, data)
        del data
        _disarm()
        outbound.send(answer)


def main(argv: list[str]) -> None:
    inbound, outbound, parent = (int(arg) for arg in argv)
    die_with(parent)
    # No core files: SIGXCPU's default action dumps one.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Readers' warnings (pypdf's about damaged files) would reach the daemon's log
    # unformatted; the verdict says what matters.
    logging.disable(logging.CRITICAL)
    # The readers the daemon imports only when needed are loaded here before any limit is
    # armed, so that a file's CPU and memory budget measures the file, not the imports.
    for reader in ("pdf_read", "ofd_read", "bundle"):
        importlib.import_module(f"printstation.invoice.{reader}")
    _serve(Connection(inbound, writable=False), Connection(outbound, readable=False))


if __name__ == "__main__":
    main(sys.argv[1:])

