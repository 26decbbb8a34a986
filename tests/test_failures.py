"""The printer stage's failure model and its supervised workers (SPEC §9, §12).

A job that cannot go on is moved aside (held or deferred, then failed) and never blocks the
jobs behind it; a printer that is down keeps its jobs queued without burning their
attempts; a CUPS worker or a runner that fails is restarted, and shows in `status`; a
stuck stage or an orphaned spool file makes `status --check` fail; and a clock stepped
back across a crash never makes a second CUPS job.

Backoffs are real (10 s, doubling); the tests move the daemon's clock forward instead of
waiting (`PRINTSTATION_TEST_CLOCK`, daemon/clock.py), and use a small `max_attempts`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printstation.config import load_config
from printstation.daemon import health, runner
from printstation.daemon.print_failures import BACKOFF_MAX_S, backoff_s
from printstation.harness.docs import js, special
from printstation.harness.ipp_faults import (
    DOCUMENT_FORMAT_NOT_SUPPORTED,
    INTERNAL_ERROR,
    IppFaultProxy,
)
from printstation.harness.kit import (
    EXE,
    ROOT,
    Station,
    drop_by_rename,
    running,
    wait_for,
    write_config,
)
from printstation.spool import Journal, connect, verify_chain

# -- helpers --------------------------------------------------------------------------------


def cups_printer(queue: str = "ps-pdf", extra: str = "") -> str:
    return f"""
[printers.a]
driver = "cups"
queue = "{queue}"
stocks = ["vat-special"]
{extra}
"""


def job_of(station: Station, name: str) -> dict | None:
    """The journal row of the job made from dropped file `name`, as a dict."""
    with station.db() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE source_name = ?", (name,)).fetchone()
    return dict(row) if row else None


def state_of(station: Station, name: str) -> str | None:
    job = job_of(station, name)
    return job["state"] if job else None


def daemon_status(station: Station) -> dict:
    run = station.cli("status", "--json")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def printer_entry(station: Station, name: str = "a") -> dict:
    daemon = daemon_status(station)["daemon"] or {}
    return next((p for p in daemon.get("printers", []) if p["name"] == name), {})


def check(station: Station, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), "--config", str(station.config), "status", "--check"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def step_clock(clock: Path, seconds: float) -> None:
    """Move the daemon's clock: the file holds its offset from real time, in seconds."""
    clock.write_text(f"{seconds}\n")


def printed_numbers(cupsd, queue: str) -> list[str]:
    from pypdf import PdfReader

    found = []
    for path in cupsd.outputs(queue):
        if path.stat().st_size:
            text = PdfReader(path).pages[0].extract_text()
            found += [t for t in text.split() if len(t) == 8 and t.isdigit()][:1]
    return found


@pytest.fixture
def queues(cupsd):
    """The session's cupsd with its queues enabled, accepting and their outputs cleared."""
    for queue in ("ps-pdf", "ps-pdf2"):
        cupsd.lp("cupsenable", queue)
        cupsd.lp("cupsaccept", queue)
        for path in cupsd.out(queue).iterdir():
            path.unlink()
    yield cupsd


