"""Printing through a real (private) cupsd: geometry, faults, recovery, two printers."""

from __future__ import annotations

import collections
import io
import json
import sqlite3
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from printstation.config import load_stocks
from printstation.harness.docs import js, special
from printstation.harness.kit import Station, drop_by_rename, running, wait_for, write_config
from printstation.harness.pdfpos import positions

pytestmark = pytest.mark.e2e
STOCKS, _ = load_stocks()


def cups_station(folder: Path, cupsd, printers: str) -> Station:
    return Station(folder, write_config(folder, printers=printers, cups_server=cupsd.server))


PDF_PRINTER = """
[printers.a]
driver = "cups"
queue = "ps-pdf"
stocks = ["vat-special"]
offsets = { vat-special = [2.5, -1.2] }
"""


def out_numbers(paths: list[Path]) -> list[str]:
    """The invoice number printed on each output PDF, in job order (an empty output, a
    job cut off mid-way, is a spoiled sheet and carries none)."""
    found = []
    for path in paths:
        if path.stat().st_size == 0:
            continue
        text = PdfReader(io.BytesIO(path.read_bytes())).pages[0].extract_text()
        found.append(next(t for t in text.split() if len(t) == 8 and t.startswith("00")))
    return found


@pytest.fixture
def clean_queues(cupsd):
    for queue in ("ps-pdf", "ps-pdf2", "ps-epson"):
        cupsd.lp("cupsenable", queue)
        for path in cupsd.out(queue).iterdir():
            path.unlink()
    yield cupsd


def test_fields_land_at_anchor_plus_offset_through_cups(tmp_path, clean_queues) -> None:
    cupsd = clean_queues
    station = cups_station(tmp_path, cupsd, PDF_PRINTER)
    with running(station):
        drop_by_rename(station, "a.json", js(special(number="00130001")))
        wait_for(lambda: (station.result("a.json") or {}).get("state") == "printed",
                 timeout=30, what="printed through CUPS")
        (out,) = wait_for(lambda: cupsd.outputs("ps-pdf"), what="the output file")
        page = PdfReader(out).pages[0]
        assert (float(page.mediabox.width), float(page.mediabox.height)) == (684, 396)
        found = positions(out.read_bytes())
        spec = STOCKS["vat-special"].fields
        doc = special(number="00130001")
        for field, text in (("number", "00130001"), ("code", doc["code"]),
                            ("buyer.name", doc["buyer"]["name"]),
                            ("seller.tin", doc["seller"]["tin"])):
            x, y = found[text]
            assert abs(x - (spec[field].x + 2.5)) <= 0.5 and abs(y - (spec[field].y - 1.2)) <= 0.5
        job = station.jobs()[0]
        assert job["cups_job_id"].isdigit()


def test_one_disabled_printer_does_not_block_the_other(tmp_path, clean_queues) -> None:
    cupsd = clean_queues
    station = cups_station(tmp_path, cupsd, """
[printers.a]
driver = "cups"
queue = "ps-pdf"
stocks = ["vat-special"]
[printers.b]
driver = "cups"
queue = "ps-pdf2"
stocks = ["vat-ordinary"]
""")
    cupsd.lp("cupsdisable", "ps-pdf2")
    with running(station):
        numbers_a = [f"{140000 + i:08d}" for i in range(100)]
        numbers_b = [f"{150000 + i:08d}" for i in range(100)]
        for na, nb in zip(numbers_a, numbers_b, strict=True):
            drop_by_rename(station, f"a{na}.json", js(special(number=na)))
            drop_by_rename(station, f"b{nb}.json", js(special(number=nb, kind="vat-ordinary",
                                                               code="011002400111")))
        wait_for(lambda: len(cupsd.outputs("ps-pdf")) == 100, timeout=120, what="a's 100")
        assert cupsd.outputs("ps-pdf2") == []
        assert out_numbers(cupsd.outputs("ps-pdf")) == numbers_a  # in arrival order
        # b holds at most in_flight (2) jobs in CUPS; the rest wait in printstation's queue.
        states = collections.Counter(j["state"] for j in station.jobs() if j["printer"] == "b")
        assert states["submitted"] <= 2 and states["queued"] >= 98
        status = json.loads(station.cli("status", "--json").stdout)
        device = {p["name"]: p for p in status["daemon"]["printers"]}["b"]["device"]
        assert device["state"] == "stopped" and "paused" in device["reasons"]
        assert station.cli("status", "--check").returncode == 1
        cupsd.lp("cupsenable", "ps-pdf2")
        wait_for(lambda: len(cupsd.outputs("ps-pdf2")) == 100, timeout=120, what="b's 100")
        assert out_numbers(cupsd.outputs("ps-pdf2")) == numbers_b


