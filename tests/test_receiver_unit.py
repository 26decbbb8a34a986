"""The receiver's systemd unit: it verifies, and it is hardened like the station's."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from printstation.harness.kit import ROOT

UNIT = ROOT / "systemd/printstation-receiver.service"
NAME = "printstation-receiver.service"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root with systemd's own units, our unit and users, and a stub for the program."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system",
                    dirs_exist_ok=True, symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / NAME)
    sysusers = root / "usr/lib/sysusers.d/printstation.conf"
    sysusers.parent.mkdir(parents=True)
    shutil.copy(ROOT / "systemd/printstation.sysusers", sysusers)
    subprocess.run(["systemd-sysusers", f"--root={root}", "printstation.conf"], check=True,
                   capture_output=True)
    exe = root / "opt/printstation/bin/printstation"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return root


def test_the_unit_verifies(root: Path) -> None:
    run = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                          f"/etc/systemd/system/{NAME}"], capture_output=True, text=True)
    assert run.returncode == 0 and "printstation" not in run.stderr, run.stderr
    users = (root / "etc/passwd").read_text()
    assert re.search(r"^printstation-receiver:.*:/usr/sbin/nologin$", users, re.M), users
    # The check can fail: a unit with a typo does.
    unit = root / "etc/systemd/system" / NAME
    unit.write_text(unit.read_text().replace("Type=exec", "Type=exek"))
    broken = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                             f"/etc/systemd/system/{NAME}"], capture_output=True, text=True)
    assert f"{NAME}:" in broken.stderr and "exek" in broken.stderr


def test_the_unit_rates_2_or_lower(root: Path) -> None:
    run = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={root}",
                          NAME], capture_output=True, text=True)
    level = re.search(rf"Overall exposure level for {NAME}: ([0-9.]+)", run.stdout)
    assert level, run.stdout[-500:] + run.stderr
    print(f"exposure {level.group(1)}")
    assert float(level.group(1)) <= 2.0


def test_the_unit_settings_the_issue_asks_for() -> None:
    unit = UNIT.read_text()
    for line in ("User=printstation-receiver", "StateDirectory=printstation-receiver",
                 "ReadWritePaths=/var/lib/printstation-receiver",
                 "EnvironmentFile=-/etc/default/printstation-receiver",
                 "After=network-online.target postgresql.service",
                 "Wants=network-online.target postgresql.service", "LimitNOFILE=65536",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "RestartPreventExitStatus=78"):
        assert line in unit, line
    assert "Requires=" not in unit
    # Nothing but its own state is writable.
    assert re.findall(r"^ReadWritePaths=(.*)$", unit, re.M) == ["/var/lib/printstation-receiver"]
