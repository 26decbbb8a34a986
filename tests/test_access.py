"""Who may do what, as the real users (issue 14, point 1 and "Done when").

The daemon runs as user `printstation`, the CLI as a clerk (member of group
`printstation`) and as an outsider; the users are made for the test and removed after.
Each test tries what an attacker or a careless clerk would, and asserts the promise.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from printstation.harness.kit import invoice, wait_for
from printstation.harness.users import (
    CLERK,
    OUTSIDER,
    SERVICE,
    Users,
    UserStation,
    as_user,
    user_python,
    user_station,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def users() -> Iterator[Users]:
    if os.geteuid() != 0:
        pytest.fail("the permission tests need root to create users") if os.environ.get(
            "CI") else pytest.skip("needs root to create users and act as them")
    with Users() as made:
        yield made


@pytest.fixture
def station(users: Users) -> Iterator[UserStation]:
    with user_station() as made:
        yield made


def cli(user: str, station: UserStation, *args: str,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return as_user(user, ["--config", str(station.config), *args], env=env)


def drop(station: UserStation, name: str, number: str) -> None:
    """As the finance software would: a clerk-group user writes and renames in."""
    staging = station.folder / "staging" / name
    data = json.dumps(invoice(number), ensure_ascii=False).encode()
    staging.write_bytes(data)
    clerk = pwd.getpwnam(CLERK)
    os.chown(staging, clerk.pw_uid, -1)
    os.rename(staging, station.inbox / name)


def settled(station: UserStation, name: str) -> dict:
    return wait_for(lambda: station.result(name), what=f"{name} settled")


def _uid_of(pid: int) -> int:
    """The real uid of a process, from the kernel."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines()
                    if line.startswith("Uid:")))


def one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_daemon_owns_its_files_and_clerks_act_through_it(station: UserStation) -> None:
    station.start()
    service = pwd.getpwnam(SERVICE)
    assert _uid_of(station.proc.pid) == service.pw_uid
    drop(station, "a.json", "00080001")
    assert settled(station, "a.json")["state"] == "printed"
    # Everything the daemon wrote is its own, and writable by it alone.
    for path in [station.data, *station.data.rglob("*")]:
        st = path.lstat()
        if path.is_socket():
            continue
        assert st.st_uid == service.pw_uid, path
        assert not st.st_mode & 0o022, (path, oct(st.st_mode))
    # A clerk cannot move, delete or write the journal, the pid file or the stamp.
    for target in ("journal.db", "printstation.pid", "status.json", "journal.stamp"):
        path = station.data / target
        assert _sh_as(CLERK, f"mv '{path}' '{path}.moved'") != 0
        assert _sh_as(CLERK, f"rm -f '{path}'") != 0
        assert _sh_as(CLERK, f"echo 4242 >> '{path}'") != 0
        assert path.exists()
    rogue = as_user(CLERK, ["--config", str(station.config), "status"])
    assert rogue.returncode == 0, rogue.stderr
    # Held and released by a clerk, through the daemon: journaled by the kernel's word for
    # who it is, whatever LOGNAME says.
    drop(station, "b.json", "00080002")
    wait_for(lambda: station.result("b.json") or _queued_or_printed(station, "b.json"),
             what="b taken")
    job = _job_of(station, "00080002")
    held = cli(CLERK, station, "hold", job, env={"LOGNAME": "boss", "USER": "boss"})
    assert held.returncode in (0, 1), held.stderr
    with station.db() as conn:
        operators = {json.loads(r[0]).get("operator") for r in conn.execute(
            "SELECT payload FROM events WHERE job_id = ? AND payload LIKE '%operator%'",
            (job,))}
    assert operators <= {CLERK} and "boss" not in operators
    # An outsider may ask for the status, and nothing else.
    assert cli(OUTSIDER, station, "status", "--json").returncode == 0
    for args in (("hold", job), ("void", "X", "--reason", "r"), ("sync", "--now"),
                 ("paper", "spoil", "pdf", "--reason", "r")):
        refused = cli(OUTSIDER, station, *args)
        line = one_line(refused)
        assert refused.returncode in (77, 2), (args, line)
        if refused.returncode == 77:
            assert "group printstation" in line and OUTSIDER in line
    assert cli(OUTSIDER, station, "hold", job).returncode == 77


def _queued_or_printed(station: UserStation, name: str) -> bool:
    with station.db() as conn:
        return conn.execute("SELECT count(*) FROM jobs j JOIN sources s ON s.id = j.source_id"
                            " WHERE s.name = ?", (name,)).fetchone()[0] > 0


