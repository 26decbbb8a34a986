"""The real daemon, as a subprocess: every dropped file ends in exactly one place."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from printstation.harness.kit import (
    EXE,
    SAMPLES,
    Station,
    drop_by_rename,
    invoice,
    wait_for,
    write_config,
)
from printstation.spool import connect, verify_chain

pytestmark = pytest.mark.e2e


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encode(doc: dict, encoding: str = "utf-8") -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=1).encode(encoding)


def slow_write(path: Path, data: bytes, chunks: int = 6, pause: float = 0.05) -> None:
    """A writer that writes in place, in chunks, pausing less than settle_ms between them."""
    step = len(data) // chunks + 1
    with open(path, "wb") as fh:
        for i in range(0, len(data), step):
            fh.write(data[i:i + step])
            fh.flush()
            time.sleep(pause)


def printed_numbers(station: Station) -> list[str]:
    """Invoice numbers of the PDFs in the virtual printer's folder, one per PDF."""
    return sorted(p.name.rsplit("-", 1)[1].removesuffix(".pdf")
                  for p in station.printed.glob("*.pdf"))


def all_final(station: Station) -> bool:
    jobs = station.jobs()
    return bool(jobs) and all(j["state"] in ("printed", "rejected", "failed", "cancelled")
                              for j in jobs)


def settled(station: Station, names: list[str]) -> bool:
    return all(station.result(n) for n in names) and all_final(station)


