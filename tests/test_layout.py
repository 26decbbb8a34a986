"""Rendering onto stock: every field at anchor + offset, fonts embedded, golden previews,
long texts decided before printing, and the preview and calibrate commands."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from printstation.config import load_settings, load_stocks
from printstation.daemon.checks import check_file
from printstation.daemon.context import Context
from printstation.drivers import ensure_font, render_calibration, render_invoice
from printstation.drivers.render import _placements
from printstation.harness.docs import js, line, special, with_lines
from printstation.harness.kit import EXE, ROOT, Station, drop_by_rename, wait_for
from printstation.harness.pdfpos import all_positions
from printstation.harness.pngio import raster, read_png, write_png
from printstation.invoice import read_file

STOCKS, _ = load_stocks()
OFFSETS = [(0.0, 0.0), (2.5, -1.2), (-30.0, 30.0)]
GOLDEN = ROOT / "tests" / "golden"


def populated(stock: str):
    """An invoice that fills every field and every item row of `stock`, texts unique."""
    rows = STOCKS[stock].items.rows
    lines = [line(f"{100 + i}.00", "0.13", name=f"*货物*第{i + 1}行品名", spec=f"S-{i + 1}",
                  unit=f"件{i + 1}", quantity=f"{i + 1}", unit_price=f"{(100 + i) / (i + 1)}")
             for i in range(rows)]
    doc = with_lines(lines, kind=stock, check_code="12345 67890 12345 67890",
                     machine_no="661234567890", remarks="备注：合同号 HT-2026-0001",
                     payee="赵敏", reviewer="钱进", drawer="孙丽",
                     cipher="0123456789<>+-*/0123456789<>\n" * 3 + "9876543210<>+-*/9876543210<>")
    doc["buyer"]["address_phone"] = "北京市海淀区知春路63号 010-62001111"
    if stock == "einvoice":
        del doc["code"]
        doc["number"] = "26112000000012345678"
    for li in doc["lines"]:
        li.pop("quantity"), li.pop("unit_price")
    return read_file("a.json", js(doc)).items[0].invoice


def positions(pdf: bytes) -> dict[str, tuple[float, float, float, str]]:
    """text -> (x, y, size, "") of its first drawing."""
    return {t: (*places[0], "") for t, places in all_positions(pdf).items()}


@pytest.mark.parametrize("offset", OFFSETS, ids=["zero", "small", "extreme"])
@pytest.mark.parametrize("stock_name", sorted(STOCKS))
def test_every_field_lands_at_anchor_plus_offset(stock_name: str,
                                                 offset: tuple[float, float]) -> None:
    stock = STOCKS[stock_name]
    invoice = populated(stock_name)
    found = all_positions(render_invoice(invoice, stock, offset))
    font = ensure_font()
    checked = 0
    for name, spec, text, y in _placements(invoice, stock):
        if not text or name == "cipher":
            continue
        assert text in found, f"{name}: {text!r} not on the page"
        places = []
        for x0, y0, size in found[text]:
            width = stringWidth(text, font, size) / mm
            start = {"left": spec.x, "right": spec.x - width,
                     "centre": spec.x - width / 2}[spec.align]
            places.append((round(x0 - start - offset[0], 2), round(y0 - y - offset[1], 2)))
        # The same text may stand in several rows (a rate); one of them must be this one.
        assert any(abs(dx) <= 0.1 and abs(dy) <= 0.1 for dx, dy in places), (name, places)
        checked += 1
    assert checked >= len(stock.fields) - 2


def test_cipher_prints_in_fixed_width_rows() -> None:
    stock = STOCKS["vat-special"]
    pdf = render_invoice(populated("vat-special"), stock)
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    centres: dict[float, list[float]] = {}
    font = ensure_font()

    def visit(text, cm, tm, font_dict, size):
        if len(text.strip()) == 1 and tm[4] > stock.fields["cipher"].x * mm - 1:
            # Each character is centred in its cell: its centre is start + width / 2.
            centre = tm[4] + stringWidth(text.strip(), font, size) / 2
            centres.setdefault(round(tm[5], 1), []).append(centre)

    page.extract_text(visitor_text=visit)
    rows = [sorted(v) for _, v in sorted(centres.items(), reverse=True) if len(v) >= 20]
    assert len(rows) == 4
    pitch = stock.fields["cipher"].width * mm / 28
    for row in rows:
        assert row[0] == pytest.approx(stock.fields["cipher"].x * mm + pitch / 2, abs=0.2)
        for a, b in itertools.pairwise(row):
            assert b - a == pytest.approx(pitch, abs=0.05)


def pdffonts(pdf: bytes, folder: Path) -> list[str]:
    path = folder / "f.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", path], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[2:]


def test_every_font_of_every_kind_of_page_is_embedded(tmp_path: Path) -> None:
    pages = [render_invoice(populated(s), STOCKS[s]) for s in STOCKS]
    pages += [render_invoice(populated(s), STOCKS[s], background=True) for s in STOCKS]
    pages += [render_calibration(STOCKS[s], (1.5, -0.5), "front") for s in STOCKS]
    for pdf in pages:
        rows = pdffonts(pdf, tmp_path)
        assert rows
        for row in rows:
            assert row.split()[-5] == "yes", row  # the "emb" column
            assert "Helvetica" not in row


@pytest.mark.parametrize("stock_name", sorted(STOCKS))
def test_golden_preview_with_background(stock_name: str, tmp_path: Path) -> None:
    """Rasterised at 75 dpi; tolerance: at most 0.01 % of pixels may differ by more than 64
    levels (anti-aliasing noise from another poppler build); a field moved by 1 mm changes
    several times that. Set PRINTSTATION_UPDATE_GOLDEN=1 to rewrite the committed images
    after a deliberate change."""
    pdf = render_invoice(populated(stock_name), STOCKS[stock_name], background=True)
    width, height, pixels = raster(pdf, tmp_path, dpi=75)
    golden = GOLDEN / f"{stock_name}.png"
    if os.environ.get("PRINTSTATION_UPDATE_GOLDEN") or not golden.exists():
        if os.environ.get("CI") and not golden.exists():
            pytest.fail(f"{golden} is missing")
        write_png(golden, width, height, pixels)
    g_width, g_height, expected = read_png(golden)
    assert (g_width, g_height) == (width, height)
    diff = bytes(255 if abs(a - b) > 64 else 0 for a, b in zip(pixels, expected, strict=True))
    changed = diff.count(255)
    if changed > 0.0001 * width * height:
        write_png(tmp_path / f"{stock_name}.actual.png", width, height, pixels)
        write_png(tmp_path / f"{stock_name}.diff.png", width, height, diff)
        pytest.fail(f"{stock_name}: {changed} pixels differ; see {tmp_path}/{stock_name}"
                    ".diff.png and .actual.png")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    import datetime as dt

    settings = load_settings(None, cwd=tmp_path_factory.mktemp("layout"))
    return Context(settings, STOCKS, clock=lambda: dt.datetime(2026, 11, 28, tzinfo=dt.UTC))


def test_a_100_byte_buyer_name_shrinks_and_stays_in_its_box(ctx: Context) -> None:
    name = "国" * 50  # 100 GBK bytes, the most the form allows
    doc = special(buyer={**special()["buyer"], "name": name})
    assert check_file("a.json", js(doc), ctx).valid
    stock = STOCKS["vat-special"]
    x, _, size, _ = positions(render_invoice(read_file("a.json", js(doc)).items[0].invoice,
                                             stock))[name]
    spec = stock.fields["buyer.name"]
    assert size < spec.size
    assert x == pytest.approx(spec.x, abs=0.1)
    assert x + stringWidth(name, ensure_font(), size) / mm <= spec.x + spec.width + 0.01


def test_a_long_item_name_wraps_inside_its_row(ctx: Context) -> None:
    long_name = "*货物*" + "长" * 40  # 86 bytes: valid, too wide for one line
    doc = with_lines([line("1.00", name=long_name), line("2.00")])
    assert check_file("a.json", js(doc), ctx).valid
    found = positions(render_invoice(read_file("a.json", js(doc)).items[0].invoice,
                                     STOCKS["vat-special"]))
    parts = [t for t in found if t.startswith("*货物*") or set(t) == {"长"}]
    assert len(parts) == 2
    first, second = sorted(found[p][1] for p in parts)
    rows = STOCKS["vat-special"].items
    assert first == pytest.approx(rows.y, abs=0.1) and second < rows.y + rows.pitch - 0.5


def test_an_item_name_that_cannot_fit_even_wrapped_is_refused_before_printing(
        ctx: Context) -> None:
    name = "*货物*" + "长" * 42  # 90 GBK bytes: allowed by width rules, too long for a roll
    doc = with_lines([line("1.00", name=name)], kind="vat-roll-76", code="011002400111")
    checked = check_file("a.json", js(doc), ctx)
    (problem,) = checked.entries[0].problems
    assert (problem.code, problem.field) == ("text.too_long", "lines[0].name")
    assert "30 mm" in problem.en and "wrapped" in problem.en and "换行" in problem.zh


def test_preview_command(tmp_path: Path) -> None:
    sample = ROOT / "config" / "samples" / "vat-special.json"
    run = subprocess.run([EXE, "preview", sample, "-o", tmp_path / "p.pdf", "--background"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    found = positions((tmp_path / "p.pdf").read_bytes())
    assert "购" in found and "1100243130" in found  # the form's labels and the data
    run = subprocess.run([EXE, "preview", sample, "-o", tmp_path / "p.png"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    header = (tmp_path / "p.png").read_bytes()[:24]
    assert header.startswith(b"\x89PNG") and int.from_bytes(header[16:20], "big") == \
        round(241.3 / 25.4 * 150)
    bad = tmp_path / "bad.json"
    bad.write_bytes(js(special(total="1.00")))
    run = subprocess.run([EXE, "preview", bad, "-o", tmp_path / "b.pdf"], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 1 and "[total.sum]" in run.stderr
    assert (tmp_path / "b.pdf").exists()  # still rendered, so the clerk can see it


def test_calibrate_sheet_and_offset(tmp_path: Path) -> None:
    sheet = subprocess.run([EXE, "calibrate", "pdf", "--stock", "vat-special"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert sheet.returncode == 0, sheet.stderr
    (pdf,) = (tmp_path / "printstation-data" / "printed").glob("calibration-*.pdf")
    box = PdfReader(pdf).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (684, 396)
    assert "printstation calibrate pdf --stock vat-special --offset X,Y" in \
        "".join(positions(pdf.read_bytes()))
    bad = subprocess.run([EXE, "calibrate", "pdf", "--stock", "vat-special", "--offset",
                          "30.5,0"], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "from -30 to 30" in bad.stderr
    state = tmp_path / "printstation-data" / "calibration.toml"
    assert not state.exists()  # refused before anything was written
    for value in ("1.5,-0.5", "-2.5,1.2"):
        run = subprocess.run([EXE, "calibrate", "pdf", "--stock", "vat-special", "--offset",
                              value], capture_output=True, text=True, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
    run = subprocess.run([EXE, "calibrate", "pdf", "--stock", "einvoice", "--offset", "0.3,0"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    settings = load_settings(None, cwd=tmp_path)
    assert settings.printer("pdf").offsets == {"vat-special": (-2.5, 1.2), "einvoice": (0.3, 0)}
    conn = __import__("sqlite3").connect(tmp_path / "printstation-data" / "journal.db")
    events = [json.loads(p) for (p,) in conn.execute(
        "SELECT payload FROM events WHERE type = 'calibration.offset' ORDER BY seq")]
    assert [(e["old"], e["new"]) for e in events] == [
        ([0.0, 0.0], [1.5, -0.5]), ([1.5, -0.5], [-2.5, 1.2]), ([0.0, 0.0], [0.3, 0.0])]


@pytest.mark.e2e
def test_a_new_offset_reaches_the_running_daemon(station: Station) -> None:
    station.start()
    drop_by_rename(station, "a.json", js(special(number="00081001")))
    wait_for(lambda: station.result("a.json"), what="first invoice")
    run = station.cli("calibrate", "pdf", "--stock", "vat-special", "--offset", "2.5,-1.2")
    assert run.returncode == 0 and "no running daemon" not in run.stdout, run.stderr
    assert "calibration.toml" in run.stdout
    # In force once the command returns: the daemon made it, no reload needed.
    drop_by_rename(station, "b.json", js(special(number="00081002")))
    wait_for(lambda: station.result("b.json"), what="second invoice")
    spec = STOCKS["vat-special"].fields["number"]
    for number, (dx, dy) in (("00081001", (0, 0)), ("00081002", (2.5, -1.2))):
        (pdf,) = station.printed.glob(f"*{number}.pdf")
        x, y, _, _ = positions(pdf.read_bytes())[number]
        assert (x, y) == (pytest.approx(spec.x + dx, abs=0.1), pytest.approx(spec.y + dy, abs=0.1))
    assert "event=config.reloaded" not in station.log_text()
    # A broken config is refused on reload and printing goes on with the old one.
    (station.folder / "conf.d").mkdir(exist_ok=True)
    (station.folder / "conf.d" / "99-broken.toml").write_text("[intake]\nsettle_ms = 1\n")
    station.proc.send_signal(__import__("signal").SIGHUP)
    wait_for(lambda: "event=config.reload_rejected" in station.log_text(), what="rejection")
    drop_by_rename(station, "c.json", js(special(number="00081003")))
    wait_for(lambda: station.result("c.json"), what="third invoice")
    assert station.result("c.json")["state"] == "printed"
    station.stop()


def test_offsets_that_push_fields_off_the_page_are_config_errors(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text('[station]\nid = "X"\n[printers.a]\ndriver = "directory"\npath = "o"\n'
                      'stocks = ["vat-special"]\noffsets = { vat-special = [-20, 0] }\n')
    run = subprocess.run([EXE, "--config", config, "check-config"], capture_output=True,
                         text=True)
    assert run.returncode == 78
    assert "printers.a.offsets: vat-special: [-20, 0] would move" in run.stderr
    assert dataclasses.is_dataclass(STOCKS["vat-special"])


def test_calibrate_on_a_cups_printer_with_cups_down_exits_69(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text(f'[station]\nid = "X"\n[cups]\nserver = "{tmp_path}/no.sock"\n'
                      '[printers.lq]\ndriver = "cups"\nqueue = "LQ"\nstocks = ["vat-special"]\n')
    run = subprocess.run([EXE, "--config", config, "calibrate", "lq", "--stock", "vat-special"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 69 and "lq:" in run.stderr and "Traceback" not in run.stderr
