"""A plain `pip install .` (a wheel, not editable) into a fresh venv works outside the repo."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from printstation.harness.kit import ROOT, write_config

# Building and installing a wheel into a fresh venv is end to end, not logic: it runs pip
# (which may fetch the dependencies) and the installed executable as processes.
pytestmark = pytest.mark.e2e


def test_wheel_install_into_a_fresh_venv(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = subprocess.run([env_dir / "bin" / "python", "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", str(ROOT)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert pip.returncode == 0, pip.stderr[-3000:]
    exe = env_dir / "bin" / "printstation"
    help_run = subprocess.run([exe, "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert help_run.returncode == 0 and "check-config" in help_run.stdout
    # The package is imported from the venv, not from the checkout, and its stock layouts
    # (package data) came along: check-config loads them.
    where = subprocess.run([env_dir / "bin" / "python", "-c",
                            "import printstation.daemon as d; print(d.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert str(env_dir) in where.stdout and str(ROOT) not in where.stdout
    config = write_config(tmp_path / "station")
    check = subprocess.run([exe, "--config", config, "check-config"], capture_output=True,
                           text=True, cwd=tmp_path)
    assert (check.returncode, check.stdout.strip()) == (0, "OK"), check.stderr
    assert sys.executable != str(env_dir / "bin" / "python")