def test_every_kind_of_drop_ends_in_its_one_place(station: Station) -> None:
    station.start()
    good = encode(invoice("00012001"))
    batch = {"invoices": [invoice("00012003"), invoice("00012009", total="1.00")]}
    drops: dict[str, bytes] = {
        "renamed.json": good,
        "slow.json": encode(invoice("00012002")),
        "broken.json": b'{"kind": "vat-special", "number": ',
        "notes.txt": "备注".encode(),
        "batch.json": encode(batch),
        "GBK.JSON": encode(invoice("00012004"), "gb18030"),
    }
    drop_by_rename(station, "renamed.json", drops["renamed.json"])
    writer = threading.Thread(target=slow_write,
                              args=(station.inbox / "slow.json", drops["slow.json"]))
    writer.start()
    for name in ("broken.json", "notes.txt", "batch.json", "GBK.JSON"):
        drop_by_rename(station, name, drops[name])
    target = station.folder / "elsewhere.json"
    target.write_bytes(good)
    os.symlink(target, station.inbox / "link.json")
    os.mkfifo(station.inbox / "pipe.json")
    # Left alone: dot-files, temporary names, sub-folders.
    for name in (".hidden.json", "draft.json.tmp", "~lock.json"):
        (station.inbox / name).write_bytes(good)
    (station.inbox / "sub").mkdir()
    (station.inbox / "sub" / "deep.json").write_bytes(good)
    writer.join()
    wait_for(lambda: station.result("renamed.json"), what="the first invoice")
    # The same bytes again, after the first was taken.
    drop_by_rename(station, "again.json", good)
    names = [*drops, "link.json", "pipe.json", "again.json"]
    wait_for(lambda: settled(station, names), timeout=20, what="all files settled")

    states = {n: station.result(n)["state"] for n in names}
    assert states == {"renamed.json": "printed", "slow.json": "printed",
                      "broken.json": "rejected", "notes.txt": "rejected",
                      "batch.json": "partial", "GBK.JSON": "printed",
                      "link.json": "rejected", "pipe.json": "rejected",
                      "again.json": "rejected"}
    codes = {n: [e["code"] for e in station.result(n)["errors"]] for n in names}
    assert codes["broken.json"] == ["parse.json"]
    assert codes["notes.txt"] == ["file.type"]
    assert codes["link.json"] == codes["pipe.json"] == ["file.not_regular"]
    assert codes["again.json"] == ["file.duplicate"]
    assert codes["batch.json"] == ["total.sum", "total.words"]

    # Printed: exactly one PDF per valid invoice, each a page of the stock's size.
    assert printed_numbers(station) == ["00012001", "00012002", "00012003", "00012004"]
    for pdf in station.printed.glob("*.pdf"):
        box = PdfReader(pdf).pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == (684, 396)

    # Archived and rejected copies are byte-identical to what was dropped.
    archived = {p.name.split("--", 1)[1]: p for p in station.archived()}
    assert set(archived) == {"renamed.json", "slow.json", "batch.json", "GBK.JSON"}
    for name, path in archived.items():
        assert path.read_bytes() == drops[name], name
    for name in ("broken.json", "notes.txt"):
        assert (station.rejected / name).read_bytes() == drops[name]
    assert (station.rejected / "again.json").read_bytes() == good
    assert (station.rejected / "link.json").is_symlink()
    assert os.readlink(station.rejected / "link.json") == str(target)
    assert (station.rejected / "pipe.json").is_fifo()

    # Each rejection has its report, in Chinese and English.
    report = (station.rejected / "broken.json.error.txt").read_text(encoding="utf-8")
    assert "[parse.json]" in report and "JSON 格式错误" in report and "Not valid JSON" in report
    batch_report = (station.rejected / "batch.json.error.txt").read_text(encoding="utf-8")
    assert "1100243130-00012009" in batch_report and "[total.sum] total:" in batch_report
    assert "00012003" not in batch_report

    # The inbox keeps only what is not ours to take.
    assert sorted(os.listdir(station.inbox)) == [".hidden.json", "draft.json.tmp", "sub",
                                                 "~lock.json"]
    assert not os.listdir(station.data / "spool")

    # The journal: every job final, the chain intact, commands read it.
    conn = connect(station.data / "journal.db", readonly=True)
    assert verify_chain(conn)[1] is None
    # The exact page sent to the printer is archived, its sha256 in the journal.
    renders = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in station.renders()}
    journaled = {row["job_id"]: json.loads(row["payload"])["pdf_sha256"] for row in
                 conn.execute("SELECT job_id, payload FROM events WHERE type = 'job.submitted'")}
    assert renders == journaled and len(renders) == 4
    assert conn.execute("SELECT count(*) FROM invoices WHERE state = 'printed'").fetchone()[0] == 4
    status = station.cli("status", "--json")
    assert status.returncode == 0
    doc = json.loads(status.stdout)
    assert doc["jobs"]["printed"] == 4 and doc["jobs"]["rejected"] == 6
    listing = station.cli("queue", "--all")
    assert listing.returncode == 0 and "1100243130-00012002" in listing.stdout
    shown = station.cli("show", station.result("slow.json")["job"])
    assert "job.printed" in shown.stdout and "job.submitted" in shown.stdout
    code, _ = station.stop()
    assert code == 0


def test_sigterm_stops_cleanly_and_a_restart_takes_what_arrived_meanwhile(
        station: Station) -> None:
    station.start()
    drop_by_rename(station, "first.json", encode(invoice("00020001")))
    wait_for(lambda: station.result("first.json"), what="first printed")
    code, took = station.stop(signal.SIGTERM)
    assert code == 0 and took < 10
    assert "event=daemon.stopped" in station.log_text()
    for i in range(2, 5):
        drop_by_rename(station, f"n{i}.json", encode(invoice(f"0002000{i}")))
    slow_write(station.inbox / "n5.json", encode(invoice("00020005")))
    time.sleep(0.3)
    assert len(os.listdir(station.inbox)) == 4  # nobody took them while it was down
    station.start()
    wait_for(lambda: settled(station, [f"n{i}.json" for i in range(2, 6)]), what="restart")
    assert printed_numbers(station) == [f"0002000{i}" for i in range(1, 6)]
    station.stop()