@pytest.fixture
def proxy(queues) -> Iterator[IppFaultProxy]:
    """A fault-injecting proxy in front of the session's cupsd (a short socket path:
    Unix socket names are limited to 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="ps-ipp-"))
    folder.chmod(0o755)
    found = IppFaultProxy(queues.server, folder / "cups.sock")
    yield found
    found.close()
    shutil.rmtree(folder, ignore_errors=True)


# -- the job's own failures -----------------------------------------------------------------


def test_backoff_starts_at_10_s_doubles_and_stops_at_15_min() -> None:
    waits = [backoff_s(n) for n in range(1, 12)]
    assert waits[:4] == [10, 20, 40, 80]
    assert waits == sorted(waits)
    assert max(waits) == BACKOFF_MAX_S == 900


def test_a_deferred_job_comes_back_when_due_and_fails_after_max_attempts(
        tmp_path: Path) -> None:
    """Journal level, with a clock the test sets: the wait, the count, the last error, and
    a clock stepped back across the wait (the job is due, not stranded for the step)."""
    import datetime as dt

    from printstation.config import PrinterSettings
    from printstation.daemon import print_failures as failures
    from printstation.spool import Outcome, State

    now = [dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)]
    journal = Journal(tmp_path / "journal.db", "ST-1", lambda: now[0])
    printer = PrinterSettings("p", "directory", "", None, ("vat-special",), "off", 2,
                              max_attempts=3)
    try:
        journal.register_source("J1", b"a.json", "J1--a.json", None, None)
        journal.settle_read(journal.next_incoming(),
                            [Outcome(State.QUEUED, printer="p", invoice_json="{}")])
        job = journal.jobs_in_state("p", State.QUEUED)[0]
        assert failures.defer(journal, job, printer, "IPP 0x0500", 1) is State.DEFERRED
        job = dict(journal.jobs_in_state("p", State.DEFERRED)[0])
        assert job["attempts"] == 1 and job["next_attempt_at"] == "2026-11-28T03:00:10.000Z"
        now[0] += dt.timedelta(seconds=9)
        assert failures.requeue_due(journal, "p") == 0
        now[0] += dt.timedelta(seconds=2)
        assert failures.requeue_due(journal, "p") == 1
        job = journal.jobs_in_state("p", State.QUEUED)[0]
        assert failures.defer(journal, job, printer, "IPP 0x0500", 2) is State.DEFERRED
        # The clock goes back two hours: the job's retry time is now far beyond any
        # backoff, so it is due rather than waiting two hours more.
        now[0] -= dt.timedelta(hours=2)
        assert failures.requeue_due(journal, "p") == 1
        job = journal.jobs_in_state("p", State.QUEUED)[0]
        assert failures.defer(journal, job, printer, "IPP 0x0501 last", 3) is State.FAILED
        row = journal.conn.execute("SELECT * FROM jobs WHERE id = 'J1'").fetchone()
        assert (row["state"], row["reason"], row["attempts"]) == ("failed", "printer.error", 3)
        assert row["next_attempt_at"] is None
        error = json.loads(row["errors"])[0]
        assert "IPP 0x0501 last" in error["en"] and "attempt 3 of 3" in error["en"]
        assert "已放弃" in error["zh"]
    finally:
        journal.close()


NARROW_REMARKS = re.compile(r"^remarks = \{[^}]*\}$", re.M)


@pytest.mark.e2e
def test_a_reload_that_makes_a_queued_job_unrenderable_holds_it_and_the_next_prints(
        tmp_path: Path) -> None:
    """Job 1 was valid when read; a reload narrows the field it fills, so it can no
    longer be rendered: it is held (render.failed) with the error, job 2 behind it
    prints, and after the layout is fixed a clerk's release prints job 1."""
    station = Station(tmp_path, write_config(tmp_path))
    # The printer's folder is a file: its runner cannot start (and retries), so both jobs
    # wait in the queue while the configuration changes under them.
    station.printed.write_text("not a folder")
    layout = tmp_path / "stocks" / "vat-special.toml"
    with running(station):
        drop_by_rename(station, "long.json", js(special(number="00310001",
                                                        remarks="备注很长" * 6)))
        drop_by_rename(station, "short.json", js(special(number="00310002")))
        wait_for(lambda: state_of(station, "long.json") == "queued"
                 and state_of(station, "short.json") == "queued", what="both queued")
        builtin = (ROOT / "config" / "stocks" / "vat-special.toml").read_text("utf-8")
        layout.parent.mkdir()
        layout.write_text(NARROW_REMARKS.sub(
            'remarks = { x = 138.1, y = 100.3, width = 4, height = 3, size = 8 }', builtin),
            encoding="utf-8")
        station.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "event=config.reloaded" in station.log_text(), what="the reload")
        station.printed.unlink()
        wait_for(lambda: state_of(station, "short.json") == "printed", timeout=40,
                 what="job 2 printed once the printer started")
        held = wait_for(lambda: (j := job_of(station, "long.json"))["state"] == "held" and j,
                        what="job 1 held")
        assert held["reason"] == "render.failed"
        (error,) = json.loads(held["errors"])
        assert error["code"] == "render.failed" and error["field"] == "remarks"
        assert "does not fit" in error["en"] and "printstation release" in error["zh"]
        assert [p.name.split("--")[0] for p in station.printed.glob("*.pdf")] == \
            [job_of(station, "short.json")["id"]]
        found = check(station)
        assert found.returncode == 1 and "held (render.failed)" in found.stdout
        # IT puts the layout back; the clerk releases the job, and it prints.
        layout.unlink()
        station.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: station.log_text().count("event=config.reloaded") == 2,
                 what="the second reload")
        released = station.cli("release", held["id"])
        assert released.returncode == 0, released.stderr
        wait_for(lambda: state_of(station, "long.json") == "printed", what="job 1 printed")
        assert len(list(station.printed.glob("*.pdf"))) == 2


