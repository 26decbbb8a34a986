"""Log lines as journald and IT read them (SPEC §12): a priority prefix on every line, a
time of their own when not under journald, JSON from the first line on."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from printstation.base import logs
from printstation.harness.kit import EXE, write_config

# What journald does with a line (SyslogLevelPrefix=yes): a leading <N> is its priority.
PREFIX = re.compile(r"^<([0-7])>")
SCRIPT = """
import sys
from printstation.base import logs
logs.setup(debug=True, fmt=sys.argv[1])
logs.debug("t.debug", n=1)
logs.info("t.info", n=2)
logs.warning("t.warning", n=3)
logs.error("t.error", n=4)
try:
    raise ValueError("boom")
except ValueError:
    logs.error("t.crash", exc_info=True)
"""


def emit(fmt: str, env: dict[str, str], stderr_to: Path) -> list[str]:
    """Run SCRIPT in a process of its own, its stderr into `stderr_to`; the lines."""
    with open(stderr_to, "wb") as err:
        subprocess.run([sys.executable, "-c", SCRIPT, fmt], stderr=err, check=True,
                       env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
                       timeout=30)
    return stderr_to.read_text(encoding="utf-8").splitlines()


def journal_filter(lines: list[str], max_priority: int) -> list[str]:
    """`journalctl -p N`: the entries of priority N or graver (a lower number)."""
    return [line for line in lines if int(PREFIX.match(line).group(1)) <= max_priority]


def test_every_line_carries_the_priority_of_its_level(tmp_path: Path) -> None:
    lines = emit("kv", {"JOURNAL_STREAM": None}, tmp_path / "err")
    assert all(PREFIX.match(line) for line in lines), lines
    by_event = {re.search(r"event=(\S+)", line).group(1): line[:3] for line in lines
                if "event=" in line}
    assert by_event == {"t.debug": "<7>", "t.info": "<6>", "t.warning": "<4>",
                        "t.error": "<3>", "t.crash": "<3>"}
    # `journalctl -p warning` finds the warning and the errors, and nothing below.
    shown = {re.search(r"event=(\S+)", line).group(1)
             for line in journal_filter(lines, 4) if "event=" in line}
    assert shown == {"t.warning", "t.error", "t.crash"}
    # A traceback (with --debug) is filed with the error it explains, line by line.
    crash = next(i for i, line in enumerate(lines) if "event=t.crash" in line)
    assert lines[crash + 1:] and all(line.startswith("<3>") for line in lines[crash + 1:])
    assert any("ValueError: boom" in line for line in lines[crash + 1:])


def test_lines_carry_their_own_time_unless_journald_takes_them(tmp_path: Path) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    lines = emit("kv", {"JOURNAL_STREAM": None}, tmp_path / "plain")
    for line in lines:
        if "event=" not in line:
            continue
        stamp = re.match(r"^<\d>ts=(\S+) level=", line)
        assert stamp, line
        at = dt.datetime.fromisoformat(stamp.group(1))
        assert at.tzinfo is not None and before <= at <= dt.datetime.now(dt.UTC)
    # Under journald (JOURNAL_STREAM names the very stream stderr is), journald stamps it.
    target = tmp_path / "journald"
    target.touch()
    st = os.stat(target)
    lines = emit("kv", {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, target)
    assert lines and all(re.match(r"^<\d>level=", line) for line in lines
                         if "event=" in line), lines
    # Inherited by a process whose stderr goes elsewhere, the variable does not count.
    lines = emit("kv", {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, tmp_path / "other")
    assert all(" level=" in line and "ts=" in line for line in lines if "event=" in line)


def test_json_lines_are_json_with_the_prefix_only_for_journald(tmp_path: Path) -> None:
    lines = emit("json", {"JOURNAL_STREAM": None}, tmp_path / "plain")
    docs = [json.loads(line) for line in lines]
    assert [d["level"] for d in docs] == ["debug", "info", "warning", "error", "error"]
    assert "ValueError: boom" in docs[-1]["traceback"]
    assert all(d["ts"].endswith("Z") for d in docs)
    target = tmp_path / "journald"
    target.touch()
    st = os.stat(target)
    lines = emit("json", {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, target)
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>", "<3>"]
    assert json.loads(lines[0][3:])["event"] == "t.debug"


def test_under_journald_needs_the_stream_itself(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with open(path, "wb") as fh:
        st = os.fstat(fh.fileno())
        assert logs.under_journald({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"},
                                   fh.fileno())
        assert not logs.under_journald({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"},
                                       fh.fileno())
        assert not logs.under_journald({"JOURNAL_STREAM": "junk"}, fh.fileno())
        assert not logs.under_journald({}, fh.fileno())


@pytest.mark.e2e
def test_run_logs_json_from_its_first_line_to_its_last(tmp_path: Path) -> None:
    # A config `run` refuses: its last words are JSON error lines too.
    bad = write_config(tmp_path / "bad", extra="in_flight = 0\n")
    done = subprocess.run([EXE, "--log-format", "json", "--config", bad, "run"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 78
    docs = [json.loads(line) for line in done.stderr.splitlines()]
    assert docs and all(d["level"] == "error" for d in docs)
    assert any("printers.pdf.in_flight: must be from 1 to 50" in d["error"] for d in docs)
    # A daemon that starts and stops: every line is JSON, the first one included.
    good = write_config(tmp_path / "good")
    proc = subprocess.Popen([EXE, "--log-format", "json", "--config", good, "run"],
                            stderr=subprocess.PIPE, text=True, cwd=good.parent)
    try:
        first = proc.stderr.readline()
        while '"daemon.ready"' not in (line := proc.stderr.readline()):
            assert line, "the daemon ended before it was ready"
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=15)[1]
    assert json.loads(first)["event"] == "daemon.config"
    assert [json.loads(line)["event"] for line in rest.splitlines()][-1] == "daemon.stopped"