def test_sigkill_mid_stream_loses_nothing_and_prints_nothing_twice(station: Station) -> None:
    station.start()
    count = 40
    datas = {f"k{i:03d}.json": encode(invoice(f"{30000 + i:08d}")) for i in range(count)}
    for name, data in datas.items():
        drop_by_rename(station, name, data)
        if name == "k015.json":
            station.kill()  # SIGKILL while files are still being processed
            station.start()
    names = list(datas)
    wait_for(lambda: settled(station, names), timeout=30, what="all settled after the kill")
    assert printed_numbers(station) == [f"{30000 + i:08d}" for i in range(count)]
    archived = {p.name.split("--", 1)[1]: p.read_bytes() for p in station.archived()}
    assert archived == datas
    assert not list(station.rejected.iterdir())
    conn = connect(station.data / "journal.db", readonly=True)
    assert verify_chain(conn)[1] is None
    station.stop()


def test_a_file_claimed_but_not_journaled_before_a_crash_is_recovered(
        station: Station) -> None:
    # The crash window between the rename into the spool and the journal insert (on a
    # station that has its journal: a spool with no journal at all is refused, see
    # tests/test_continuity.py).
    station.start()
    station.stop()
    spool = station.data / "spool"
    data = encode(invoice("00040001"))
    (spool / "2611280RPHAN1--orphan.json").write_bytes(data)
    station.start()
    wait_for(lambda: settled(station, ["orphan.json"]), what="orphan printed")
    assert printed_numbers(station) == ["00040001"]
    assert "recovered=True" in station.log_text()
    station.stop()


def test_builtin_defaults_print_a_sample_like_make_run(tmp_path: Path) -> None:
    if Path("/etc/printstation/printstation.toml").exists():
        pytest.skip("a system config exists, so `run` would not use the built-in defaults")
    env = {k: v for k, v in os.environ.items() if k != "PRINTSTATION_CONFIG"}
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([EXE, "run"], cwd=tmp_path, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        data_dir = tmp_path / "printstation-data"
        wait_for(lambda: "event=daemon.ready" in log.read_text(), what="ready")
        text = log.read_text()
        assert 'event=daemon.config files="built-in defaults"' in text
        assert f"event=daemon.inbox path={data_dir / 'inbox'}" in text
        staging = tmp_path / "sample.json"
        staging.write_bytes((SAMPLES / "vat-special.json").read_bytes())
        os.rename(staging, data_dir / "inbox" / "sample.json")
        pdfs = wait_for(lambda: list((data_dir / "printed").glob("*.pdf")), what="a PDF")
        assert pdfs[0].name.endswith("1100243130-00045001.pdf")
        wait_for(lambda: (data_dir / "results" / "sample.json.result.json").exists(),
                 what="the result file")
        conn = connect(data_dir / "journal.db", readonly=True)
        assert conn.execute("SELECT state FROM jobs").fetchone()[0] == "printed"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_an_invalid_config_exits_78_without_a_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra="in_flight = 0\n")
    result = subprocess.run([EXE, "--config", config, "run"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 78
    assert "printers.pdf.in_flight: must be from 1 to 50, got 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_claim_interrupted_between_link_and_unlink_is_completed(station: Station) -> None:
    # The crash window of the Maildir-style claim: the file has both names.
    station.start()
    station.stop()
    spool = station.data / "spool"
    data = encode(invoice("00040002"))
    (station.inbox / "half.json").write_bytes(data)
    os.link(station.inbox / "half.json", spool / "2611280HALF1--half.json")
    station.start()
    wait_for(lambda: settled(station, ["half.json"]), what="half-claimed file printed")
    time.sleep(1.5)  # a rescan later: the drop folder's name must not be taken again
    assert printed_numbers(station) == ["00040002"]
    assert not (station.inbox / "half.json").exists()
    assert not list(station.rejected.iterdir())
    assert len(station.jobs()) == 1
    station.stop()
