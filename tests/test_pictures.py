"""Pictures of pages for the web console (daemon/pictures.py).

A job that printed is shown by the page that went to the printer (kept in the archive),
whatever the configuration says now; a job still waiting by the page it will print, drawn
by the print stage's own code; the calibration preview moves the data over the blank form
as the offset moves, and leaves the form where it is.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from printstation.config import load_config
from printstation.daemon.context import Context
from printstation.daemon.pictures import NoPicture, calibration_png, job_page_png
from printstation.drivers import render_invoice
from printstation.drivers.preview import png_of
from printstation.harness import einvoice_pdfs
from printstation.harness.kit import (
    Station,
    drop_by_rename,
    invoice,
    running,
    wait_for,
    write_config,
)
from printstation.invoice import invoice_from_dict
from printstation.spool import Journal, Outcome, State, connect

DPI = 100
PX_PER_MM = DPI / 25.4
KEY = "1100243130-00017201"


def context(config: Path) -> Context:
    return Context.of(load_config(config))


def reader(station: Station) -> sqlite3.Connection:
    return connect(station.data / "journal.db", readonly=True)


def state_of(station: Station, job: str) -> str | None:
    rows = [j for j in station.jobs() if j["id"] == job]
    return rows[0]["state"] if rows else None


def with_offset(config: Path, offset: str) -> Path:
    """The same station's configuration with another offset for vat-special, read in the
    test only (the running daemon keeps its own)."""
    other = config.with_name("other.toml")
    other.write_text(config.read_text("utf-8").replace(
        "offsets = { vat-special = [0, 0] }", f"offsets = {{ vat-special = {offset} }}"),
        "utf-8")
    return other


@pytest.mark.e2e
def test_a_job_is_shown_by_the_page_it_will_print_then_by_the_page_it_printed(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, 'paper_check = "match"\n'
                                    "offsets = { vat-special = [0, 0] }")
    station = Station(tmp_path, config)
    ctx = context(config)
    with running(station):
        drop_by_rename(station, "a.json", json.dumps(invoice("00017201"),
                                                     ensure_ascii=False).encode())
        drop_by_rename(station, "bad.json", b"{ not json")
        wait_for(lambda: any(j["invoice_key"] == KEY and j["state"] == "held"
                             for j in station.jobs()), what="held for paper")
        job = next(j["id"] for j in station.jobs() if j["invoice_key"] == KEY)
        rejected = wait_for(lambda: next((j["id"] for j in station.jobs()
                                          if j["state"] == "rejected"), None), what="rejected")
        with reader(station) as conn:
            waiting = job_page_png(ctx, conn, job, DPI)
            # A rejected file has no page; an unknown job is no job.
            with pytest.raises(NoPicture):
                job_page_png(ctx, conn, rejected, DPI)
            with pytest.raises(KeyError):
                job_page_png(ctx, conn, "NOSUCHJOB", DPI)
        assert waiting.startswith(b"\x89PNG")
        loaded = station.cli("paper", "load", "pdf", "--stock", "vat-special", "--from",
                             "00017201", "--to", "00017201")
        assert loaded.returncode == 0, loaded.stderr
        wait_for(lambda: state_of(station, job) == "printed", what="printed")
    [page] = [p for p in station.renders() if p.name == f"{job}.pdf"]
    moved = context(with_offset(config, "[4, 0]"))
    with reader(station) as conn:
        printed = job_page_png(ctx, conn, job, DPI)
        # The page as it went: the archived page, even with another offset set since.
        assert printed == png_of(page.read_bytes(), DPI)
        assert job_page_png(moved, conn, job, DPI) == printed
        # The picture drawn while it waited was the page that printed.
        assert waiting == printed
        # The archived page removed (retention): drawn again with the offset journaled
        # when it went, not today's.
        page.unlink()
        assert job_page_png(moved, conn, job, DPI) == printed


@pytest.mark.e2e
def test_an_einvoice_is_shown_placed_on_its_paper(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    station = Station(tmp_path, config)
    ctx = context(config)
    with running(station):
        drop_by_rename(station, "e.pdf", einvoice_pdfs.digital().data)
        job = wait_for(lambda: next((j["id"] for j in station.jobs()
                                     if j["state"] == "printed"), None), what="printed")
        wait_for(lambda: station.archived(), what="file archived")
    [page] = [p for p in station.renders() if p.name == f"{job}.pdf"]
    with reader(station) as conn:
        printed = job_page_png(ctx, conn, job, DPI)
        assert printed == png_of(page.read_bytes(), DPI)
        # On A4 (the e-invoice's plain paper), not on its own page size (210 × 140).
        width, height = Image.open(io.BytesIO(printed)).size
        assert abs(width - 210 * PX_PER_MM) <= 1 and abs(height - 297 * PX_PER_MM) <= 1
        # Drawn again from its file, now in the archive, the same page comes out.
        page.unlink()
        assert job_page_png(ctx, conn, job, DPI) == printed
        for archived in station.archived():
            archived.unlink()
        with pytest.raises(NoPicture):
            job_page_png(ctx, conn, job, DPI)


# -- without a daemon ----------------------------------------------------------------------

@pytest.fixture
def station_ctx(tmp_path: Path) -> Iterator[tuple[Context, Journal]]:
    config = write_config(tmp_path, "offsets = { vat-special = [1.5, -0.5] }")
    ctx = context(config)
    ctx.spool.create()
    journal = Journal(ctx.settings.journal_path, ctx.settings.station.id)
    yield ctx, journal
    journal.close()


def test_a_queued_job_is_drawn_with_its_printers_offset(
        station_ctx: tuple[Context, Journal]) -> None:
    ctx, journal = station_ctx
    doc = invoice("00017301")
    journal.register_source("S1", b"q.json", "S1--q.json", None, 10)
    journal.register_source("S2", b"r.json", "S2--r.json", None, 10)
    journal.settle_read(journal.next_incoming(), [Outcome(
        State.QUEUED, kind="vat-special", invoice_key="1100243130-00017301", printer="pdf",
        invoice_json=json.dumps(doc, ensure_ascii=False))])
    stock = ctx.stocks["vat-special"]
    with connect(ctx.settings.journal_path, readonly=True) as conn:
        picture = job_page_png(ctx, conn, "S1", DPI)
        assert picture == png_of(render_invoice(invoice_from_dict(doc), stock, (1.5, -0.5)),
                                 DPI)
        assert picture != png_of(render_invoice(invoice_from_dict(doc), stock), DPI)
        width, height = Image.open(io.BytesIO(picture)).size
        assert abs(width - stock.width_mm * PX_PER_MM) <= 1
        assert abs(height - stock.height_mm * PX_PER_MM) <= 1
        with pytest.raises(NoPicture):  # not read yet: nothing to draw
            job_page_png(ctx, conn, "S2", DPI)


def masks(png: bytes) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The bounding boxes of the data (black) and of the blank form (drawn reddish grey)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    data = Image.new("1", image.size)
    form = Image.new("1", image.size)
    pixels = list(image.get_flattened_data() if hasattr(image, "get_flattened_data")
                  else image.getdata())
    data.putdata([max(p) < 60 for p in pixels])
    form.putdata([r > g + 30 and r > b + 30 for r, g, b in pixels])
    data_box, form_box = data.getbbox(), form.getbbox()
    assert data_box and form_box
    return data_box, form_box


def test_the_calibration_preview_moves_the_data_over_the_form(
        station_ctx: tuple[Context, Journal]) -> None:
    ctx, _ = station_ctx
    still_data, still_form = masks(calibration_png(ctx, "pdf", "vat-special", (0, 0), DPI))
    right_data, right_form = masks(calibration_png(ctx, "pdf", "vat-special", (5, 0), DPI))
    down_data, down_form = masks(calibration_png(ctx, "pdf", "vat-special", (0, 3), DPI))
    # The form stays where the paper has it.
    assert still_form == right_form == down_form
    # 5 mm right moves every column of data 5 mm right; 3 mm down, every row down.
    assert abs(right_data[0] - still_data[0] - 5 * PX_PER_MM) <= 1
    assert abs(right_data[2] - still_data[2] - 5 * PX_PER_MM) <= 1
    assert right_data[1] == still_data[1]
    assert abs(down_data[1] - still_data[1] - 3 * PX_PER_MM) <= 1
    assert abs(down_data[3] - still_data[3] - 3 * PX_PER_MM) <= 1
    assert down_data[0] == still_data[0]
    # No offset given: the printer's own.
    assert calibration_png(ctx, "pdf", "vat-special", dpi=DPI) == \
        calibration_png(ctx, "pdf", "vat-special", (1.5, -0.5), DPI)


def test_the_calibration_preview_refuses_what_it_cannot_draw(
        station_ctx: tuple[Context, Journal], tmp_path: Path) -> None:
    ctx, _ = station_ctx
    for printer, stock in (("nosuch", "vat-special"), ("pdf", "nosuch")):
        with pytest.raises(KeyError):
            calibration_png(ctx, printer, stock)
    one = context(write_config(tmp_path / "one", printers='[printers.one]\ndriver = '
                               '"directory"\npath = "printed"\nstocks = ["vat-special"]\n'))
    with pytest.raises(KeyError):  # a stock this printer does not hold
        calibration_png(one, "one", "vat-ordinary")
    assert calibration_png(one, "one", "vat-special").startswith(b"\x89PNG")
    for offset in ((60, 0), (float("nan"), 0), ("1", 0), (True, 0), (1,)):
        with pytest.raises(ValueError):
            calibration_png(ctx, "pdf", "vat-special", offset)  # type: ignore[arg-type]