@pytest.mark.parametrize("point", ["after_create_held", "after_submitted", "after_release"])
def test_sigkill_around_the_two_phase_submit_prints_once(tmp_path, clean_queues,
                                                         point: str) -> None:
    cupsd = clean_queues
    station = cups_station(tmp_path, cupsd, PDF_PRINTER)
    station.start(env={"PRINTSTATION_CRASH_AT": point})
    drop_by_rename(station, "a.json", js(special(number="00160001")))
    wait_for(lambda: station.proc.poll() is not None, timeout=20, what=f"crash at {point}")
    with running(station):
        wait_for(lambda: (station.result("a.json") or {}).get("state") == "printed",
                 timeout=30, what="printed after the restart")
        time.sleep(1)
        assert out_numbers(cupsd.outputs("ps-pdf")) == ["00160001"]


def test_an_empty_held_job_left_by_a_crash_is_cancelled_not_adopted(tmp_path,
                                                                     clean_queues) -> None:
    """The daemon died after Create-Job and before the page was sent (drivers/cups_driver.py
    makes a job in these two requests): CUPS holds an empty job under the invoice's name.
    The next try cancels it and makes the job again, and the invoice prints once; adopting
    and releasing it would have left CUPS waiting for a document that never comes."""
    import cups

    cupsd = clean_queues
    station = cups_station(tmp_path, cupsd, PDF_PRINTER)
    station.start(env={"PRINTSTATION_CRASH_AT": "before_create"})
    drop_by_rename(station, "a.json", js(special(number="00160009")))
    wait_for(lambda: station.proc.poll() is not None, timeout=20, what="crash before create")
    (job,) = station.jobs()
    cups.setServer(cupsd.server)
    conn = cups.Connection()
    empty = conn.createJob("ps-pdf", f"printstation:{job['id']}",
                           {"job-hold-until": "indefinite"})
    assert conn.getJobAttributes(empty)["number-of-documents"] == 0
    with running(station):
        wait_for(lambda: (station.result("a.json") or {}).get("state") == "printed",
                 timeout=30, what="printed after the restart")
        time.sleep(1)
        assert out_numbers(cupsd.outputs("ps-pdf")) == ["00160009"]
        assert conn.getJobAttributes(empty)["job-state"] == 7  # cancelled
        assert "event=cups.empty_job_cancelled" in station.log_text()
        (done,) = station.jobs()
        assert done["cups_job_id"] != str(empty)


def test_device_failure_then_repair_prints_each_invoice_once(tmp_path, clean_queues) -> None:
    cupsd = clean_queues
    (cupsd.out("ps-pdf") / ".fail").write_text("")
    station = cups_station(tmp_path, cupsd, PDF_PRINTER)
    with running(station):
        for i in range(3):
            drop_by_rename(station, f"f{i}.json", js(special(number=f"0017000{i}")))
        def device_state() -> str | None:
            daemon = json.loads(station.cli("status", "--json").stdout)["daemon"] or {}
            return ((daemon.get("printers") or [{}])[0].get("device") or {}).get("state")

        wait_for(lambda: device_state() == "stopped", timeout=30,
                 what="the queue stopped by its failing device")
        (cupsd.out("ps-pdf") / ".fail").unlink()
        cupsd.lp("cupsenable", "ps-pdf")
        wait_for(lambda: all((station.result(f"f{i}.json") or {}).get("state") == "printed"
                             for i in range(3)), timeout=60, what="all printed after repair")
        time.sleep(1)
        assert sorted(out_numbers(cupsd.outputs("ps-pdf"))) == ["00170000", "00170001",
                                                               "00170002"]


def test_cupsd_down_for_20_seconds_mid_run(tmp_path, clean_queues) -> None:
    cupsd = clean_queues
    station = cups_station(tmp_path, cupsd, PDF_PRINTER)
    with running(station):
        for i in range(5):
            drop_by_rename(station, f"d{i}.json", js(special(number=f"0018000{i}")))
        wait_for(lambda: len(cupsd.outputs("ps-pdf")) >= 2, timeout=30, what="some printed")
        cupsd.stop()
        for i in range(5, 10):
            drop_by_rename(station, f"d{i}.json", js(special(number=f"0018000{i}")))
        time.sleep(20)
        assert station.proc.poll() is None  # the daemon stays up while CUPS is down
        check = station.cli("status", "--check")
        assert check.returncode == 1 and "printer a is down" in check.stdout
        cupsd.start()
        names = [f"d{i}.json" for i in range(10)]

        def settled() -> bool:
            jobs = station.jobs()
            return all(j["state"] in ("printed", "uncertain") for j in jobs) and len(jobs) == 10

        wait_for(settled, timeout=90, what="every job printed or uncertain")
        # A job cupsd was running when it went down ends "completed with errors" (or is
        # forgotten): printstation cannot know whether its sheet came out, so it is
        # uncertain, never resubmitted. The clerk looks at the tray and settles it: a good
        # copy is --printed; a cut-off one is --spoiled and the invoice reprinted.
        time.sleep(1)
        good = out_numbers(cupsd.outputs("ps-pdf"))
        for job in station.jobs():
            if job["state"] == "uncertain":
                number = job["invoice_key"].split("-")[1]
                if number in good:
                    assert station.cli("resolve", job["id"], "--printed").returncode == 0
                else:
                    assert station.cli("resolve", job["id"], "--spoiled").returncode == 0
                    assert station.cli("reprint", job["invoice_key"], "--reason",
                                       "cut off when CUPS stopped").returncode == 0

        def all_printed() -> bool:
            with sqlite3.connect(station.data / "journal.db") as conn:
                return conn.execute("SELECT count(*) FROM invoices WHERE state = 'printed'"
                                    ).fetchone()[0] == 10

        wait_for(all_printed, timeout=30, what="every invoice printed")
        time.sleep(1)
        # Exactly one good copy of each invoice came out.
        assert sorted(out_numbers(cupsd.outputs("ps-pdf"))) == [f"0018000{i}" for i in range(10)]
        assert all(station.result(n) for n in names)


