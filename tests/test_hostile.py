"""The hostile corpus: every file refused with its specific code, by the validator and by
the running daemon, which stays responsive and loses nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from printstation.config import load_settings, load_stocks
from printstation.daemon.checks import check_file, read_limited
from printstation.daemon.context import Context
from printstation.harness.docs import js, special
from printstation.harness.hostile import build
from printstation.harness.kit import EXE, Station, drop_by_rename, wait_for
from printstation.invoice import Problem


def codes_of(path: Path, ctx: Context) -> list[str]:
    data = read_limited(path, ctx.settings.intake.max_file_mb)
    if isinstance(data, Problem):
        return [data.code]
    checked = check_file(path.name, data, ctx)
    return [p.code for p in checked.file_problems] + \
        [p.code for e in checked.entries for p in e.problems]


def test_corpus_is_large_enough(tmp_path: Path) -> None:
    assert len(build(tmp_path)) >= 40


def test_validator_refuses_each_file_with_its_code(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    expected = build(folder)
    ctx = Context(load_settings(None, cwd=tmp_path), load_stocks()[0])
    wrong = {}
    for name, code in expected.items():
        found = codes_of(folder / name, ctx)
        if not found or found[0] != code:
            wrong[name] = (code, found[:3])
    assert wrong == {}


def test_validate_command_reports_without_crashing(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    expected = build(folder)
    names = [n for n in expected if "\n" not in n]
    result = subprocess.run([EXE, "validate", "--json", *[str(folder / n) for n in names]],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    reports = json.loads(result.stdout)
    assert len(reports) == len(names) and not any(r["valid"] for r in reports)


@pytest.mark.e2e
def test_daemon_rejects_the_corpus_and_stays_responsive(station: Station) -> None:
    staging = station.folder / "corpus"
    staging.mkdir()
    expected = build(staging)
    digests = {n: hashlib.sha256((staging / n).read_bytes()).hexdigest()
               for n in expected if (staging / n).is_file() and not (staging / n).is_symlink()
               and n != "sparse-1gb.json"}
    station.start()
    for name in expected:
        os.rename(staging / name, station.inbox / name)
    # While it chews on the corpus, a valid invoice still goes through.
    drop_by_rename(station, "good.json", js(special(number="00077001")))
    wait_for(lambda: station.result("good.json"), timeout=60, what="the valid invoice")
    status = station.cli("status", "--json")
    assert status.returncode == 0

    def result_of(name: str) -> dict | None:
        path = station.results / fit(name, ".result.json")
        return json.loads(path.read_text("utf-8")) if path.exists() else None

    wait_for(lambda: all(result_of(n) for n in expected), timeout=120, what="all results")
    assert station.proc.poll() is None, "the daemon died"
    wrong = {}
    for name, code in expected.items():
        result = result_of(name)
        if result["state"] != "rejected" or result["errors"][0]["code"] != code:
            wrong[name] = (code, result["state"], [e["code"] for e in result["errors"]][:2])
    assert wrong == {}
    # Each refused file is in rejected_dir, byte-identical, with its report.
    rejected = {n for n in os.listdir(station.rejected) if not n.endswith(".error.txt")}
    assert len(rejected) == len(expected)
    for name, digest in digests.items():
        path = station.rejected / fit(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name
        assert (station.rejected / fit(fit(name), ".error.txt")).exists(), name
    assert (station.rejected / "fifo.json").is_fifo()
    assert os.readlink(station.rejected / "symlink.json") == "/etc/passwd"
    assert os.stat(station.rejected / "sparse-1gb.json").st_size == 1 << 30
    assert not os.listdir(station.data / "spool")
    assert "Traceback" not in station.log_text()
    code, _ = station.stop()
    assert code == 0
    shutil.rmtree(station.rejected)  # 1 GB sparse: free it early


def fit(name: str, suffix: str = "") -> str:
    from printstation.base.filenames import fit_name

    return fit_name(name, suffix)
