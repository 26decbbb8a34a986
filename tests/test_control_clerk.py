"""The web console acting for a clerk through the control socket (issue 17).

The console's user (`[web] user`) or root may name the clerk it acts for; the daemon
journals the action with that name as the operator, where a CLI user's name goes, with
`"via": "web"` beside it. Anyone else naming a clerk is refused (77) and logged; a name
that is not a plain login name is refused (2); and with no daemon nothing is written.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from printstation.base.errors import Unavailable, UsageError
from printstation.config import load_settings
from printstation.daemon import control
from printstation.harness.kit import Station, invoice, running, wait_for, write_config

CODE = "1100243130"


def events(station: Station, after: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
    """Events after seq `after` (of one type): the daemon's own (a file finished) may come
    in between."""
    with station.db() as conn:
        found = [{**dict(r), "payload": json.loads(r["payload"])} for r in conn.execute(
            "SELECT seq, type, job_id, invoice_key, payload FROM events WHERE seq > ?"
            " ORDER BY seq", (after,))]
    return [e for e in found if kind is None or e["type"] == kind]


def last_seq(station: Station) -> int:
    with station.db() as conn:
        return conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]


def state_of(station: Station, job: str) -> str | None:
    with station.db() as conn:
        row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job,)).fetchone()
    return row[0] if row else None


def job_of(station: Station, number: str) -> str | None:
    with station.db() as conn:
        row = conn.execute("SELECT id FROM jobs WHERE invoice_key = ?",
                           (f"{CODE}-{number}",)).fetchone()
    return row[0] if row else None


def held_for_paper(station: Station, number: str) -> str:
    """The job of `number` once the daemon has held it (no paper loaded for it)."""
    wait_for(lambda: (job := job_of(station, number)) and state_of(station, job) == "held",
             what=f"{number} held for paper")
    job = job_of(station, number)
    assert job is not None
    return job


# -- no daemon: nothing is written ---------------------------------------------------------

@pytest.mark.parametrize("name", ["alice", "li.na@branch-1", "A_b-9", "x" * 64])
def test_plain_login_names_are_clerks(name: str) -> None:
    assert control.check_clerk(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "a b", "王芳", "a\nb", "../x", "a;b", "<b>",
                                  5, None, ["a"]])
def test_anything_else_is_refused_as_a_clerks_name(name: object) -> None:
    with pytest.raises(UsageError):
        control.check_clerk(name)


def test_with_no_daemon_a_clerks_action_is_refused_and_nothing_is_written(
        tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path))
    # Root without a clerk would act on the journal directly; for a clerk, never.
    with pytest.raises(Unavailable) as caught:
        control.change(settings, "queue", {"action": "hold", "ids": ["X"]}, clerk="alice")
    assert caught.value.exit_code == 69 and "daemon is not running" in str(caught.value)
    assert not settings.journal_path.exists()
    with pytest.raises(UsageError):  # checked before anything is sent
        control.ask(settings, "status", clerk="not a name")


# -- the daemon as root (root may name a clerk) ----------------------------------------------

def drop(station: Station, name: str, number: str) -> None:
    staging = station.folder / "staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_text(json.dumps(invoice(number), ensure_ascii=False), "utf-8")
    os.rename(staging / name, station.inbox / name)


def raw(settings: Any, request: dict[str, Any]) -> dict[str, Any]:
    """One request as bytes on the socket, bypassing the client's own checks."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock, \
            control.socket_address(settings) as address:
        sock.settimeout(10)
        sock.connect(address)
        sock.sendall(json.dumps(request).encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        return json.loads(sock.recv(65536))


@pytest.mark.e2e
def test_the_console_acts_for_its_clerk_and_the_journal_says_so(tmp_path: Path) -> None:
    station = Station(tmp_path, write_config(tmp_path, 'paper_check = "match"'))
    with running(station):
        settings = load_settings(station.config)
        drop(station, "a.json", "00017001")
        drop(station, "b.json", "00017002")
        first, second = held_for_paper(station, "00017001"), held_for_paper(station, "00017002")
        # A queue action: the transition's event names the clerk.
        seq = last_seq(station)
        reply = control.change(settings, "queue", {"action": "cancel", "ids": [second]},
                               clerk="li.na@branch-1")
        assert reply.exit == 0, reply.err
        [cancelled] = events(station, seq, "job.cancelled")
        assert cancelled["job_id"] == second
        assert cancelled["payload"]["operator"] == "li.na@branch-1"
        assert cancelled["payload"]["via"] == "web"
        # The paper ledger: the event and the range both carry the clerk.
        seq = last_seq(station)
        control.raise_for(control.change(settings, "paper-load", {
            "printer": "pdf", "stock": "vat-special", "first": "00017001",
            "last": "00017001"}, clerk="wang"))
        loaded = events(station, seq, "paper.loaded")
        assert [(e["payload"]["operator"], e["payload"]["via"]) for e in loaded] == \
            [("wang", "web")]
        with station.db() as conn:
            assert conn.execute("SELECT loaded_by FROM paper_ranges").fetchone()[0] == "wang"
        # Its sheet loaded, the held job prints by itself: no operator, no `via`.
        wait_for(lambda: state_of(station, first) == "printed", what="printed")
        automatic = [e for e in events(station, seq) if e["job_id"] == first]
        assert automatic and not any("via" in e["payload"] for e in automatic)
        # A void, journaled straight from the operation.
        seq = last_seq(station)
        control.raise_for(control.change(settings, "void", {
            "invoice": f"{CODE}-00017001", "reason": "wrong buyer"}, clerk="wang"))
        [voided] = events(station, seq, "invoice.voided")
        assert (voided["payload"]["operator"], voided["payload"]["via"]) == ("wang", "web")
        # The same action from the CLI: the caller's own name, no `via`.
        calibration = {"printer": "pdf", "stock": "vat-special", "offset": ["1", "0"]}
        seq = last_seq(station)
        control.raise_for(control.change(settings, "set-offset", calibration))
        control.raise_for(control.change(settings, "set-offset", calibration, clerk="wang"))
        cli, web = events(station, seq, "calibration.offset")
        assert cli["payload"]["operator"] == pwd.getpwuid(os.getuid()).pw_name
        assert "via" not in cli["payload"]
        assert (web["payload"]["operator"], web["payload"]["via"]) == ("wang", "web")
        # A name that is no login name never reaches the journal, whoever sends it.
        seq = last_seq(station)
        for name in ("", "a b", "x" * 65, "王芳", "wang\nop=forged", 7, ["wang"], {"a": 1}):
            answer = raw(settings, {"op": "set-offset", "args": calibration, "clerk": name})
            assert answer["exit"] == 2 and "clerk" in answer["err"][0], (name, answer)
        assert not events(station, seq, "calibration.offset")
        # The daemon's log says who acted, and through what.
        log = station.log_text()
        assert "event=control.change user=wang op=void exit=0 via=web" in log
        assert "forged" not in log


# -- the console's own user, a clerk and an outsider, as real users ----------------------------

WEB = "ps-access-web"
SNIPPET = """
import json, sys
from pathlib import Path
from printstation.config import load_settings
from printstation.daemon import control
settings = load_settings(Path(sys.argv[1]))
try:
    reply = control.change(settings, sys.argv[2], json.loads(sys.argv[3]), clerk=sys.argv[4])
    print(json.dumps(reply.to_dict()))
except Exception as exc:
    print(json.dumps({"exit": getattr(exc, "exit_code", 70), "err": [str(exc)]}))
"""


@pytest.fixture
def user_station() -> Iterator[Any]:
    """A station as shipped (daemon as `printstation`) whose console user is WEB, with
    the users made for the test and removed after it."""
    if os.geteuid() != 0:
        pytest.fail("needs root to create users") if os.environ.get("CI") else \
            pytest.skip("needs root to create users and act as them")
    from printstation.harness.users import GROUP, Users, UserStation

    with Users():
        subprocess.run(["userdel", WEB], capture_output=True)
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", "--groups", GROUP, WEB], check=True)
        folder = Path(tempfile.mkdtemp(prefix="ps-clerk-"))
        station = UserStation(folder, f'paper_check = "match"\n\n[web]\nuser = "{WEB}"\n')
        try:
            yield station
        finally:
            if station.proc is not None and station.proc.poll() is None:
                station.stop()
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run(["userdel", WEB], capture_output=True)


def act_as(user: str, station: Any, op: str, args: dict[str, Any],
           clerk: str) -> dict[str, Any]:
    """`control.change` with a clerk, run by `user` with its groups."""
    from printstation.harness.users import user_python

    entry = pwd.getpwnam(user)
    done = subprocess.run(
        [user_python(), "-c", SNIPPET, str(station.config), op, json.dumps(args), clerk],
        capture_output=True, text=True, timeout=60, user=entry.pw_uid, group=entry.pw_gid,
        extra_groups=os.getgrouplist(user, entry.pw_gid), cwd="/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.e2e
def test_only_the_consoles_user_may_name_a_clerk(user_station: Any) -> None:
    from printstation.harness.users import CLERK, OUTSIDER

    station = user_station
    station.start()
    for name, number in (("a.json", "00017101"), ("b.json", "00017102")):
        staging = station.folder / "staging" / name
        staging.write_text(json.dumps(invoice(number), ensure_ascii=False), "utf-8")
        os.chown(staging, pwd.getpwnam(CLERK).pw_uid, -1)
        os.rename(staging, station.inbox / name)
    first, second = held_for_paper(station, "00017101"), held_for_paper(station, "00017102")
    # The console's user acts for its clerk.
    seq = last_seq(station)
    done = act_as(WEB, station, "queue", {"action": "cancel", "ids": [first]}, "alice")
    assert done["exit"] == 0, done
    [cancelled] = events(station, seq, "job.cancelled")
    assert cancelled["job_id"] == first
    assert (cancelled["payload"]["operator"], cancelled["payload"]["via"]) == ("alice", "web")
    # A clerk (group printstation) may act as itself, never pass for another.
    seq = last_seq(station)
    refused = act_as(CLERK, station, "queue", {"action": "cancel", "ids": [second]}, "alice")
    assert refused["exit"] == 77 and "may not act for a clerk" in refused["err"][0]
    assert state_of(station, second) == "held"
    assert not [e for e in events(station, seq) if e["job_id"] == second]
    # Nor may anyone else, not even for what anyone may ask.
    outsider = act_as(OUTSIDER, station, "status", {}, "alice")
    assert outsider["exit"] == 77
    log = station.log_text()
    assert f"event=control.refused user={CLERK}" in log and "clerk=alice" in log
    assert f"user={OUTSIDER}" in log


@pytest.mark.e2e
def test_the_console_reads_the_journal_as_its_own_user(user_station: Any) -> None:
    """`printstation web` run as its own user (group printstation), beside a daemon run as
    `printstation`, as the shipped units run them: it reads the journal and reaches the
    daemon, as root would see none of the failures that matter."""
    from printstation.harness.browser import free_port, http_get
    from printstation.harness.users import CLI, user_python

    station = user_station
    web = pwd.getpwnam(WEB)
    own = station.folder / "web"
    own.mkdir(mode=0o750)
    os.chown(own, web.pw_uid, web.pw_gid)
    with open(station.config, "a", encoding="utf-8") as fh:
        fh.write(f'users_file = "{own}/users"\nsecret_file = "{own}/secret"\n')
    station.start()
    staging = station.folder / "staging" / "a.json"
    staging.write_text(json.dumps(invoice("00017201"), ensure_ascii=False), "utf-8")
    os.rename(staging, station.inbox / "a.json")
    job = held_for_paper(station, "00017201")
    port = free_port()
    log = open(station.folder / "web.log", "ab")  # noqa: SIM115
    console = subprocess.Popen(
        [user_python(), "-c", CLI, "--config", str(station.config), "web", "--listen",
         f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, cwd="/",
        user=web.pw_uid, group=web.pw_gid, extra_groups=os.getgrouplist(WEB, web.pw_gid),
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"})
    try:
        def healthy() -> bytes | None:
            assert console.poll() is None, (station.folder / "web.log").read_text()
            try:
                status, body = http_get(port, "/healthz")
            except OSError:
                return None
            return body if status == 200 else None

        health = json.loads(wait_for(healthy, timeout=30, what="the console healthy"))
        assert (health["journal"], health["daemon"]) == (True, True), health
        status, body = http_get(port, "/queue?state=held")
        assert status == 200 and job.encode() in body and b"00017201" in body
        # Its session key is its own, not the group's.
        secret = (own / "secret").stat()
        assert (secret.st_uid, secret.st_mode & 0o777) == (web.pw_uid, 0o600)
    finally:
        console.terminate()
        console.wait(15)
        log.close()