def _job_of(station: UserStation, number: str) -> str:
    with station.db() as conn:
        return conn.execute("SELECT id FROM jobs WHERE invoice_key LIKE ?",
                            (f"%{number}",)).fetchone()[0]


def test_with_the_daemon_down_clerks_read_and_root_writes_as_the_owner(
        station: UserStation) -> None:
    station.start()
    drop(station, "a.json", "00081001")
    settled(station, "a.json")
    station.stop()
    # Reads work for a clerk with no daemon (no WAL files to share: read as immutable).
    queue = cli(CLERK, station, "queue", "--all", "--json")
    assert queue.returncode == 0, queue.stderr
    assert len(json.loads(queue.stdout)) == 1
    assert cli(CLERK, station, "journal", "--verify").returncode == 0
    # A change needs the daemon: the clerk is told so in one line (69).
    job = _job_of(station, "00081001")
    down = cli(CLERK, station, "void", "1100243130-00081001", "--reason", "test", "--yes")
    assert down.returncode == 69 and "not running" in one_line(down)
    # Root may change it directly, acting as the service user: no root-owned file after.
    as_root = subprocess.run([*_root_cli(station), "paper", "load", "pdf", "--stock",
                              "vat-special", "--from", "1", "--to", "3"],
                             capture_output=True, text=True, timeout=60)
    assert as_root.returncode == 0, as_root.stderr
    service = pwd.getpwnam(SERVICE)
    assert all(p.lstat().st_uid == service.pw_uid for p in station.data.rglob("*")), \
        [(p, p.lstat().st_uid) for p in station.data.rglob("*")]
    station.start()  # and the service can still open everything
    assert job


def _root_cli(station: UserStation) -> list[str]:
    from printstation.harness.kit import EXE

    return [str(EXE), "--config", str(station.config)]


def test_root_running_the_daemon_acts_as_the_data_folders_owner(station: UserStation) -> None:
    proc = subprocess.Popen([*_root_cli(station), "run"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=station.folder)
    try:
        wait_for(lambda: (station.data / "status.json").exists(), what="root's daemon ready")
        assert _uid_of(proc.pid) == pwd.getpwnam(SERVICE).pw_uid
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=15)[0].decode()
    assert "event=daemon.user user=printstation" in out
    assert all(p.lstat().st_uid == pwd.getpwnam(SERVICE).pw_uid
               for p in station.data.rglob("*"))


def test_a_clerk_cannot_plant_what_root_would_follow(station: UserStation) -> None:
    station.start()
    drop(station, "a.json", "00082001")
    settled(station, "a.json")
    # The pid and runtime files are not the clerk's to write, nor is archive/ (root's
    # backup would copy what is planted there).
    for path in (station.data / "printstation.pid", station.data / "status.json",
                 station.data / "archive" / "shadow"):
        assert _sh_as(CLERK, f"ln -s /etc/shadow '{path}.link'; echo 4242 > '{path}'") != 0
        assert not Path(f"{path}.link").exists()
    # The journal opens read-only for the clerk: a write is refused by the kernel.
    assert _sh_as(CLERK, f"echo x >> '{station.data / 'journal.db'}'") != 0


def _sh_as(user: str, command: str) -> int:
    """A shell command run by `user` with its groups; its exit code."""
    entry = pwd.getpwnam(user)
    return subprocess.run(["/bin/sh", "-c", command], user=entry.pw_uid, group=entry.pw_gid,
                          extra_groups=os.getgrouplist(user, entry.pw_gid),
                          capture_output=True).returncode


def test_a_clerk_cannot_keep_the_daemon_from_starting(station: UserStation) -> None:
    # A read lock on the pid file would make every start exit 75: the file is the
    # daemon's alone, so a clerk cannot even open it.
    station.start()
    pid_file = station.data / "printstation.pid"
    assert oct(pid_file.stat().st_mode & 0o777) == "0o600"
    assert _sh_as(CLERK, f"cat '{pid_file}'") != 0
    station.stop()
    station.start()  # and a restart is not refused