def test_cups_errors_for_one_job_defer_it_then_fail_it_while_the_others_print(
        tmp_path: Path, proxy: IppFaultProxy, queues) -> None:
    clock = tmp_path / "clock"
    step_clock(clock, 0)
    station = Station(tmp_path, write_config(
        tmp_path, printers=cups_printer(extra="max_attempts = 2"), cups_server=proxy.server))
    proxy.doom_next(INTERNAL_ERROR, "server-error-internal-error (test)")
    with running(station, env={"PRINTSTATION_TEST_CLOCK": str(clock)}):
        drop_by_rename(station, "bad.json", js(special(number="00320001")))
        wait_for(lambda: job_of(station, "bad.json"), what="the first job journaled")
        drop_by_rename(station, "ok1.json", js(special(number="00320002")))
        drop_by_rename(station, "ok2.json", js(special(number="00320003")))
        deferred = wait_for(lambda: (j := job_of(station, "bad.json"))["state"] == "deferred"
                            and j, what="the failing job deferred")
        assert deferred["attempts"] == 1 and deferred["reason"] == "printer.error"
        assert deferred["next_attempt_at"] > deferred["updated_at"]
        (error,) = json.loads(deferred["errors"])
        assert error["code"] == "printer.error" and "attempt 1 of 2" in error["en"]
        assert "test" in error["en"] and "第 1 次" in error["zh"]
        # The jobs behind it print while it waits.
        wait_for(lambda: all(state_of(station, n) == "printed" for n in ("ok1.json",
                                                                          "ok2.json")),
                 timeout=60, what="the jobs behind printed")
        # Its time comes (the clock moves past the 10 s backoff): it fails once more, and
        # with max_attempts = 2 that is the last try.
        step_clock(clock, 60)
        failed = wait_for(lambda: (j := job_of(station, "bad.json"))["state"] == "failed"
                          and j, what="the failing job failed")
        assert failed["attempts"] == 2 and failed["reason"] == "printer.error"
        assert "attempt 2 of 2" in json.loads(failed["errors"])[0]["en"]
        result = wait_for(lambda: station.result("bad.json"), what="its result file")
        assert result["state"] == "failed" and result["errors"][0]["code"] == "printer.error"
        assert (station.rejected / "bad.json.error.txt").exists()
        assert proxy.answered[f"printstation:{failed['id']}"] == 2
    assert sorted(printed_numbers(queues, "ps-pdf")) == ["00320002", "00320003"]


def test_a_document_cups_refuses_is_held_with_the_printers_answer(
        tmp_path: Path, proxy: IppFaultProxy, queues) -> None:
    station = Station(tmp_path, write_config(tmp_path, printers=cups_printer(),
                                             cups_server=proxy.server))
    proxy.doom_next(DOCUMENT_FORMAT_NOT_SUPPORTED, "document-format-not-supported")
    with running(station):
        drop_by_rename(station, "refused.json", js(special(number="00330001")))
        wait_for(lambda: job_of(station, "refused.json"), what="the first job journaled")
        drop_by_rename(station, "next.json", js(special(number="00330002")))
        held = wait_for(lambda: (j := job_of(station, "refused.json"))["state"] == "held"
                        and j, what="the refused job held")
        assert held["reason"] == "printer.refused" and held["attempts"] == 0
        assert "document-format-not-supported" in json.loads(held["errors"])[0]["en"]
        wait_for(lambda: state_of(station, "next.json") == "printed", timeout=60,
                 what="the job behind printed")


