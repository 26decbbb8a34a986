"""Journal continuity: never print on top of a journal that lost the station's history.

A journal that is missing, emptied, replaced by another or rolled back to an older copy
would let every invoice it forgot print again (its duplicate check is the journal). So the
daemon keeps a stamp beside it, `data_dir/journal.stamp`: the journal's id and the seq
and hash of its last event, rewritten as the journal grows. At start the journal must
continue the stamp; a station with history (a stamp, archived or spooled files) refuses
to start on one that does not, and says how to recover: `printstation journal restore
BACKUP`, or `printstation run --new-journal`, which journals that it began anew.

While running, the daemon watches the journal's inode: a journal moved or deleted under
it is copied out from the daemon's still-open connection (so a deleted one is not lost)
and the daemon stops taking files and exits.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from printstation.base import logs
from printstation.base.durable import atomic_write
from printstation.base.errors import ConfigInvalid
from printstation.spool import Journal, connect, iso, utc_now
from printstation.spool.identity import (
    Tail,
    derived_problems,
    ensure_id,
    hash_at,
    schema_problems,
    station_of,
    tail,
    verify_chain,
)

from .instance import InstanceLock

STAMP_NAME = "journal.stamp"
RECOVERY = ("restore a backup with `printstation journal restore BACKUP`, or, if the "
            "history is truly gone, start anew with `printstation run --new-journal` "
            "(journaled; head office must be told)")


class JournalDiscontinuity(ConfigInvalid):
    """The journal does not continue the station's history: refuse to start (exit 78)."""


@dataclass(frozen=True)
class Stamp:
    station: str
    journal_id: str
    seq: int
    hash: str
    at: str


def stamp_path(data_dir: Path) -> Path:
    return data_dir / STAMP_NAME


def read_stamp(data_dir: Path) -> Stamp | None:
    try:
        doc = json.loads(stamp_path(data_dir).read_text("utf-8"))
        return Stamp(**{k: doc[k] for k in ("station", "journal_id", "seq", "hash", "at")})
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise JournalDiscontinuity(f"{stamp_path(data_dir)} is damaged: {RECOVERY}") from None


def write_stamp(data_dir: Path, station: str, found: Tail) -> Stamp:
    stamp = Stamp(station, found.journal_id, found.seq, found.hash, iso(utc_now()))
    atomic_write(stamp_path(data_dir), (json.dumps(asdict(stamp)) + "\n").encode(), 0o640)
    return stamp


def history(data_dir: Path) -> str | None:
    """What shows this station has printed before, apart from the journal itself."""
    if stamp_path(data_dir).exists():
        return "the journal stamp"
    for folder in ("archive", "spool"):
        root = data_dir / folder
        if root.is_dir():
            for _, _, files in os.walk(root):
                if any(not f.startswith(".") for f in files):
                    return f"files in {root}"
    return None


def check(data_dir: Path, station: str) -> None:
    """Refuse a journal that does not continue the station's history (see module doc)."""
    journal_path = data_dir / "journal.db"
    stamp = read_stamp(data_dir)
    evidence = history(data_dir)
    if not journal_path.exists():
        if evidence:
            raise JournalDiscontinuity(
                f"{journal_path} is missing but the station has a history ({evidence}"
                + (f", last event seq {stamp.seq}" if stamp else "") + f"): {RECOVERY}")
        return
    conn = connect(journal_path, readonly=True)
    try:
        problem = _against(conn, stamp, evidence)
    finally:
        conn.close()
    if problem:
        raise JournalDiscontinuity(f"{journal_path}: {problem}: {RECOVERY}")


def _against(conn: sqlite3.Connection, stamp: Stamp | None, evidence: str | None) -> str | None:
    try:
        found = tail(conn)
    except sqlite3.DatabaseError as exc:
        return f"it cannot be read as a journal ({exc})"
    if stamp is None:
        if found.seq == 0 and evidence:
            return f"it holds no events but the station has a history ({evidence})"
        return _chain(conn)
    if found.journal_id and found.journal_id != stamp.journal_id:
        return (f"it is another journal (id {found.journal_id}, expected "
                f"{stamp.journal_id})")
    if found.seq == 0 and stamp.seq > 0:
        return f"it holds no events, but the station's last event was seq {stamp.seq}"
    if found.seq < stamp.seq:
        return (f"it ends at seq {found.seq}, older than the station's last event seq "
                f"{stamp.seq} (an old copy?)")
    if stamp.seq > 0 and hash_at(conn, stamp.seq) != stamp.hash:
        return f"its event seq {stamp.seq} is not the one the station recorded (rewritten?)"
    return _chain(conn)


def _chain(conn: sqlite3.Connection) -> str | None:
    """The whole chain, at every start, and the tables against it: an event altered
    anywhere, a trigger or table added, or a printed invoice deleted from the tables is
    found before the journal is trusted again (measured: 0.15 s for 20,000 events)."""
    _, problem = verify_chain(conn)
    problems = ([f"its hash chain is broken: {problem}"] if problem else []) + \
        schema_problems(conn) + derived_problems(conn)
    return "; ".join(problems) or None


def begin(journal: Journal, data_dir: Path, new_journal: str | None) -> Stamp:
    """After `check` (or with `--new-journal`): give the journal its id and stamp it.

    `new_journal` is the operator who asked for a new journal: the first event of the
    new journal says so, and names the stamp of the history it replaces.
    """
    previous = _stamp_or_none(data_dir)
    with journal.transaction() as c:
        ensure_id(c)
        if new_journal is not None and (previous is None or
                                        tail(c).journal_id != previous.journal_id):
            journal.append_event("journal.new", payload={
                "operator": new_journal,
                "previous": asdict(previous) if previous else None})
    found = tail(journal.conn)
    if new_journal is not None:
        logs.warning("journal.new", operator=new_journal,
                     previous_seq=previous.seq if previous else None)
    try:
        return write_stamp(data_dir, journal.station, found)
    except OSError as exc:
        # A full disk must not stop the start: the daemon writes the stamp again as soon
        # as it can (seq -1 never matches the journal's).
        logs.error("daemon.write_failed", file=STAMP_NAME, error=exc)
        return Stamp(journal.station, found.journal_id, -1, "", iso(utc_now()))


