"""The reader's jail: untrusted files are parsed in a worker process under CPU, memory and
time limits, a file over a limit is refused `file.too_complex`, and a file that stopped the
whole daemon twice is quarantined without being read again (daemon/jail.py,
spool/reading.py)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from printstation.daemon import jail
from printstation.daemon.checks import read_limited
from printstation.daemon.jail import Interrupted, Jail, Limits
from printstation.harness import poison
from printstation.harness.docs import js, special
from printstation.harness.kit import EXE, ROOT, Station, drop_by_rename, wait_for
from printstation.invoice import read_file
from printstation.spool import Journal, State, reading

REAL = ROOT / "tests" / "fixtures" / "real"
GOOD_PDF = REAL / "sdp_zp_2025_jiangsu_3items.pdf"
# Low limits, so that each poison file costs the test a second or two.
QUICK = Limits(cpu_s=1, wall_s=8.0, memory_mb=512)


@pytest.fixture(scope="module")
def quick() -> Iterator[Jail]:
    j = Jail(QUICK)
    yield j
    j.close()


def codes(read) -> list[str]:
    return [p.code for p in read.problems]


def worker_pid(j: Jail) -> int:
    assert j._worker is not None
    return j._worker.proc.pid


def serves_the_next_file(j: Jail) -> bool:
    data = GOOD_PDF.read_bytes()
    return j.read("good.pdf", data) == read_file("good.pdf", data)


# -- the jail reads what the daemon read in-process ------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in REAL.iterdir() if p.suffix != ".md"))
def test_the_jail_reads_each_real_file_as_the_reader_does(quick: Jail, name: str) -> None:
    data = (REAL / name).read_bytes()
    assert jail.jailed(name)
    found = quick.read(name, data)
    assert found == read_file(name, data)
    # Not an empty agreement: the invoices and PDFs came through the pipe whole.
    assert found.items or found.problems


def test_json_is_read_in_the_daemon_and_everything_else_in_the_jail() -> None:
    assert not jail.jailed("a.json") and not jail.jailed("a.JSON")
    assert all(jail.jailed(n) for n in ("a.pdf", "B.PDF", "c.xml", "d.ofd", "e.zip"))


# -- poison files ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[bytes, tuple[str, ...]]]:
    return poison.corpus()


@pytest.mark.parametrize("name", poison.NAMES)
def test_each_poison_file_is_refused_within_the_limits(quick: Jail, corpus: dict,
                                                         name: str) -> None:
    data, allowed = corpus[name]
    assert len(data) < 2 << 20
    found = quick.read(name, data)
    assert found.items == () and codes(found)[0] in allowed, found.problems
    assert serves_the_next_file(quick)


def test_nested_forms_stop_at_the_cpu_limit_in_both_languages(quick: Jail) -> None:
    data = poison.nested_forms_pdf()
    assert len(data) < 4096
    found = quick.read("nested.pdf", data)
    assert codes(found) == ["file.too_complex"]
    assert "more than 1 s of CPU time" in found.problems[0].en
    assert "CPU 时间超过 1 秒" in found.problems[0].zh
    assert serves_the_next_file(quick)


def test_billion_laughs_is_refused_by_defusedxml_before_any_expansion(quick: Jail) -> None:
    found = quick.read("lol.xml", poison.BILLION_LAUGHS)
    assert codes(found) == ["parse.xml"] and "DTD" in found.problems[0].en


def test_a_file_past_the_wall_time_is_refused_and_its_worker_replaced() -> None:
    j = Jail(Limits(cpu_s=60, wall_s=1.0))
    try:
        assert serves_the_next_file(j)
        first = worker_pid(j)
        found = j.read("slow.pdf", poison.nested_forms_pdf())
        assert codes(found) == ["file.too_complex"]
        assert "not read within 1 s" in found.problems[0].en
        assert "1 秒内未读完" in found.problems[0].zh
        assert not Path(f"/proc/{first}").exists(), "the stuck worker was not reaped"
        assert serves_the_next_file(j) and worker_pid(j) != first
    finally:
        j.close()


def test_memory_past_the_limit_is_refused() -> None:
    # 8 MB of empty elements: ElementTree needs about 220 MB for them, past 100 MB + 3 × 8.
    data = b"<EInvoice>" + b"<a/>" * 2_000_000 + b"</EInvoice>"
    j = Jail(Limits(cpu_s=30, wall_s=30.0, memory_mb=100))
    try:
        found = j.read("elements.xml", data)
        assert codes(found) == ["file.too_complex"]
        assert "more than 100 MB of memory" in found.problems[0].en
        assert serves_the_next_file(j)
    finally:
        j.close()


def test_a_worker_that_crashes_mid_read_refuses_the_file_not_the_next(quick: Jail) -> None:
    slow = Jail(Limits(cpu_s=60, wall_s=30.0))
    try:
        assert serves_the_next_file(slow)
        pid = worker_pid(slow)
        threading.Timer(0.5, os.kill, (pid, signal.SIGSEGV)).start()
        found = slow.read("crash.pdf", poison.nested_forms_pdf())
        assert codes(found) == ["file.too_complex"]
        assert "the reader process died (signal SIGSEGV)" in found.problems[0].en
        assert "SIGSEGV" in found.problems[0].zh
        assert serves_the_next_file(slow)
    finally:
        slow.close()


def test_a_worker_killed_while_idle_is_replaced_without_refusing_a_file() -> None:
    j = Jail(QUICK)
    try:
        assert serves_the_next_file(j)
        pid = worker_pid(j)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _gone(pid), what="the worker to die")
        assert serves_the_next_file(j) and worker_pid(j) != pid
    finally:
        j.close()


def test_a_stop_interrupts_the_read_and_judges_nothing() -> None:
    j = Jail(Limits(cpu_s=60, wall_s=60.0))
    cancel = threading.Event()
    try:
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(Interrupted):
            j.read("slow.pdf", poison.nested_forms_pdf(), cancel)
        assert time.monotonic() - started < 30  # not the wall limit's 60 s
        assert serves_the_next_file(j)
    finally:
        j.close()


def test_an_answer_naming_anything_but_the_model_is_not_unpickled() -> None:
    with pytest.raises(pickle.UnpicklingError):
        jail._loads(pickle.dumps(("read", subprocess.Popen)))
    with pytest.raises(pickle.UnpicklingError):
        jail._loads(pickle.dumps(("read", os.system)))
    data = GOOD_PDF.read_bytes()
    found = read_file("a.pdf", data)
    assert jail._loads(pickle.dumps(("read", found))) == ("read", found)


def test_limits_come_from_the_environment_for_tests() -> None:
    assert Limits.from_env({}) == Limits(jail.CPU_S, jail.WALL_S, jail.MEMORY_MB)
    assert Limits.from_env({"PRINTSTATION_JAIL_CPU_S": "2", "PRINTSTATION_JAIL_WALL_S": "3.5",
                            "PRINTSTATION_JAIL_MEMORY_MB": "256"}) == Limits(2, 3.5, 256)


def test_the_daemon_side_holds_a_file_once(tmp_path: Path, quick: Jail) -> None:
    """Memory per file in the daemon: the bytes read once, and sent to the worker as they
    are (no pickled copy). Python's own allocations, traced."""
    size = 12 << 20
    path = tmp_path / "big.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"0" * size)
    quick.read("warm.pdf", GOOD_PDF.read_bytes())
    tracemalloc.start()
    try:
        data = read_limited(path, 20)
        found = quick.read("big.pdf", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert codes(found) == ["parse.pdf"]
    assert peak < 1.5 * size, f"peak {peak >> 20} MB for a {size >> 20} MB file"


def test_validate_refuses_a_poison_file_the_way_the_daemon_does(tmp_path: Path) -> None:
    (tmp_path / "poison.pdf").write_bytes(poison.nested_forms_pdf())
    shutil.copy(GOOD_PDF, tmp_path / "good.pdf")
    result = subprocess.run(
        [EXE, "validate", "--json", str(tmp_path / "poison.pdf"), str(tmp_path / "good.pdf")],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env={**os.environ, "PRINTSTATION_JAIL_CPU_S": "1"})
    assert result.returncode == 1, result.stderr
    poisoned, good = json.loads(result.stdout)
    assert [e["code"] for e in poisoned["errors"]] == ["file.too_complex"]
    assert "CPU" in poisoned["errors"][0]["en"] and good["valid"]


# -- read_limited ------------------------------------------------------------------------------

def test_read_limited_refuses_what_is_not_a_regular_file_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.pdf")
    assert read_limited(tmp_path / "fifo.pdf", 20).code == "file.not_regular"
    (tmp_path / "real.pdf").write_bytes(b"%PDF-")
    os.symlink(tmp_path / "real.pdf", tmp_path / "link.pdf")
    assert read_limited(tmp_path / "link.pdf", 20).code == "file.not_regular"
    os.mkdir(tmp_path / "dir.pdf")
    assert read_limited(tmp_path / "dir.pdf", 20).code == "file.not_regular"


def test_read_limited_reads_up_to_the_limit_and_refuses_past_it(tmp_path: Path) -> None:
    exact = tmp_path / "exact.json"
    exact.write_bytes(b"x" * (1 << 20))
    assert read_limited(exact, 1) == b"x" * (1 << 20)
    (tmp_path / "over.json").write_bytes(b"x" * ((1 << 20) + 1))
    assert read_limited(tmp_path / "over.json", 1).code == "file.too_large"
    (tmp_path / "empty.json").write_bytes(b"")
    assert read_limited(tmp_path / "empty.json", 1) == b""


def test_a_file_the_station_may_not_read_is_unreadable() -> None:
    """As user nobody (root reads anything): EACCES at open, named in both languages."""
    folder = Path(tempfile.mkdtemp(prefix="printstation-jail-"))
    try:
        folder.chmod(0o755)  # nobody may look up the file, not open it
        secret = folder / "secret.json"
        secret.write_bytes(b"{}")
        secret.chmod(0o600)
        found = read_limited(secret, 1) if os.geteuid() != 0 else _as_nobody(secret)
    finally:
        shutil.rmtree(folder)
    assert found.code == "file.unreadable"
    assert "EACCES: Permission denied" in found.en and "EACCES：权限不足" in found.zh


def _as_nobody(path: Path):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, pickle.dumps(read_limited(path, 1)))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        found = pickle.loads(fh.read())
    os.waitpid(pid, 0)
    return found


