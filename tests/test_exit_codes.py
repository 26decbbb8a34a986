"""Every error path of the CLI ends in a SPEC §3 exit code, as one line without a traceback.

The error classes are read from the product itself, so a new one with another code fails
here; each code is then produced through the real command, as the user who meets it.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import printstation
from printstation.base.errors import (
    EXIT_BAD,
    EXIT_CONFIG,
    EXIT_INTERNAL,
    EXIT_NOPERM,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    SPEC_EXIT_CODES,
    StationError,
)
from printstation.harness.kit import EXE, write_config

PRODUCT = ("base", "cli", "config", "daemon", "drivers", "headoffice", "invoice", "spool")


def all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= all_subclasses(sub)
    return found


def test_every_error_class_carries_a_spec_exit_code() -> None:
    for layer in PRODUCT:
        package = importlib.import_module(f"printstation.{layer}")
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(info.name)
    classes = all_subclasses(StationError)
    # The layers' own errors travel with their code: a refused action, CUPS down, a config.
    names = {c.__name__ for c in classes}
    assert {"Refused", "PaperError", "CupsUnavailable", "FontMissing", "ConfigError",
            "SchemaTooNew", "StationMismatch", "PermissionDenied"} <= names
    wrong = {c.__qualname__: c.exit_code for c in classes
             if c.exit_code not in SPEC_EXIT_CODES - {0}}
    assert not wrong
    assert printstation.__name__ == "printstation"


def run(config: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(EXE), "--config", str(config), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LANG": "C.UTF-8"})


def one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def test_usage_errors_exit_2(config: Path) -> None:
    assert run(config, "no-such-command").returncode == EXIT_USAGE
    assert run(config, "resolve", "J1").returncode == EXIT_USAGE  # needs --printed|--spoiled
    result = run(config, "paper", "spoil", "pdf", "--count", "0", "--reason", "x")
    assert result.returncode == EXIT_USAGE
    assert "--count" in one_line(result)


def test_unknown_job_and_bad_invoice_exit_1(config: Path, tmp_path: Path) -> None:
    result = run(config, "show", "J-NOPE")
    assert result.returncode == EXIT_BAD
    assert "J-NOPE" in one_line(result)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", "utf-8")
    assert run(config, "validate", str(bad)).returncode == EXIT_BAD
    assert run(config, "status", "--check").returncode == EXIT_BAD  # no daemon runs


def test_bad_config_exits_78(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra='offset_mm = "left"\n')
    result = run(config, "check-config")
    assert result.returncode == EXIT_CONFIG
    assert "offset_mm" in result.stderr and "Traceback" not in result.stderr


def test_head_office_unreachable_exits_69(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    token = tmp_path / "token"
    token.write_text("secret\n")
    token.chmod(0o600)
    with config.open("a") as fh:
        # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        fh.write(f'\n[sync]\nurl = "http://127.0.0.1:9"\ntoken_file = "{token}"\n')
    result = run(config, "reconcile")
    assert result.returncode == EXIT_UNAVAILABLE
    one_line(result)


def test_a_bug_exits_70_in_one_line_and_shows_the_traceback_with_debug(
        config: Path) -> None:
    data = config.parent / "data"
    data.mkdir()
    # Not a database at all: nothing in the product expects this, so it is reported as a
    # bug, never as exit 1 ("the thing checked is bad").
    (data / "journal.db").write_bytes(b"this is not an SQLite file" * 100)
    result = run(config, "queue")
    assert result.returncode == EXIT_INTERNAL
    assert "internal error" in one_line(result) and "--debug" in result.stderr
    debug = run(config, "--debug", "queue")
    assert debug.returncode == EXIT_INTERNAL
    assert "Traceback" in debug.stderr


def make_user(name: str, *groups: str) -> None:
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the permission tests: needs root and useradd")
        pytest.skip("needs root and useradd to act as another user")
    subprocess.run(["userdel", name], capture_output=True)
    extra = ["-G", ",".join(groups)] if groups else []
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", *extra,
                    name], check=True)


@pytest.fixture
def outsider() -> Iterator[str]:
    """A user outside group printstation; skipped only where users cannot be made."""
    make_user("ps-outsider")
    yield "ps-outsider"
    subprocess.run(["userdel", "ps-outsider"], capture_output=True)


@pytest.fixture
def clerk() -> Iterator[str]:
    """A clerk: a member of group printstation (made here if the machine lacks it)."""
    made_group = subprocess.run(["getent", "group", "printstation"],
                                capture_output=True).returncode != 0
    if made_group:
        subprocess.run(["groupadd", "--system", "printstation"], check=True)
    make_user("ps-clerk", "printstation")
    yield "ps-clerk"
    subprocess.run(["userdel", "ps-clerk"], capture_output=True)
    if made_group:
        subprocess.run(["groupdel", "printstation"], capture_output=True)


def as_user(name: str, *argv: str) -> tuple[int, str]:
    """The CLI's `main` in a forked child that has dropped to user `name` and its groups.

    Forked rather than exec'd: this machine's interpreter lives under /root, which other
    users cannot reach; the parent has already imported everything the command needs.
    """
    import pwd

    from printstation.cli import main as cli_main
    from printstation.config import find_config, load_config

    # Warm the lazy imports the command makes (stock layouts read as package resources).
    load_config(find_config(argv[1]))
    user = pwd.getpwnam(name)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.dup2(write, 2)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            # pytest has replaced sys.stdout and sys.stderr; the command writes to the fds.
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            os.setgroups(os.getgrouplist(name, user.pw_gid))
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.environ.update(USER=name, LOGNAME=name, HOME="/")
            code = cli_main.main(list(argv))
        finally:
            sys.stderr.flush()
            sys.stdout.flush()
            os._exit(code)
    os.close(write)
    with os.fdopen(read, encoding="utf-8", errors="replace") as fh:
        err = fh.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


def test_an_outsider_gets_77_naming_the_group(outsider: str) -> None:
    # The user must be able to reach the config: a folder of its own under /tmp, 0755.
    folder = Path(tempfile.mkdtemp(prefix="ps-exit-"))
    try:
        folder.chmod(0o755)
        config = write_config(folder)
        assert run(config, "paper", "show").returncode == 0  # creates nothing; root's view
        assert run(config, "paper", "load", "pdf", "--stock", "vat-special", "--from", "1",
                   "--to", "5").returncode == 0
        for path in folder.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        for args in (("hold", "J1"), ("void", "X", "--reason", "r"),
                     ("paper", "spoil", "pdf", "--stock", "vat-special", "--reason", "r")):
            code, err = as_user(outsider, "--config", str(config), *args)
            assert code == EXIT_NOPERM, (args, err)
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
            assert "group printstation" in err and outsider in err
        # A journal others may read is read (read-only, with no daemon); one they may not
        # is refused as a permission problem told by the journal's rights.
        code, err = as_user(outsider, "--config", str(config), "queue")
        assert code == 0, err
        (folder / "data" / "journal.db").chmod(0o640)
        code, err = as_user(outsider, "--config", str(config), "queue")
        assert code == EXIT_NOPERM and "group printstation" in err, err
    finally:
        shutil.rmtree(folder)


def test_a_clerk_in_the_group_may_act_and_is_journaled_by_name(clerk: str) -> None:
    # The data folder as the shipped set-up means it for clerks: group printstation, with
    # group write on the folder and the journal.
    import grp
    import sqlite3

    folder = Path(tempfile.mkdtemp(prefix="ps-exit-"))
    try:
        folder.chmod(0o755)
        config = write_config(folder)
        assert run(config, "paper", "load", "pdf", "--stock", "vat-special", "--from", "1",
                   "--to", "5").returncode == 0
        gid = grp.getgrnam("printstation").gr_gid
        data = folder / "data"
        for path in [data, *data.rglob("*")]:
            os.chown(path, 0, gid)
            path.chmod(0o2775 if path.is_dir() else 0o664)
        # An unknown job is "bad" (1), not "not permitted" (77): the clerk got through.
        code, err = as_user(clerk, "--config", str(config), "hold", "J-NOPE")
        assert code == EXIT_BAD and "group printstation" not in err, err
        code, err = as_user(clerk, "--config", str(config), "paper", "spoil", "pdf",
                            "--stock", "vat-special", "--reason", "jammed")
        assert code == 0, err
        conn = sqlite3.connect(data / "journal.db")
        payload = conn.execute("SELECT payload FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        conn.close()
        assert json.loads(payload[0])["operator"] == clerk
    finally:
        shutil.rmtree(folder)