def test_root_repairs_with_the_daemon_down_are_journaled_as_root(station: UserStation) -> None:
    station.start()
    drop(station, "a.json", "00083001")
    settled(station, "a.json")
    # Root's backup is root's; the documented restore works from it all the same.
    backup = station.folder / "backup"
    done = subprocess.run([*_root_cli(station), "backup", str(backup)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    station.stop()
    loaded = subprocess.run([*_root_cli(station), "paper", "load", "pdf", "--stock",
                             "vat-special", "--from", "1", "--to", "2"],
                            capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    restored = subprocess.run([*_root_cli(station), "journal", "restore",
                               str(backup / "journal.db")], capture_output=True, text=True,
                              timeout=60)
    assert restored.returncode == 0, restored.stderr
    journal = station.data / "journal.db"
    assert oct(journal.stat().st_mode & 0o777) == "0o640"
    assert journal.stat().st_uid == pwd.getpwnam(SERVICE).pw_uid
    with station.db() as conn:
        restore = conn.execute("SELECT payload FROM events WHERE type = 'journal.restored'"
                               ).fetchone()
    assert json.loads(restore[0])["operator"] == "root"
    station.start()


def test_an_outsider_flooding_the_socket_does_not_lock_out_a_clerk(
        station: UserStation) -> None:
    station.start()
    drop(station, "a.json", "00084001")
    settled(station, "a.json")
    # The outsider holds as many connections as it can, and sends a malformed request.
    flood = subprocess.Popen(
        ["/usr/bin/python3", "-c", (
            "import socket, sys, time\n"
            "held = []\n"
            "def connect():\n"
            "    s = socket.socket(socket.AF_UNIX); s.settimeout(2)\n"
            "    try: s.connect(sys.argv[1]); return s\n"
            "    except OSError: return None\n"
            "bad = connect()\n"
            "try: bad.sendall(b'{\"op\": [], \"args\": ' + b'[' * 60000 + b'\\n')\n"
            "except OSError: pass\n"
            "for _ in range(60): held.append(connect())\n"
            "print('ready', flush=True); time.sleep(20)\n"),
         str(station.data / "control.sock")],
        stdout=subprocess.PIPE, text=True, user=pwd.getpwnam(OUTSIDER).pw_uid)
    try:
        assert flood.stdout is not None and flood.stdout.readline().strip() == "ready"
        job = _job_of(station, "00084001")
        answered = cli(CLERK, station, "show", job)
        assert answered.returncode == 0, answered.stderr
        held = cli(CLERK, station, "paper", "load", "pdf", "--stock", "vat-special",
                   "--from", "1", "--to", "2")
        assert held.returncode == 0, held.stderr
    finally:
        flood.kill()
        flood.wait()
    assert station.proc.poll() is None


def test_a_file_the_daemon_may_not_read_is_rejected_in_words(station: UserStation) -> None:
    # The finance software wrote it with umask 077: the daemon (user printstation) may
    # move it but not read it. It must not vanish into the spool.
    station.start()
    staging = station.folder / "staging" / "private.json"
    data = json.dumps(invoice("00085001"), ensure_ascii=False).encode()
    staging.write_bytes(data)
    staging.chmod(0o600)
    os.chown(staging, pwd.getpwnam(CLERK).pw_uid, -1)
    os.rename(staging, station.inbox / "private.json")
    result = settled(station, "private.json")
    assert result["state"] == "rejected"
    assert [e["code"] for e in result["errors"]] == ["file.unreadable"]
    rejected = station.rejected / "private.json"
    assert rejected.read_bytes() == data  # byte-identical, as root reads it
    report = (station.rejected / "private.json.error.txt").read_text("utf-8")
    assert "printstation" in report and "无权读取" in report
    assert not list((station.data / "spool").iterdir())
    station.stop()
    station.start()  # and the next start is not troubled by it


def test_a_clerk_may_wake_the_daemon_and_an_outsider_may_not(station: UserStation) -> None:
    """The `wake` request a CLI sends after writing the journal itself (daemon/control.py
    `poke`), as the real users: the daemon runs as `printstation`; a clerk's is answered,
    an outsider's refused with the permission exit (77)."""
    station.start()
    drop(station, "a.json", "00085001")
    settled(station, "a.json")
    ask = ("import sys\nfrom pathlib import Path\nfrom printstation.config import load_config\n"
           "from printstation.daemon import control\n"
           "print(control.ask(load_config(Path(sys.argv[1])).settings, 'wake').exit)\n")
    exits = {}
    for user in (CLERK, OUTSIDER):
        entry = pwd.getpwnam(user)
        done = subprocess.run(
            [user_python(), "-c", ask, str(station.config)], capture_output=True, text=True,
            timeout=60, user=entry.pw_uid, group=entry.pw_gid,
            extra_groups=os.getgrouplist(user, entry.pw_gid), cwd="/",
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"})
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        exits[user] = int(done.stdout.strip())
    assert exits == {CLERK: 0, OUTSIDER: 77}
    assert station.proc.poll() is None