# -- read attempts in the journal ------------------------------------------------------------

def test_interrupted_files_are_read_after_fresh_ones(journal: Journal) -> None:
    for n in (1, 2, 3):
        journal.register_source(f"S{n}", f"f{n}.pdf".encode(), f"S{n}--f{n}.pdf", None, 1)
    assert reading.read_begins(journal, "S1") == 1
    assert journal.next_incoming()["id"] == "S2"
    assert reading.read_begins(journal, "S2") == 1
    reading.read_done(journal, "S2")  # read without incident: back to fresh, and first
    assert journal.next_incoming()["id"] == "S2"
    journal.settle_read(journal.next_incoming(), [_rejected()])
    journal.settle_read(journal.next_incoming(), [_rejected()])  # S3, still fresh
    assert journal.next_incoming()["id"] == "S1"
    assert reading.read_begins(journal, "S1") == 2
    reading.read_interrupted(journal, "S1")  # a clean stop does not count
    assert journal.next_incoming()["attempts"] == 1


def _rejected():
    from printstation.spool import Outcome

    return Outcome(State.REJECTED, "parse.pdf", errors="[]")


# -- the daemon ------------------------------------------------------------------------------

def test_the_daemon_rejects_a_poison_pdf_and_prints_the_others(station: Station) -> None:
    station.start(env={"PRINTSTATION_JAIL_CPU_S": "1"})
    bad = poison.nested_forms_pdf()
    drop_by_rename(station, "a.json", js(special(number="00140001")))
    drop_by_rename(station, "poison.pdf", bad)
    drop_by_rename(station, "good.pdf", GOOD_PDF.read_bytes())
    drop_by_rename(station, "b.json", js(special(number="00140002")))
    names = ["a.json", "poison.pdf", "good.pdf", "b.json"]
    wait_for(lambda: all(station.result(n) for n in names), timeout=30, what="all results")
    assert {n: station.result(n)["state"] for n in names} == {
        "a.json": "printed", "poison.pdf": "rejected", "good.pdf": "printed",
        "b.json": "printed"}
    assert station.result("poison.pdf")["errors"][0]["code"] == "file.too_complex"
    assert (station.rejected / "poison.pdf").read_bytes() == bad
    report = (station.rejected / "poison.pdf.error.txt").read_text("utf-8")
    assert "file.too_complex" in report
    assert "文件过于复杂" in report and "CPU 时间超过 1 秒" in report
    assert "The file is too complex" in report and "more than 1 s of CPU time" in report
    assert station.proc.poll() is None and "Traceback" not in station.log_text()
    assert station.stop()[0] == 0


