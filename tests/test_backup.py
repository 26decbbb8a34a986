"""`printstation backup DEST` (SPEC §3) cannot be tricked: it follows no symlink, in the
archive or in DEST, checks every archived file against the journal, and lists them all."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from printstation.harness.kit import (
    EXE,
    Station,
    drop_by_rename,
    invoice,
    running,
    wait_for,
    write_config,
)
from printstation.spool import Journal, Outcome, State, verify_chain
from printstation.spool.backup import BackupFailed, backup

SECRET = b"root:$y$j9T$not-for-the-backup-medium:19000:0:99999:7:::\n"


class Archived:
    """A station folder as the daemon leaves it, built through the journal's own API:
    printed files archived under their claim date, with the page rendered for each."""

    def __init__(self, folder: Path, count: int = 2):
        self.config = write_config(folder)
        self.data = folder / "data"
        self.data.mkdir()
        self.archive = self.data / "archive"
        journal = Journal(self.data / "journal.db", "TEST-001")
        self.files: dict[str, bytes] = {}
        try:
            for n in range(1, count + 1):
                self.print_one(journal, f"S{n}", json.dumps(invoice(f"0000{n:04d}")).encode())
        finally:
            journal.close()

    def print_one(self, journal: Journal, job: str, data: bytes) -> None:
        journal.register_source(job, f"{job}.json".encode(), f"{job}--{job}.json",
                                hashlib.sha256(data).hexdigest(), len(data))
        claimed = journal.conn.execute("SELECT claimed_at FROM sources WHERE id = ?",
                                       (job,)).fetchone()[0]
        day = self.archive / claimed[:10].replace("-", "/")
        day.mkdir(parents=True, exist_ok=True)
        page = b"%PDF-1.4 page of " + job.encode() + b"\n%%EOF\n"
        journal.settle_read(journal.next_incoming(), [Outcome(
            State.QUEUED, kind="vat-special", invoice_key=f"K-{job}", printer="pdf",
            invoice_json=json.dumps(invoice()))])
        (day / f"{job}.pdf").write_bytes(page)
        with journal.transaction():
            journal.transition(job, State.SUBMITTED, cups_job_id=job, payload={
                "pdf_sha256": hashlib.sha256(page).hexdigest()})
        journal.mark_printed(job)
        (day / f"{job}--{job}.json").write_bytes(data)
        journal.finish(job, True, {"file": f"{job}.json"})
        self.day = day
        rel = day.relative_to(self.archive).as_posix()
        self.files[f"{rel}/{job}--{job}.json"] = data
        self.files[f"{rel}/{job}.pdf"] = page

    def backup(self, dest: Path):
        return backup(self.data / "journal.db", self.archive, dest)

    def cli_backup(self, dest: Path) -> subprocess.CompletedProcess:
        return subprocess.run([EXE, "--config", self.config, "backup", dest],
                              capture_output=True, text=True, timeout=60)


def index_of(dest: Path) -> dict:
    return json.loads((dest / "archive-index.json").read_text("utf-8"))


def contents(folder: Path) -> list[bytes]:
    """Every regular file's bytes under `folder`; asserts no symlink is there."""
    found = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            assert not os.path.islink(os.path.join(root, name)), os.path.join(root, name)
        found += [Path(root, name).read_bytes() for name in files]
    return found


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file standing for /etc/shadow: readable by root, never to be copied."""
    path = tmp_path / "shadow"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def test_a_clean_archive_is_listed_whole_and_matches_the_journal(tmp_path: Path) -> None:
    station = Archived(tmp_path / "st")
    dest = tmp_path / "dest"
    report = station.backup(dest)
    assert report.problems == [] and report.files == 4 and report.copied == 4
    doc = index_of(dest)
    files = {f["path"]: f for f in doc["files"]}
    assert set(files) == set(station.files)
    for path, data in station.files.items():
        entry = files[path]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() == entry["journal_sha256"]
        assert entry["matched"] is True and entry["size"] == len(data) and entry["copied"]
        assert (dest / "archive" / path).read_bytes() == data
    kinds = sorted((f["kind"], f.get("job") or f["jobs"][0]) for f in doc["files"])
    assert kinds == [("render", "S1"), ("render", "S2"), ("source", "S1"), ("source", "S2")]
    assert doc["journal"]["events"] == report.events > 0 and doc["problems"] == []
    # A second run copies nothing it already holds, and still checks every file.
    again = station.backup(dest)
    assert (again.files, again.copied, again.problems) == (4, 0, [])


def test_symlinks_planted_in_the_archive_are_refused_listed_and_not_copied(
        tmp_path: Path, secret: Path) -> None:
    station = Archived(tmp_path / "st")
    (station.archive / "shadow").symlink_to(secret)
    (station.day / "invoice.pdf").symlink_to(secret)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(secret, outside / "copy-of-shadow")
    (station.archive / "2030").symlink_to(outside)
    os.mkfifo(station.day / "pipe")  # opened, it would hang the backup
    dest = tmp_path / "dest"
    done = station.cli_backup(dest)
    assert done.returncode == 1, done.stderr
    assert SECRET not in contents(dest)
    refused = {f["path"]: f["refused"] for f in index_of(dest)["files"] if "refused" in f}
    day = station.day.relative_to(station.archive).as_posix()
    assert refused == {"shadow": "a symlink: not followed", "2030": "a symlink: not followed",
                       f"{day}/invoice.pdf": "a symlink: not followed",
                       f"{day}/pipe": "a FIFO: not opened"}
    for path in refused:
        assert f"PROBLEM: archive/{path} is a " in done.stderr
    # A link's target is read, never followed, so the operator sees what it aimed at.
    targets = {f["path"]: f.get("target") for f in index_of(dest)["files"] if "refused" in f}
    assert targets["shadow"] == str(secret) and targets["2030"] == str(outside)
    # Everything else is copied and checked as usual.
    assert all((dest / "archive" / p).read_bytes() == d for p, d in station.files.items())


def test_a_render_replaced_by_a_symlink_is_refused_and_named(tmp_path: Path,
                                                             secret: Path) -> None:
    station = Archived(tmp_path / "st", count=1)
    (station.day / "S1.pdf").unlink()
    (station.day / "S1.pdf").symlink_to(secret)
    report = station.backup(tmp_path / "dest")
    assert SECRET not in contents(tmp_path / "dest")
    assert [p for p in report.problems if "S1.pdf" in p] == [
        f"archive/{station.day.relative_to(station.archive).as_posix()}/S1.pdf is a symlink: "
        "not followed; not copied (the journal expects the page rendered for job S1 "
        "(invoice K-S1) there)"]


def test_nothing_in_dest_is_written_through_a_symlink(tmp_path: Path, secret: Path) -> None:
    station = Archived(tmp_path / "st")
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / "archive").mkdir(parents=True)
    year = station.day.relative_to(station.archive).parts[0]
    (dest / "archive" / year).symlink_to(outside)
    (dest / "journal.db").symlink_to(secret)
    (dest / "archive-index.json").symlink_to(secret)
    report = station.backup(dest)
    assert list(outside.iterdir()) == [] and secret.read_bytes() == SECRET
    assert [p for p in report.problems if "symlink" in p] == [
        f"{dest}/archive/{year} is a symlink: not followed; nothing under it was copied "
        "(remove it and run the backup again)"]
    # The links at file names were replaced by the files, not written through.
    assert not (dest / "journal.db").is_symlink() and not (dest / "archive-index.json").is_symlink()
    copy = sqlite3.connect(dest / "journal.db")
    assert verify_chain(copy)[1] is None
    copy.close()
    assert not any(f["copied"] for f in index_of(dest)["files"])


def test_dest_itself_must_be_a_real_folder(tmp_path: Path) -> None:
    station = Archived(tmp_path / "st", count=1)
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(BackupFailed, match="is a symlink"):
        station.backup(tmp_path / "link")
    assert list(real.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackupFailed, match="not a folder"):
        station.backup(tmp_path / "file")


def test_archived_files_changed_or_missing_are_reported_and_still_copied(
        tmp_path: Path) -> None:
    station = Archived(tmp_path / "st")
    rel = station.day.relative_to(station.archive).as_posix()
    forged = b'{"number": "99999999"}'
    (station.day / "S1--S1.json").write_bytes(forged)
    (station.day / "S2.pdf").unlink()
    dest = tmp_path / "dest"
    done = station.cli_backup(dest)
    assert done.returncode == 1
    source = hashlib.sha256(station.files[f"{rel}/S1--S1.json"]).hexdigest()
    assert (f"PROBLEM: archive/{rel}/S1--S1.json: sha256 {hashlib.sha256(forged).hexdigest()} "
            f"is not the journal's {source}") in done.stderr
    assert f"PROBLEM: archive/{rel}/S2.pdf: missing; the journal says the page rendered " \
        "for job S2" in done.stderr
    files = {f["path"]: f for f in index_of(dest)["files"]}
    assert files[f"{rel}/S1--S1.json"]["matched"] is False
    assert files[f"{rel}/S2.pdf"]["missing"] is True
    assert (dest / "archive" / rel / "S1--S1.json").read_bytes() == forged
    assert "2 problem(s)" in done.stderr


def test_the_real_daemon_archive_backs_up_whole(station: Station, tmp_path: Path) -> None:
    with running(station):
        for n in (1, 2):
            drop_by_rename(station, f"{n}.json", json.dumps(invoice(f"0013000{n}")).encode())
        wait_for(lambda: len(station.archived()) == 2 and len(station.renders()) == 2,
                 what="two printed and archived")
        dest = tmp_path / "backup"
        done = station.cli("backup", str(dest))
    assert done.returncode == 0, done.stderr
    assert "4 archive files (4 copied)" in done.stdout
    doc = index_of(dest)
    archive = station.data / "archive"
    expected = {p.relative_to(archive).as_posix() for p in station.archived() + station.renders()}
    files = {f["path"]: f for f in doc["files"]}
    assert set(files) == expected
    with station.db() as conn:
        jobs = {r["id"]: r["source_sha256"] for r in conn.execute("SELECT * FROM jobs")}
    assert sorted(f["kind"] for f in files.values()) == ["render", "render", "source", "source"]
    for path, entry in files.items():
        data = (archive / path).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() == entry["journal_sha256"]
        assert entry["matched"] is True and entry["size"] == len(data)
        assert (dest / "archive" / path).read_bytes() == data
        if entry["kind"] == "source":
            assert entry["journal_sha256"] == jobs[entry["jobs"][0]]
        else:
            assert entry["job"] in jobs and path.endswith(f"/{entry['job']}.pdf")
    # The journal copy opens where a station reads it, and its chain verifies.
    restored = tmp_path / "restored"
    (restored / "data").mkdir(parents=True)
    shutil.copy(dest / "journal.db", restored / "data" / "journal.db")
    verify = subprocess.run([EXE, "--config", write_config(restored), "journal", "--verify"],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and verify.stdout.startswith("OK: "), verify.stdout


def test_a_backup_that_fails_on_a_full_medium_keeps_the_last_one_whole(
        tmp_path: Path) -> None:
    # DEST on a small tmpfs: the first backup fits, the second (a large archived file
    # added since) does not. DEST must keep the first backup's journal and index together.
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run this test: needs root to mount a tmpfs")
        pytest.skip("needs root to mount a small tmpfs")
    station = Archived(tmp_path / "st")
    dest = tmp_path / "dest"
    dest.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs",
                              str(dest)], capture_output=True, text=True)
    assert mounted.returncode == 0, mounted.stderr
    try:
        assert station.backup(dest).problems == []
        first = (dest / "journal.db").read_bytes()
        journal = Journal(station.data / "journal.db", "TEST-001")
        try:
            station.print_one(journal, "S9", os.urandom(3 << 20))
        finally:
            journal.close()
        with pytest.raises((BackupFailed, OSError)):
            station.backup(dest)
        assert (dest / "journal.db").read_bytes() == first
        with sqlite3.connect(dest / "journal.db") as conn:
            last = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        assert index_of(dest)["journal"]["last_seq"] == last
    finally:
        subprocess.run(["umount", "-l", str(dest)], check=True)
