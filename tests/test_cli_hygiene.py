"""The command line as IT and clerks meet it: --version, help that says what each command
takes, the man page and completion made from the parser, a quiet end in `| head`, unknown
values named with the closest ones, a broken drop-in that does not stop clerks looking,
calibration like 套打 (--adjust, --sample, Chinese labels), streaming journal, progress on
a terminal only, samples and the example config as they claim to be."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import pty
import re
import sqlite3
import subprocess
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from printstation.cli import actions, manpage, pipes, progress
from printstation.cli.parser import build_parser
from printstation.cli.rendering import sample_invoice
from printstation.config import load_config, load_settings
from printstation.config.schema import PRINTER_KEYS, SECTIONS
from printstation.drivers import render_calibration
from printstation.harness.kit import EXE, ROOT, SAMPLES, write_config
from printstation.harness.pdfpos import positions
from printstation.invoice import Rules, read_file, validate
from printstation.spool import Journal, State

ENGLISH = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
ENGLISH.pop("PRINTSTATION_CONFIG", None)


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
        config: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [str(EXE), *(["--config", str(config)] if config else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd,
                          env=env or ENGLISH)


def one_line(run: subprocess.CompletedProcess) -> str:
    """The single stderr line of an error, never a Python exception's name."""
    assert "Traceback" not in run.stderr and not re.search(r"\w+Error\b", run.stderr), \
        run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A station whose journal holds 12,000 events: more than a pipe buffer of output, and
    more than one progress step of `journal --verify`."""
    folder = tmp_path_factory.mktemp("big")
    config = write_config(folder)
    (folder / "data").mkdir()
    journal = Journal(folder / "data" / "journal.db", "TEST-001")
    with journal.transaction():
        for n in range(12_000):
            journal.append_event("test.filler", payload={"n": n, "text": "发票" * 20})
    journal.close()
    return config


# -- --version, help, man page, completion ---------------------------------------------

def test_version_is_the_installed_distributions(tmp_path: Path) -> None:
    run = cli("--version", cwd=tmp_path)
    assert run.returncode == 0
    assert run.stdout.strip() == f"printstation {importlib.metadata.version('printstation')}"


def test_every_command_says_what_it_does_and_every_argument_what_it_takes() -> None:
    parser = build_parser()
    found = list(manpage.commands(parser))
    assert {" ".join(w) for w, _, _ in found} >= {
        "run", "check-config", "status", "queue", "show", "preview", "calibrate", "hold",
        "resolve", "void", "reprint", "paper load", "paper show", "paper spoil", "journal",
        "backup", "sync", "reconcile", "receiver", "validate"}
    for words, summary, sub in found:
        assert summary and sub.description, words
        for action in manpage.shown(sub):
            assert action.help and len(action.help) > 8, (words, action.dest)
            if action.nargs != 0:  # a value's form is named: X,Y, HOST:PORT, FILE…
                assert action.metavar or action.choices, (words, action.dest)
    helps = {" ".join(w): sub.format_help() for w, _, sub in found}
    assert all(state.value in helps["queue"] for state in State)
    assert "YYYY-MM-DD" in helps["journal"] and "--limit N" in helps["journal"]
    for option in ("--offset X,Y", "--adjust DX,DY", "--sample"):
        assert option in helps["calibrate"]
    assert "向右" in helps["calibrate"] and "向下" in helps["calibrate"]
    assert "in mm" in helps["calibrate"]


def test_man_page_renders_and_lists_every_command(tmp_path: Path) -> None:
    page = tmp_path / "printstation.1"
    assert manpage.main(["man", str(page)]) == 0
    run = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True,
                         text=True, env={**ENGLISH, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""})
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr
    text = run.stdout
    assert text.startswith("PRINTSTATION(1)")
    for heading in ("NAME", "SYNOPSIS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT", "FILES"):
        assert re.search(rf"^{heading}$", text, re.M), heading
    for words, _, _ in manpage.commands(build_parser()):
        assert re.search(rf"^ +{re.escape(' '.join(words))}$", text, re.M), words
    assert "--adjust DX,DY" in text and "PRINTSTATION_CONFIG" in text and "78" in text


def complete(script: Path, *words: str) -> list[str]:
    """What the completion offers for the command line `words` (the last one is being
    typed), through bash's own completion variables."""
    quoted = " ".join(f"'{w}'" for w in words)
    run = subprocess.run(
        ["bash", "--norc", "-c", f'source "{script}"; COMP_WORDS=({quoted}); '
         'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _printstation; printf "%s\\n" "${COMPREPLY[@]}"'],
        capture_output=True, text=True, check=True)
    return [w for w in run.stdout.splitlines() if w]