def test_a_file_that_stopped_the_daemon_twice_is_quarantined_unread(station: Station) -> None:
    # The default limits (10 s of CPU): the daemon is killed long before they end the read,
    # as the systemd watchdog did.
    bad = poison.nested_forms_pdf()
    station.start()
    drop_by_rename(station, "poison.pdf", bad)
    wait_for(lambda: _job(station, "poison.pdf", "attempts") == 1, what="the first read")
    worker = wait_for(lambda: _worker_of(station.proc.pid), what="the jail's worker")
    _kill_after_claiming(station, "a.json", js(special(number="00150001")))
    wait_for(lambda: _gone(worker), what="the worker to die with the daemon")

    station.start()
    # a.json came after the poison file and is read first; then the poison file again.
    wait_for(lambda: station.result("a.json"), what="a.json printed")
    assert station.result("a.json")["state"] == "printed"
    wait_for(lambda: _job(station, "poison.pdf", "attempts") == 2, what="the second read")
    assert _job(station, "poison.pdf", "state") == "incoming"
    assert "event=reader.again" in station.log_text()
    _kill_after_claiming(station, "b.json", js(special(number="00150002")))

    station.start()
    wait_for(lambda: station.result("poison.pdf") and station.result("b.json"),
             what="both results")
    assert station.result("b.json")["state"] == "printed"
    assert station.result("poison.pdf")["state"] == "rejected"
    # Not read a third time: no third attempt was counted, and b.json was read before it.
    assert _job(station, "poison.pdf", "attempts") == 2
    with station.db() as conn:
        order = [r["source_name"] for r in conn.execute(
            "SELECT j.source_name FROM events e JOIN jobs j ON j.id = e.job_id"
            " WHERE e.type IN ('job.queued', 'job.rejected') ORDER BY e.seq")]
    assert order == ["a.json", "b.json", "poison.pdf"]
    assert (station.rejected / "poison.pdf").read_bytes() == bad
    report = (station.rejected / "poison.pdf.error.txt").read_text("utf-8")
    assert "file.too_complex" in report
    assert "it stopped the reader twice" in report and "已两次使读取程序中断" in report
    assert "event=reader.poison" in station.log_text()
    assert station.stop()[0] == 0


def _kill_after_claiming(station: Station, name: str, data: bytes) -> None:
    """Drop a file while the reader is stuck, wait until it is claimed, then SIGKILL."""
    drop_by_rename(station, name, data)
    wait_for(lambda: _job(station, name, "state") == "incoming", what=f"{name} claimed")
    station.kill()


def _job(station: Station, name: str, column: str):
    with station.db() as conn:
        row = conn.execute(f"SELECT {column} FROM jobs WHERE source_name = ?",
                           (name,)).fetchone()
    return row[0] if row else None


def _worker_of(daemon: int) -> int | None:
    """The jail's worker of a daemon: its command line ends with the daemon's pid."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if jail.WORKER.encode() in argv and argv[-2:-1] == [str(daemon).encode()]:
            return int(entry.name)
    return None


def _gone(pid: int) -> bool:
    """Dead: no process, or a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