def test_cups_down_keeps_jobs_queued_without_burning_attempts(tmp_path: Path, queues) -> None:
    cupsd = queues
    station = Station(tmp_path, write_config(tmp_path, printers=cups_printer(),
                                             cups_server=cupsd.server))
    names = ["d1.json", "d2.json"]
    with running(station):
        wait_for(lambda: printer_entry(station).get("up"), what="the printer up")
        cupsd.stop()
        try:
            for i, name in enumerate(names):
                drop_by_rename(station, name, js(special(number=f"0034000{i}")))
            entry = wait_for(lambda: (p := printer_entry(station)).get("error") and p,
                             timeout=30, what="the printer's error in status")
            assert entry["up"] is False
            wait_for(lambda: "event=printer.outage" in station.log_text(), what="outage logged")
            # Let the printer's runner try again (after 1 s, then 2 s): the jobs are still
            # queued, no attempt counted. (A pause to let retries happen, not a timing
            # assertion.)
            time.sleep(2)
            jobs = [job_of(station, n) for n in names]
            assert [j["state"] for j in jobs] == ["queued", "queued"]
            assert [j["attempts"] for j in jobs] == [0, 0]
            found = check(station)
            assert found.returncode == 1 and "printer a is down: " in found.stdout
        finally:
            cupsd.start()
        wait_for(lambda: all(state_of(station, n) == "printed" for n in names), timeout=60,
                 what="printed once CUPS is back")
        log = station.log_text()
        assert log.count("event=printer.outage") == 1 and "event=runner.recovered" in log
        assert all(job_of(station, n)["attempts"] == 1 for n in names)


# -- supervised workers ---------------------------------------------------------------------


def test_the_cups_worker_survives_what_a_call_raises_and_is_restarted_if_it_dies(
        queues, tmp_path: Path) -> None:
    import cups

    from printstation.drivers.cups_worker import Worker as _Worker

    worker = _Worker(queues.server)
    try:
        thread = worker.thread
        # An HTTP error (pycups.HTTPError, which the worker once did not catch) and a
        # wrong argument: each goes to its caller, and the thread lives on.
        with pytest.raises(cups.HTTPError):
            # (libcups removes the output file of a failed request: never /dev/null.)
            worker.call("getFile", "/no/such/resource", str(tmp_path / "out"))
        with pytest.raises(TypeError):
            worker.call("getPrinterAttributes", 12345)
        assert "ps-pdf" in worker.call("getPrinters")
        assert worker.thread is thread and thread.is_alive() and worker.restarts == 0
        # Something that ends the thread anyway (here a malformed request) is survived: the
        # next call starts a new thread.
        worker.requests.put("not a request")
        thread.join(5)
        assert not thread.is_alive()
        assert "ps-pdf" in worker.call("getPrinters")
        assert worker.restarts == 1 and worker.thread.is_alive()
    finally:
        worker.close()


def test_cups_answers_are_sorted_into_printer_job_temporary_and_job_permanent(
        proxy: IppFaultProxy, queues) -> None:
    from printstation.config import load_stocks
    from printstation.drivers import PrintRequest, render_invoice
    from printstation.drivers.base import JobFailed, JobRefused, PrinterUnavailable
    from printstation.drivers.cups_driver import CupsPrinter
    from printstation.invoice import invoice_from_dict

    stocks, _ = load_stocks()
    pdf = render_invoice(invoice_from_dict(special()), stocks["vat-special"])
    printer = CupsPrinter("a", "ps-pdf", proxy.server, stocks)
    try:
        proxy.doom_next(INTERNAL_ERROR)
        with pytest.raises(JobFailed):
            printer.create_held(PrintRequest("J1", "t", pdf, "vat-special"))
        proxy.doom_next(DOCUMENT_FORMAT_NOT_SUPPORTED)
        with pytest.raises(JobRefused):
            printer.create_held(PrintRequest("J2", "t", pdf, "vat-special"))
        queues.lp("cupsreject", "ps-pdf")
        with pytest.raises(PrinterUnavailable):
            printer.create_held(PrintRequest("J3", "t", pdf, "vat-special"))
        queues.lp("cupsaccept", "ps-pdf")
        held = printer.create_held(PrintRequest("J4", "t", pdf, "vat-special"))
        printer.cancel(held)
        assert printer.find("J4") is None  # a cancelled job is never adopted
    finally:
        queues.lp("cupsaccept", "ps-pdf")
        printer.close()


