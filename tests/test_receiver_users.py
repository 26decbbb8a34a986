"""Head office's receiver as the users the shipped unit and IT are: the receiver runs as
`printstation-receiver` and reads a tokens file that is root's, group
printstation-receiver, mode 0640; a clerk or anyone else may neither read nor change it,
and is told so in one line (exit 77), never with a traceback or the station's journal."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from printstation.daemon.sync_client import HeadOffice
from printstation.harness.kit import EXE, free_port, wait_for
from printstation.harness.receiver import chain
from printstation.harness.users import CLERK, CLI, OUTSIDER, Users, as_user, user_python

pytestmark = pytest.mark.e2e
SERVICE = "printstation-receiver"


@pytest.fixture
def service_user() -> str:
    if os.geteuid() != 0:
        pytest.skip("creating users needs root (CI runs as root)")
    made = subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                           "--shell", "/usr/sbin/nologin", SERVICE], capture_output=True)
    yield SERVICE
    if made.returncode == 0:
        subprocess.run(["userdel", SERVICE], capture_output=True)
        subprocess.run(["groupdel", SERVICE], capture_output=True)


def test_the_receiver_runs_as_its_user_and_only_root_edits_tokens(
        service_user: str, request: pytest.FixtureRequest) -> None:
    def request_cleanup(folder: Path) -> None:
        request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))

    # Not under pytest's 0700 tmp: the receiver's user must reach its files.
    folder = Path(tempfile.mkdtemp(prefix="ps-receiver-"))
    folder.chmod(0o755)
    request_cleanup(folder)
    tokens = folder / "tokens"
    added = subprocess.run([str(EXE), "receiver", "token", "add", "BR-1", "--tokens",
                            str(tokens)], capture_output=True, text=True, check=True)
    token = added.stdout.strip()
    info = tokens.stat()
    assert (info.st_uid, grp.getgrgid(info.st_gid).gr_name, info.st_mode & 0o777) == \
        (0, SERVICE, 0o640)
    state = folder / "state"
    state.mkdir(mode=0o700)
    entry = pwd.getpwnam(service_user)
    os.chown(state, entry.pw_uid, entry.pw_gid)
    log = folder / "receiver.log"
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [user_python(), "-c", CLI, "receiver", "--listen", f"127.0.0.1:{port}", "--db",
             str(state / "headoffice.db"), "--tokens", str(tokens), "--users",
             str(state / "users"), "--secret-file", str(state / "session.key")],
            stdout=out, stderr=subprocess.STDOUT, user=entry.pw_uid, group=entry.pw_gid,
            extra_groups=[], cwd="/", env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    try:
        wait_for(lambda: re.search(r"receiver.ready", log.read_text()) or
                 (proc.poll() is not None and pytest.fail(log.read_text())),
                 what="receiver ready as its own user")
        client = HeadOffice(f"http://127.0.0.1:{port}", token, timeout_s=10)
        assert client.post_events("BR-1", chain(3, "BR-1")) == 3
        client.close()
        assert (state / "headoffice.db").stat().st_uid == entry.pw_uid
    finally:
        proc.terminate()
        proc.wait(15)
    assert "Traceback" not in log.read_text()
    with Users():
        for user in (CLERK, OUTSIDER):
            for action in (["list"], ["add", "BR-2"], ["revoke", "BR-1"]):
                done = as_user(user, ["receiver", "token", *action, "--tokens", str(tokens)])
                assert done.returncode == 77, (user, action, done.stderr)
                assert "only root" in done.stderr and "Traceback" not in done.stderr
                assert "journal" not in done.stderr
    # Nothing a refused user tried changed the file.
    assert [line.split()[0] for line in tokens.read_text().splitlines()] == ["BR-1"]