def _stamp_or_none(data_dir: Path) -> Stamp | None:
    try:
        return read_stamp(data_dir)
    except JournalDiscontinuity:
        return None


def set_aside(journal_path: Path, why: str) -> Path | None:
    """Move a journal (and its WAL files) out of the way, never deleting it."""
    if not journal_path.exists():
        return None
    moment = utc_now().strftime("%Y%m%dT%H%M%SZ")
    target = journal_path.with_name(f"{journal_path.name}.{why}-{moment}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{journal_path}{suffix}")
        if src.exists():
            os.rename(src, Path(f"{target}{suffix}"))
    return target


class Watch:
    """Notices the journal moved or removed under the running daemon."""

    def __init__(self, journal: Journal):
        self.journal = journal  # kept open: it can still read a deleted journal
        st = os.stat(journal.path)
        self.identity = (st.st_dev, st.st_ino)

    def lost(self) -> str | None:
        """Why the journal at its path is no longer ours, or None."""
        try:
            st = os.stat(self.journal.path)
        except FileNotFoundError:
            return "removed"
        return None if (st.st_dev, st.st_ino) == self.identity else "replaced"

    def salvage(self) -> Path | None:
        """Copy the journal this daemon has open next to where it was."""
        moment = utc_now().strftime("%Y%m%dT%H%M%SZ")
        target = self.journal.path.with_name(f"journal.db.saved-{moment}")
        try:
            out = sqlite3.connect(target)
            with out:
                self.journal.conn.backup(out)
            out.close()
        except (sqlite3.Error, OSError) as exc:
            logs.error("journal.salvage_failed", error=exc)
            return None
        return target

    def close(self) -> None:
        self.journal.close()


def restore(data_dir: Path, station: str, backup: Path, operator: str,
            shown_as: Path | None = None) -> Tail:
    """`printstation journal restore BACKUP`: put a backup's journal in place, journaled.

    The daemon must not run (its lock is taken for the whole restore). The backup must be
    this station's and whole: its chain intact, its schema the shipped one (no trigger or
    table added), its tables in agreement with its events, and the journal the station
    knows (the stamp's id; the current journal's events up to the backup's last one), so
    a doctored copy cannot make the station forget what it printed. The journal it
    replaces is set aside, never deleted. The restored journal's first new event says
    what was restored, by whom, and which history it replaced; the stamp moves to it.
    """
    shown = shown_as or backup
    lock = InstanceLock(data_dir / "printstation.pid")
    lock.acquire(data_dir)
    try:
        journal_path = data_dir / "journal.db"
        try:
            source = connect(backup, readonly=True)
            checked = _acceptable(source, shown, station, data_dir)
        except sqlite3.DatabaseError as exc:
            raise ConfigInvalid(f"{shown} cannot be read as a journal ({exc})") from None
        try:
            aside = set_aside(journal_path, "replaced")
            temp = journal_path.with_name(".journal.db.restoring")
            temp.unlink(missing_ok=True)
            out = sqlite3.connect(temp)
            with out:
                source.backup(out)
            out.close()
            os.chmod(temp, 0o640)
            os.replace(temp, journal_path)
        finally:
            source.close()
        previous = _stamp_or_none(data_dir)
        journal = Journal(journal_path, station)
        try:
            with journal.transaction() as c:
                ensure_id(c)
                journal.append_event("journal.restored", payload={
                    "operator": operator, "from": str(shown), "events": checked,
                    "set_aside": str(aside) if aside else None,
                    "previous": asdict(previous) if previous else None})
            found = tail(journal.conn)
        finally:
            journal.close()
        write_stamp(data_dir, station, found)
        logs.warning("journal.restored", operator=operator, backup=shown, seq=found.seq)
        return found
    finally:
        lock.release()


def _acceptable(source: sqlite3.Connection, shown: Path, station: str, data_dir: Path) -> int:
    """Why a backup may not be restored (ConfigInvalid), or how many events it holds."""
    owner = station_of(source)
    if owner != station:
        raise ConfigInvalid(f"{shown} is the journal of station {owner!r}, not {station!r}")
    checked, problem = verify_chain(source)
    problems = [f"its hash chain is broken ({problem})"] if problem else []
    problems += schema_problems(source) + derived_problems(source)
    found = tail(source)
    stamp = _stamp_or_none(data_dir)
    if stamp is not None and found.journal_id and found.journal_id != stamp.journal_id:
        problems.append(f"it is another journal (id {found.journal_id}) than the station's "
                        f"({stamp.journal_id}); if that is truly wanted, remove "
                        f"{stamp_path(data_dir)} first")
    current = data_dir / "journal.db"
    if current.exists() and found.seq:
        try:
            conn = connect(current, readonly=True)
            try:
                theirs = hash_at(conn, found.seq)
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            theirs = None  # the current journal is damaged: nothing to compare with
        if theirs is not None and theirs != found.hash:
            problems.append(f"its event seq {found.seq} differs from the current journal's: "
                            "it is not an earlier copy of it")
    if problems:
        raise ConfigInvalid(f"{shown} cannot be restored: {'; '.join(problems)}")
    return checked