def test_a_job_prepared_while_its_page_renders_is_the_job_created(queues) -> None:
    """`prepare` starts Create-Job; `create_held` sends the page to that same job, held;
    `discard` cancels a prepared job whose page will not come; the lookup cancels an empty
    held job instead of adopting it (drivers/cups_driver.py)."""
    import cups

    from printstation.config import load_stocks
    from printstation.drivers import PrintRequest, render_invoice
    from printstation.drivers.cups_driver import CupsPrinter
    from printstation.invoice import invoice_from_dict

    stocks, _ = load_stocks()
    pdf = render_invoice(invoice_from_dict(special()), stocks["vat-special"])
    printer = CupsPrinter("a", "ps-pdf", queues.server, stocks)
    cups.setServer(queues.server)
    conn = cups.Connection()

    def attrs(cups_id: str) -> dict:
        return conn.getJobAttributes(int(cups_id), requested_attributes=[
            "job-state", "job-name", "number-of-documents"])

    try:
        printer.prepare("P1", "vat-special")
        held = printer.create_held(PrintRequest("P1", "t", pdf, "vat-special"))
        got = attrs(held)
        assert (got["job-state"], got["number-of-documents"]) == (4, 1)
        assert got["job-name"] == "printstation:P1"
        assert printer.find("P1") == held  # a held job with its page is adopted
        printer.cancel(held)

        def named(name: str) -> list[dict]:
            return [a for a in conn.getJobs(which_jobs="all", requested_attributes=[
                "job-id", "job-name", "job-state", "number-of-documents"]).values()
                if a["job-name"] == f"printstation:{name}"]

        printer.prepare("P2", "vat-special")
        printer.discard("P2")  # queued behind the Create-Job, not waited for
        printer.state()  # a request served after both
        assert [a["job-state"] for a in named("P2")] == [7]
        # An empty held job (the page never sent) is cancelled by the lookup, not adopted.
        conn.createJob("ps-pdf", "printstation:P3", {"job-hold-until": "indefinite"})
        assert printer.find("P3") is None
        assert [(a["job-state"], a["number-of-documents"]) for a in named("P3")] == [(7, 0)]
    finally:
        printer.close()


def test_a_queue_gone_between_create_job_and_its_page_is_the_printers_fault(queues) -> None:
    """The queue is deleted after Create-Job and before Send-Document: CUPS answers the
    page with "not found" for the job, but the printer is what is down (the job's
    attempts are not spent), as it was when one request made the job."""
    from printstation.config import load_stocks
    from printstation.drivers import PrintRequest, render_invoice
    from printstation.drivers.base import PrinterUnavailable
    from printstation.drivers.cups_driver import CupsPrinter
    from printstation.invoice import invoice_from_dict

    stocks, _ = load_stocks()
    pdf = render_invoice(invoice_from_dict(special()), stocks["vat-special"])
    queues.add_queue("ps-gone", "printstation-pdf.ppd")
    printer = CupsPrinter("g", "ps-gone", queues.server, stocks)
    try:
        printer.prepare("G1", "vat-special")
        printer.state()  # the Create-Job has been served
        queues.lp("lpadmin", "-x", "ps-gone")
        with pytest.raises(PrinterUnavailable):
            printer.create_held(PrintRequest("G1", "t", pdf, "vat-special"))
    finally:
        printer.close()


@pytest.mark.e2e
def test_a_runner_whose_setup_fails_is_retried_shown_unhealthy_then_recovers(
        tmp_path: Path) -> None:
    station = Station(tmp_path, write_config(tmp_path))
    station.printed.write_text("not a folder")  # the directory printer cannot be made
    with running(station):
        drop_by_rename(station, "a.json", js(special(number="00350001")))
        entry = wait_for(lambda: (p := printer_entry(station, "pdf")).get("error") and p,
                         what="the setup error in status")
        assert "FileExistsError" in entry["error"] and entry["up"] is False
        found = check(station)
        # `--json` keeps the exception's class for IT; the words a person reads do not.
        assert found.returncode == 1 and "printer pdf is down: File exists" in found.stdout
        assert "FileExistsError" not in found.stdout
        assert state_of(station, "a.json") == "queued"
        runners = {r["name"]: r for r in daemon_status(station)["daemon"]["runners"]}
        assert runners["printer:pdf"]["alive"] is True
        station.printed.unlink()
        wait_for(lambda: state_of(station, "a.json") == "printed", timeout=40,
                 what="printed once the setup succeeds")
        wait_for(lambda: check(station).returncode == 0, what="healthy again")
        assert station.log_text().count("event=runner.setup_failed") == 1
        assert "event=runner.recovered" in station.log_text()


