"""The station's client and a head office that closes idle connections (hypercorn does,
after `--idle-timeout`): the next post goes out on a new connection at once, and is not
taken for an outage."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from printstation.daemon.sync_client import HeadOffice
from printstation.harness.receiver import TOKEN, Receiver, chain

pytestmark = pytest.mark.e2e


def test_post_after_the_server_closed_the_idle_connection(tmp_path: Path) -> None:
    receiver = Receiver(tmp_path / "ho")
    receiver.start("--idle-timeout", "1")
    try:
        events = chain(4)
        client = HeadOffice(receiver.url, TOKEN, timeout_s=10)
        assert client.post_events("TEST-001", events[:2]) == 2
        sock = client._conn.sock
        time.sleep(2.5)
        # The server has closed its end by now; the client still holds the old socket.
        assert client._conn is not None and client._conn.sock is sock
        assert client.post_events("TEST-001", events[2:]) == 4
        assert client._conn.sock is not sock
        assert client.acked_through("TEST-001") == 4
        client.close()
    finally:
        receiver.stop()