def test_24_pin_output_replayed_lands_at_anchor_plus_offset_less_the_margin(
        tmp_path, clean_queues) -> None:
    """The ESC/P bytes are replayed into dots (tests/harness/escp.py) and compared with the
    preview rasterised at the same 180 dpi: the ink is where the page puts it, moved by
    exactly the driver's 6.35 mm hardware margin (TECH.md), not scaled."""
    from printstation.drivers import render_invoice
    from printstation.harness.escp import bbox, replay
    from printstation.harness.pngio import raster
    from printstation.invoice import read_file

    cupsd = clean_queues
    station = cups_station(tmp_path, cupsd, """
[printers.lq]
driver = "cups"
queue = "ps-epson"
stocks = ["vat-special"]
offsets = { vat-special = [2.0, 3.0] }
""")
    data = js(special(number="00190001"))
    with running(station):
        drop_by_rename(station, "a.json", data)
        (out,) = wait_for(lambda: cupsd.outputs("ps-epson"), timeout=60, what="ESC/P output")
        wait_for(lambda: (station.result("a.json") or {}).get("state") == "printed",
                 what="printed")
    dots = replay(out.read_bytes())
    invoice = read_file("a.json", data).items[0].invoice
    page = render_invoice(invoice, STOCKS["vat-special"], (2.0, 3.0))
    width, _, pixels = raster(page, tmp_path, dpi=180)
    ink = [(i % width, i // width) for i, v in enumerate(pixels) if v < 128]
    printed, expected = bbox(dots), bbox(ink)
    shift = [(printed[k] - expected[k]) * 25.4 / 180 for k in range(4)]
    for value in shift:  # left, top, right, bottom edges of all the ink
        assert abs(value - (-6.35)) <= 0.5, shift


def test_a_queue_without_the_stock_size_is_reported_at_start(tmp_path, clean_queues) -> None:
    cupsd = clean_queues
    station = cups_station(tmp_path, cupsd, """
[printers.a]
driver = "cups"
queue = "ps-pdf"
stocks = ["vat-special", "vat-roll-76"]
[printers.odd]
driver = "cups"
queue = "no-such-queue"
stocks = ["vat-special"]
""")
    with running(station):
        def printers() -> dict:
            daemon = json.loads(station.cli("status", "--json").stdout)["daemon"] or {}
            return {p["name"]: p for p in daemon.get("printers", [])}

        found = wait_for(lambda: (p := printers()) and p.get("odd", {}).get("error") and p,
                         what="the missing queue reported")
        assert found["odd"]["up"] is False and found["a"]["up"] is True
        check = station.cli("status", "--check")
        assert check.returncode == 1 and "printer odd is down" in check.stdout


def test_cupsdisable_during_a_run_then_cupsenable(tmp_path, clean_queues) -> None:
    cupsd = clean_queues
    station = cups_station(tmp_path, cupsd, PDF_PRINTER)
    with running(station):
        numbers = [f"{200100 + i:08d}" for i in range(8)]
        for number in numbers[:3]:
            drop_by_rename(station, f"{number}.json", js(special(number=number)))
        wait_for(lambda: len(cupsd.outputs("ps-pdf")) >= 2, timeout=30, what="first outputs")
        cupsd.lp("cupsdisable", "ps-pdf")
        for number in numbers[3:]:
            drop_by_rename(station, f"{number}.json", js(special(number=number)))
        time.sleep(3)
        stalled = len(cupsd.outputs("ps-pdf"))
        time.sleep(2)
        assert len(cupsd.outputs("ps-pdf")) == stalled < 8  # nothing prints while disabled
        cupsd.lp("cupsenable", "ps-pdf")
        wait_for(lambda: all((station.result(f"{n}.json") or {}).get("state") == "printed"
                             for n in numbers), timeout=60, what="all printed after enable")
        time.sleep(1)
        assert out_numbers(cupsd.outputs("ps-pdf")) == numbers  # once each, in order