class _Blocking(runner.Runner):
    """A runner whose pass blocks until released, with a short stall limit."""

    name = "blocking"

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def stall_limit_s(self) -> float:
        return 0.2

    def nap_s(self) -> float:
        return 0.01

    def run_once(self) -> bool:
        self.release.wait(10)
        return False


class _Dying(runner.Runner):
    name = "dying"

    def run_once(self) -> bool:
        raise SystemExit("a bug that escapes the loop")


class _FailingSetup(runner.Runner):
    name = "flaky"

    def __init__(self) -> None:
        super().__init__()
        self.tries = 0
        self.torn_down = 0

    def setup(self) -> None:
        self.tries += 1
        if self.tries < 3:
            raise OSError(f"try {self.tries}")

    def teardown(self) -> None:
        self.torn_down += 1

    def run_once(self) -> bool:
        return False


# The dying runner's thread ends by an exception, as meant: pytest reports it as a warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_health_sees_stuck_and_dead_runners_and_a_retried_setup(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runner, "FIRST_ERROR_PAUSE_S", 0.05)
    settings = load_config(write_config(tmp_path)).settings
    stuck, dying, flaky = _Blocking(), _Dying(), _FailingSetup()
    for r in (stuck, dying, flaky):
        r.start()
    try:
        problems = wait_for(lambda: len(p := health.runner_problems(
            [stuck, dying, flaky], settings)) == 2 and p, what="stuck and dead seen")
        assert problems[0].startswith("blocking is stuck")
        assert problems[1] == "dying is not running (its thread ended)"
        assert not health.healthy([stuck], settings)
        # The setup that failed twice was torn down and tried again, not left dead.
        wait_for(lambda: flaky.ready, what="the setup retried until it worked")
        assert flaky.tries == 3 and flaky.torn_down == 2 and flaky.error is None
        assert health.healthy([flaky], settings)
        stuck.release.set()
        wait_for(lambda: not health.runner_problems([stuck], settings), what="unstuck")
    finally:
        stuck.release.set()
        for r in (stuck, flaky):
            r.stop()
            r.wake()


# -- orphaned spool files --------------------------------------------------------------------


def test_spool_files_without_a_row_or_of_a_finished_file_are_orphans(tmp_path: Path) -> None:
    settings = load_config(write_config(tmp_path)).settings
    spool = settings.station.data_dir / "spool"
    spool.mkdir(parents=True)
    journal = Journal(settings.journal_path, settings.station.id)
    try:
        journal.register_source("S1", b"open.json", "S1--open.json", None, None)
        journal.register_source("S2", b"done.json", "S2--done.json", None, None)
        journal.finish("S2", archived=True, payload={})
    finally:
        journal.close()
    for name in ("S1--open.json", "S2--done.json", ".S4--tmp"):
        (spool / name).write_text("{}")
    later = time.time() + health.ORPHAN_AGE_S + 60
    found = {o.name: o.source_state for o in health.spool_orphans(settings, later)}
    assert found == {"S2--done.json": "archived"}
    # A restart cannot fix a file whose file is finished: the watchdog is not starved.
    assert health.healthy([], settings, later)
    (spool / "S3--stray.json").write_text("{}")
    assert health.spool_orphans(settings) == []  # new files: maybe a claim in progress
    found = {o.name: o.source_state for o in health.spool_orphans(settings, later)}
    assert found == {"S2--done.json": "archived", "S3--stray.json": None}
    # Start-up registers a file without a row: the watchdog lets systemd restart.
    assert not health.healthy([], settings, later)