def test_bash_completion_completes_commands_options_and_values(tmp_path: Path) -> None:
    script = tmp_path / "printstation"
    assert manpage.main(["bash", str(script)]) == 0
    assert "calibrate" in complete(script, "printstation", "")
    assert complete(script, "printstation", "ca") == ["calibrate", "cancel"]
    assert complete(script, "printstation", "--config", "x.toml", "qu") == ["queue"]
    assert complete(script, "printstation", "paper", "") == ["load", "show", "spoil"]
    assert complete(script, "printstation", "queue", "--state", "unc") == ["uncertain"]
    assert "--adjust" in complete(script, "printstation", "calibrate", "pdf", "--")
    assert complete(script, "printstation", "calibrate", "pdf", "--stock", "vat-s") == \
        ["vat-special"]
    assert complete(script, "printstation", "validate", str(SAMPLES / "vat-sp")) == \
        [str(SAMPLES / "vat-special.json")]


# -- pipes -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["", "--json", "--csv"])
def test_output_cut_short_by_head_ends_quietly(big: Path, fmt: str) -> None:
    cmd = [str(EXE), "--config", str(big), "journal", *([fmt] if fmt else [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENGLISH)
    assert proc.stdout and proc.stderr
    proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does once it has its line
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == pipes.EXIT_PIPE
    assert stderr == ""


def test_only_a_gone_reader_of_stdout_counts_as_a_quiet_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read, write = os.pipe()
    with os.fdopen(write, "w") as out:
        monkeypatch.setattr("sys.stdout", out)
        assert not pipes.stdout_reader_gone()  # the reader is still there
        os.close(read)
        assert pipes.stdout_reader_gone()
    with open(tmp_path / "file", "w") as out:
        monkeypatch.setattr("sys.stdout", out)
        assert not pipes.stdout_reader_gone()  # a file never has a gone reader


# -- unknown values ----------------------------------------------------------------------

def test_unknown_state_printer_stock_and_job_are_errors(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    run = cli("queue", "--state", "uncertian", cwd=tmp_path, config=config)
    assert run.returncode == 2 and run.stdout == ""
    assert "did you mean 'uncertain'?" in one_line(run)
    run = cli("queue", "--state", "bogus", cwd=tmp_path, config=config)
    assert run.returncode == 2 and "queued" in one_line(run) and "did you mean" not in run.stderr
    assert cli("queue", "--state", "Held", cwd=tmp_path, config=config).returncode == 0
    # A clerk under a Chinese locale reads it in Chinese, and may type the state's name.
    chinese = {**ENGLISH, "LANG": "zh_CN.UTF-8", "LC_ALL": "zh_CN.UTF-8"}
    run = cli("queue", "--state", "uncertian", cwd=tmp_path, config=config, env=chinese)
    assert run.returncode == 2
    assert "没有状态 'uncertian'；您是否要输入 'uncertain'？（状态：接收中, " in one_line(run)
    assert cli("queue", "--state", "待确认", cwd=tmp_path, config=config,
               env=chinese).returncode == 0
    for args in (("paper", "show", "pfd"), ("preview", str(SAMPLES / "vat-special.json"),
                                             "-o", "x.pdf", "--printer", "pfd"),
                 ("paper", "load", "pfd", "--from", "00000001", "--to", "00000002")):
        run = cli(*args, cwd=tmp_path, config=config)
        assert run.returncode == 2, args
        assert "did you mean 'pdf'?" in one_line(run), args
    run = cli("calibrate", "pdf", "--stock", "vat-specail", cwd=tmp_path, config=config)
    assert run.returncode == 2 and "did you mean 'vat-special'?" in one_line(run)
    run = cli("show", "2611ZZZZZZZZZZ", cwd=tmp_path, config=config)
    assert run.returncode == 1
    one_line(run)


def test_preview_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    run = cli("preview", "nope.json", "-o", "x.pdf", cwd=tmp_path)
    assert run.returncode == 2
    assert one_line(run) == "printstation: nope.json: No such file or directory"


# -- a broken conf.d drop-in ---------------------------------------------------------------

@pytest.mark.parametrize("dropin", ["[intake\nsettle_ms = 1\n", "[intake]\nsettle_ms = 'x'\n"])
def test_a_broken_dropin_lets_clerks_read_and_stops_changes(tmp_path: Path, dropin: str) -> None:
    config = write_config(tmp_path)
    (tmp_path / "conf.d").mkdir()
    broken = tmp_path / "conf.d" / "20-broken.toml"
    broken.write_text(dropin, encoding="utf-8")
    sample = str(SAMPLES / "vat-special.json")
    readers = [("status",), ("queue",), ("journal",), ("paper", "show"), ("invoices",),
               ("validate", sample), ("preview", sample, "-o", str(tmp_path / "p.pdf"))]
    changers = [("check-config",), ("run",), ("hold", "J1"),
                ("calibrate", "pdf", "--stock", "vat-special", "--offset", "1,1")]
    if "'x'" in dropin:  # a wrong value is left out the same way as broken TOML
        readers, changers = readers[:1], changers[:1]
    for args in readers:
        run = cli(*args, cwd=tmp_path, config=config)
        assert run.returncode == 0, (args, run.stderr)
        line = one_line(run)
        assert line.startswith("printstation: warning: ignoring") and str(broken) in line
    health = cli("status", "--check", cwd=tmp_path, config=config)
    assert health.returncode == 1 and f"UNHEALTHY: config: {broken} is broken" in health.stdout
    for args in changers:
        run = cli(*args, cwd=tmp_path, config=config)
        assert run.returncode == 78, (args, run.stderr)
        assert str(broken) in run.stderr and "warning" not in run.stderr
    # A broken main file is not left out: nothing can be read without it.
    broken.unlink()
    config.write_text(config.read_text() + "\n[intake\n", encoding="utf-8")
    assert cli("status", cwd=tmp_path, config=config).returncode == 78


# -- calibration like 套打 -----------------------------------------------------------------

def events(folder: Path, kind: str) -> list[dict]:
    conn = sqlite3.connect(folder / "printstation-data" / "journal.db")
    try:
        return [json.loads(p) for (p,) in conn.execute(
            "SELECT payload FROM events WHERE type = ? ORDER BY seq", (kind,))]
    finally:
        conn.close()


def test_adjust_moves_the_offset_from_where_it_is(tmp_path: Path) -> None:
    assert cli("calibrate", "pdf", "--stock", "vat-special", "--offset", "1,1",
               cwd=tmp_path).returncode == 0
    run = cli("calibrate", "pdf", "--stock", "vat-special", "--adjust", "0.5,-2.5", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "moved the print 向右 0.5 毫米，向上 2.5 毫米" in run.stdout
    assert "向右 1.5 毫米，向上 1.5 毫米" in run.stdout
    assert load_settings(None, cwd=tmp_path).printer("pdf").offset_for("vat-special") == \
        (1.5, -1.5)
    run = cli("calibrate", "pdf", "--stock", "vat-special", "--adjust", "-1.5", "2", cwd=tmp_path)
    assert run.returncode == 2  # DX,DY is one argument
    run = cli("calibrate", "pdf", "--stock", "vat-special", "--adjust", "-1.5,1.5", cwd=tmp_path)
    assert run.returncode == 0 and "左右 0，上下 0" in run.stdout, run.stderr
    # The sum is held to the offset's limits: 29 + 1.5 is past ±30 mm.
    run = cli("calibrate", "pdf", "--stock", "vat-roll-76", "--adjust", "0,29", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    run = cli("calibrate", "pdf", "--stock", "vat-roll-76", "--adjust", "0,1.5", cwd=tmp_path)
    assert run.returncode == 2 and "from -30 to 30" in one_line(run)
    assert [(e["stock"], e["old"], e["new"]) for e in events(tmp_path, "calibration.offset")] \
        == [("vat-special", [0.0, 0.0], [1.0, 1.0]), ("vat-special", [1.0, 1.0], [1.5, -1.5]),
            ("vat-special", [1.5, -1.5], [0.0, 0.0]), ("vat-roll-76", [0.0, 0.0], [0.0, 29.0])]


def test_sample_prints_the_stocks_sample_with_the_offset_and_is_journaled(
        tmp_path: Path) -> None:
    assert cli("calibrate", "pdf", "--stock", "vat-special", "--offset", "2,-1",
               cwd=tmp_path).returncode == 0
    run = cli("calibrate", "pdf", "--stock", "vat-special", "--sample", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (pdf,) = (tmp_path / "printstation-data" / "printed").glob("sample-*.pdf")
    config = load_config(None, cwd=tmp_path)
    anchor = config.stocks["vat-special"].fields["number"]
    x, y = positions(pdf.read_bytes())["00045001"]
    assert (x, y) == (pytest.approx(anchor.x + 2, abs=0.1), pytest.approx(anchor.y - 1, abs=0.1))
    (event,) = events(tmp_path, "calibration.sample")
    assert event["invoice"] == "1100243130-00045001" and event["offset_mm"] == [2.0, -1.0]
    assert event["job"] in run.stdout and event["stock"] == "vat-special"
    # Every built-in stock has a sample of its own kind.
    for stock in config.stocks:
        assert sample_invoice(stock).kind == stock


def test_calibration_sheet_labels_its_crosshairs_in_chinese() -> None:
    stocks = load_config(None, cwd=ROOT).stocks
    texts = "".join(positions(render_calibration(stocks["vat-special"], (1.5, -0.5), "front")))
    for label in ("发票号码", "购买方名称", "销售方纳税人识别号", "价税合计（小写）", "第1行金额",
                  "向右 1.5 毫米，向上 0.5 毫米", "--adjust"):
        assert label in texts, label
    assert "buyer.name" not in texts and "total_amount" not in texts


# -- journal: streamed, limited; progress on a terminal only -----------------------------

def test_journal_limit_and_json_stream(big: Path, tmp_path: Path) -> None:
    run = cli("journal", "--limit", "3", "--json", cwd=tmp_path, config=big)
    assert run.returncode == 0
    assert [e["payload"]["n"] for e in json.loads(run.stdout)] == [0, 1, 2]
    # Streamed one event at a time, the text is json.dumps(list, indent=2)'s exactly.
    assert run.stdout == json.dumps(json.loads(run.stdout), ensure_ascii=False, indent=2) + "\n"
    run = cli("journal", "--limit", "5", cwd=tmp_path, config=big)
    assert len(run.stdout.splitlines()) == 1 + 5
    whole = cli("journal", cwd=tmp_path, config=big).stdout.splitlines()
    assert len(whole) == 1 + 12_000 and whole[1].split()[0] == "1"
    assert whole[-1].split()[0] == "12000"
    assert cli("journal", "--limit", "0", cwd=tmp_path, config=big).returncode == 2


def test_journal_search_stops_reading_at_the_limit(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    pulled = []

    def rows(*_: object) -> Iterator[dict]:
        for n in range(1, 1_000_000):
            pulled.append(n)
            yield {"seq": n, "id": f"e{n}", "at": "2026-11-28T01:00:00.000Z", "type": "x",
                   "station": "S", "job_id": None, "invoice_key": None, "payload": "{}",
                   "prev_hash": "0", "hash": "1"}

    monkeypatch.setattr(actions.queries, "events_matching", rows)
    for fmt in ("text", "json", "csv"):
        pulled.clear()
        assert actions.journal_search(object(), None, None, None, fmt, 7) == 0
        assert len(pulled) == 7, fmt
    capsys.readouterr()


def read_pty(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def test_verify_shows_progress_on_a_terminal_and_nothing_in_a_script(big: Path) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(EXE), "--config", str(big), "journal", "--verify"],
                            stdout=subprocess.PIPE, stderr=slave, env=ENGLISH)
    os.close(slave)
    shown = read_pty(master)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    assert re.search(r"events checked: 10000/12000 \(83%\), [\d,]+/s", shown), shown
    quiet = subprocess.run([str(EXE), "--config", str(big), "journal", "--verify"],
                           capture_output=True, text=True, env=ENGLISH)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.startswith("OK: 12000 events")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_meter_counts_totals_and_rates_on_a_terminal_only() -> None:
    now = [0.0]
    screen = Terminal()
    meter = progress.Meter(screen, clock=lambda: now[0])
    meter("events sent", 0, 1000)
    now[0] = 2.0
    meter("events sent", 500, 1000)
    now[0] = 2.05
    meter("events sent", 600, 1000)  # too soon after the last line: not shown
    now[0] = 2.1
    meter("events sent", 1000, 1000)  # the last one always is
    meter.close()
    shown = screen.getvalue()
    assert "events sent: 500/1000 (50%), 250/s" in shown
    assert "600/1000" not in shown and "1000/1000 (100%)" in shown and shown.endswith("\n")
    script = io.StringIO()
    quiet = progress.Meter(script)
    quiet("events sent", 5, 10)
    quiet.close()
    assert script.getvalue() == ""


# -- samples and the example config --------------------------------------------------------

def test_samples_are_valid_and_none_repeats_another() -> None:
    keys: dict[str, str] = {}
    kinds = set()
    for path in sorted(SAMPLES.glob("*.json")):
        read = read_file(path.name, path.read_bytes())
        assert not read.problems, path
        for item in read.items:
            assert not item.problems and validate(item.invoice, Rules(),
                                                  __import__("datetime").date(2026, 11, 28)) == []
            assert item.invoice.key not in keys, (path.name, keys.get(item.invoice.key))
            keys[item.invoice.key] = path.name
            kinds.add(item.invoice.kind)
    assert kinds == {"vat-special", "vat-ordinary", "vat-roll-76", "einvoice"}
    assert len(json.loads((SAMPLES / "batch.json").read_text("utf-8"))["invoices"]) == 2


def commented_keys(text: str) -> Iterator[tuple[str, str, str, str]]:
    """(section, key, value text, the comment block above it) for every active key."""
    section, block = "", []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section, block = stripped.strip("[]").split("]")[0], []
        elif re.match(r"#\s*\w+ = ", stripped):  # a key left commented out: its own block
            block = []
        elif stripped.startswith("#"):
            block.append(stripped.lstrip("# "))
        elif "=" in stripped:
            key, _, value = stripped.partition("=")
            yield section, key.strip(), value.split(" #")[0].strip(), " ".join(block)
            block = []
        else:
            block = []


def test_the_example_configs_active_values_are_the_defaults_its_comments_claim() -> None:
    text = (ROOT / "config" / "printstation.toml").read_text(encoding="utf-8")
    checked = []
    for section, key, value, comment in commented_keys(text):
        if not re.search(r"\bdefault\b", comment, re.I):
            continue
        spec = PRINTER_KEYS[key] if section.startswith("printers.") else SECTIONS[section][key]
        active = tomllib.loads(f"v = {value}", parse_float=Decimal)["v"]
        default = spec.default
        assert spec.convert(active) == (spec.convert(default) if default is not None
                                        else None), f"[{section}] {key} = {value}: {comment}"
        checked.append(f"{section}.{key}")
    assert "printers.front.offsets" in checked and "intake.settle_ms" in checked
    assert len(checked) >= 25
