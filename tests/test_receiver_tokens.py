"""Per-station tokens kept hashed, and their rotation without downtime (issue 18).

`printstation receiver token add|revoke|list` edit the tokens file a running receiver
reads again on its next request: a new token works, a revoked one is refused within two
seconds, two tokens of one station both work while it moves from one to the other.
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
from pathlib import Path

import pytest

from printstation.harness.kit import EXE, wait_for
from printstation.harness.receiver import Receiver
from printstation.headoffice.tokens import digest

pytestmark = pytest.mark.e2e

LEGACY = "legacy-token-0123456789"


@pytest.fixture(scope="module")
def ho(tmp_path_factory: pytest.TempPathFactory):
    receiver = Receiver(tmp_path_factory.mktemp("ho"), {"OLD-1": LEGACY})
    receiver.start()
    yield receiver
    receiver.stop()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), "receiver", *args], capture_output=True, text=True,
                          timeout=30)


def add(ho: Receiver, station: str) -> str:
    done = cli("token", "add", station, "--tokens", str(ho.tokens))
    assert done.returncode == 0, done.stderr
    assert "sync.token_file" in done.stderr
    return done.stdout.strip()


def status(ho: Receiver, station: str, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", ho.port, timeout=10)
    conn.request("GET", f"/stations/{station}", headers={"Authorization": f"Bearer {token}"})
    found = conn.getresponse().status
    conn.close()
    return found


def test_a_new_token_works_at_once_and_only_its_hash_is_kept(ho: Receiver) -> None:
    token = add(ho, "NEW-2")
    assert len(token) >= 43  # 32 random bytes
    text = ho.tokens.read_text()
    assert token not in text
    assert re.search(rf"^NEW-2 sha256:{digest(token)} \d{{4}}-\d\d-\d\dT[\d:]+Z$", text, re.M)
    assert ho.tokens.stat().st_mode & 0o777 == 0o640
    wait_for(lambda: status(ho, "NEW-2", token) == 200, timeout=2, what="the new token")
    # The token in clear of an older install still works, with a warning in the log.
    assert status(ho, "OLD-1", LEGACY) == 200
    assert "event=receiver.token_in_clear" in ho.log.read_text()


def test_rotation_two_tokens_then_the_old_one_revoked(ho: Receiver) -> None:
    first, second = add(ho, "ROT-3"), add(ho, "ROT-3")
    for token in (first, second):
        wait_for(lambda t=token: status(ho, "ROT-3", t) == 200, timeout=2, what="both")
    listed = cli("token", "list", "--tokens", str(ho.tokens))
    assert listed.returncode == 0
    rows = [line.split("\t") for line in listed.stdout.splitlines()
            if line.startswith("ROT-3\t")]
    assert [row[1] for row in rows] == [f"sha256:{digest(t)[:12]}" for t in (first, second)]
    assert first not in listed.stdout and second not in listed.stdout
    done = cli("token", "revoke", "ROT-3", "--hash", rows[0][1], "--tokens", str(ho.tokens))
    assert done.returncode == 0, done.stderr
    wait_for(lambda: status(ho, "ROT-3", first) == 401, timeout=2, what="the old refused")
    assert status(ho, "ROT-3", second) == 200
    assert cli("token", "revoke", "ROT-3", "--tokens", str(ho.tokens)).returncode == 0
    wait_for(lambda: status(ho, "ROT-3", second) == 401, timeout=2, what="all refused")
    again = cli("token", "revoke", "ROT-3", "--tokens", str(ho.tokens))
    assert again.returncode == 1 and "no token of ROT-3" in again.stderr
    assert status(ho, "OLD-1", LEGACY) == 200


def test_a_bad_line_is_skipped_and_logged_and_the_others_work(ho: Receiver) -> None:
    with ho.tokens.open("a") as fh:
        fh.write("BAD-4 sha256:not-hex\nA-STATION-ALONE\nX Y Z W\n" + "L" * 65 + " tok\n")
    token = add(ho, "GOOD-5")
    wait_for(lambda: status(ho, "GOOD-5", token) == 200, timeout=2, what="the good line")
    log = ho.log.read_text()
    assert len(re.findall(r"event=receiver.token_line_skipped", log)) >= 4
    assert status(ho, "OLD-1", LEGACY) == 200 and ho.proc.poll() is None


def test_usage_and_configuration_errors_exit_as_spec_says(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("")
    base = ["--listen", "127.0.0.1:0", "--db", str(tmp_path / "ho.db")]
    done = cli("--db", str(tmp_path / "ho.db"), "--tokens", str(tokens))
    assert done.returncode == 2 and "--listen" in done.stderr
    done = cli(*base, "--tokens", str(tokens), "--tls-cert", str(tokens))
    assert done.returncode == 2 and "go together" in done.stderr
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    done = cli(*base, "--tokens", str(tokens), "--tls-cert", str(bad), "--tls-key", str(bad))
    assert done.returncode == 78 and "--tls-cert" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = cli(*base, "--tokens", str(tmp_path / "missing"))
    assert done.returncode == 78 and "--tokens" in done.stderr
    done = cli("token", "add", "two words", "--tokens", str(tokens))
    assert done.returncode == 2 and tokens.read_text() == ""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("--listen", f"127.0.0.1:{port}", "--db", str(tmp_path / "ho.db"),
                   "--tokens", str(tokens))
    assert done.returncode == 69 and "cannot listen" in done.stderr, done.stderr