@pytest.mark.e2e
def test_an_orphaned_spool_file_makes_status_check_fail_naming_it(tmp_path: Path) -> None:
    station = Station(tmp_path, write_config(tmp_path))
    clock = tmp_path / "clock"
    # `status --check` looks ten minutes ahead, so that the files count as old. It is run
    # with the daemon stopped: a running daemon answers `status` with its own clock.
    step_clock(clock, health.ORPHAN_AGE_S + 300)
    later = {"PRINTSTATION_TEST_CLOCK": str(clock)}
    with running(station):
        drop_by_rename(station, "a.json", js(special(number="00360001")))
        wait_for(lambda: station.result("a.json"), what="printed and archived")
    assert "spool file" not in check(station, later).stdout
    (archived,) = station.archived()
    stray = station.data / "spool" / "ZZZ--stray.json"
    stray.write_text("{}")
    leftover = station.data / "spool" / archived.name
    shutil.copy(archived, leftover)
    found = check(station, later)
    assert found.returncode == 1
    assert "spool file ZZZ--stray.json has no journal row" in found.stdout
    assert f"spool file {archived.name} belongs to a file the journal has as archived" \
        in found.stdout
    assert "spool file" not in check(station).stdout  # new files: claims maybe
    stray.unlink()
    leftover.unlink()
    assert "spool file" not in check(station, later).stdout


# -- crash matching without the wall clock ---------------------------------------------------


def test_clock_stepped_back_across_a_crash_after_create_held_prints_once(
        tmp_path: Path, queues) -> None:
    """The daemon dies after creating the held CUPS job, before journaling its id; the
    clock is then set back two hours. On restart the job is looked up by name all the
    same (it arrived before this run), the held job adopted and printed; a second held
    job under the same name (left by an older run) is cancelled, never left held."""
    import cups

    cupsd = queues
    clock = tmp_path / "clock"
    step_clock(clock, 0)
    station = Station(tmp_path, write_config(tmp_path, printers=cups_printer(),
                                             cups_server=cupsd.server))
    station.start(env={"PRINTSTATION_CRASH_AT": "after_create_held",
                       "PRINTSTATION_TEST_CLOCK": str(clock)})
    drop_by_rename(station, "a.json", js(special(number="00370001")))
    wait_for(lambda: station.proc.poll() is not None, timeout=30, what="the crash")
    assert station.proc.returncode == -9
    job_id = job_of(station, "a.json")["id"]
    name = f"printstation:{job_id}"
    # An older run's duplicate: held, same name, another invoice's page.
    other = tmp_path / "other.pdf"
    from printstation.config import load_stocks
    from printstation.drivers import render_invoice
    from printstation.invoice import invoice_from_dict

    stocks, _ = load_stocks()
    other.write_bytes(render_invoice(invoice_from_dict(special(number="00379999")),
                                     stocks["vat-special"]))
    cupsd.lp("lp", "-d", "ps-pdf", "-H", "indefinite", "-t", name, other)
    cups.setServer(cupsd.server)
    conn = cups.Connection()

    def held_by_name() -> list[int]:
        jobs = conn.getJobs(which_jobs="all", requested_attributes=[
            "job-id", "job-name", "job-state"])
        return sorted(i for i, a in jobs.items() if a.get("job-name") == name
                      and a.get("job-state") == 4)

    def states() -> dict[int, int]:
        # By id: CUPS may leave the name out for a finished job whose attributes it unloaded.
        return {i: conn.getJobAttributes(i, requested_attributes=["job-state"])["job-state"]
                for i in (first, second)}

    first, second = held_by_name()  # both held
    step_clock(clock, -7200)
    with running(station, env={"PRINTSTATION_TEST_CLOCK": str(clock)}):
        wait_for(lambda: (station.result("a.json") or {}).get("state") == "printed",
                 timeout=60, what="printed after the restart")
        # The first adopted and printed, the other cancelled: none left held.
        wait_for(lambda: states() == {first: 9, second: 7}, what="one printed, one cancelled")
    assert job_of(station, "a.json")["cups_job_id"] == str(first)
    assert "event=cups.duplicate_cancelled" in station.log_text()
    wait_for(lambda: len(cupsd.outputs("ps-pdf")) == 1, what="the output")
    assert printed_numbers(cupsd, "ps-pdf") == ["00370001"]
    verify = station.cli("journal", "--verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify_chain(connect(station.data / "journal.db", readonly=True))[1] is None
