"""The control socket against clients that misbehave, and a data folder with a long path.

Garbage, an over-long request and clients that connect and say nothing must cost the
daemon nothing: a clerk's real request is answered at once, and the daemon stays up.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from printstation.config import load_settings
from printstation.daemon import control
from printstation.harness.kit import Station, running, wait_for, write_config

pytestmark = pytest.mark.e2e  # each runs the real daemon or CLI


def settings_of(station: Station):
    return load_settings(station.config)


def raw(path: Path, payload: bytes, wait: bool = True) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(65536) if wait else b""


def test_hostile_clients_do_not_hold_the_socket(station: Station) -> None:
    with running(station):
        settings = settings_of(station)
        path = control.socket_path(settings)
        assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o666"
        # Silent clients hold connections open; they must not delay anyone else.
        silent = []
        for _ in range(10):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(path))
            silent.append(sock)
        assert raw(path, b"this is not json\n") == b""
        assert raw(path, b"[1, 2, 3]\n") == b""
        assert raw(path, b'{"op": [], "args": {}}\n') == b""
        assert raw(path, b"[" * 60000 + b"\n") == b""  # RecursionError in the parser
        # Too long: the daemon hangs up before it has read it all.
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            raw(path, b"x" * (5 << 20), wait=False)
        answer = json.loads(raw(path, b'{"op": "no-such-op"}\n'))
        assert answer["exit"] == 2 and "unknown request" in answer["err"][0]
        started = time.monotonic()
        reply = control.ask(settings, "status")
        assert time.monotonic() - started < 2.0  # not queued behind the silent clients
        assert reply.exit == 0 and reply.doc["daemon"]["pid"] == station.proc.pid
        for sock in silent:
            sock.close()
        assert station.proc.poll() is None
        log = station.log_text()
        assert "event=control.bad_request" in log and "Traceback" not in log


def test_a_data_folder_path_too_long_for_a_socket_still_works(tmp_path: Path) -> None:
    # Over the 107 bytes a Unix socket path may have: reached through /proc/self/fd.
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    station = Station(deep, write_config(deep))
    with running(station):
        settings = settings_of(station)
        assert len(str(control.socket_path(settings))) > 107
        # The control runner binds its socket in its own thread, which on a loaded
        # machine may come a moment after the daemon says it is ready.
        wait_for(control.socket_path(settings).is_socket, what="the control socket")
        reply = control.ask(settings, "ping")
        assert reply.doc["pid"] == station.proc.pid
        held = station.cli("hold", "NOSUCHJOB")
        assert held.returncode == 1 and "no such job" in held.stderr


def test_a_clerks_request_is_checked_field_by_field(tmp_path: Path) -> None:
    from printstation.daemon.control_ops import perform
    from printstation.spool import Journal

    settings = load_settings(write_config(tmp_path))
    journal = Journal(tmp_path / "journal.db", settings.station.id)
    try:
        good = {"printer": "pdf", "stock": "einvoice", "offset_mm": [1.5, -0.5],
                "job": "calibration-20261127T101010"}
        assert perform("calibrated", journal, settings, "clerk",
                       {"event": "calibration.printed", "payload": good}).exit == 0
        for bad in ({**good, "offset_mm": [99.5, -40]}, {**good, "offset_mm": [float("nan"), 0]},
                    {**good, "offset_mm": [True, 0]}, {**good, "stock": "vat-special-x"},
                    {**good, "job": "x" * 501}, {**good, "printer": "\ud800"}):
            reply = perform("calibrated", journal, settings, "clerk",
                            {"event": "calibration.printed", "payload": bad})
            assert reply.exit == 2, bad
        # An offset is journaled only by the change that sets it (`set-offset`).
        for event in ("job.printed", "calibration.offset"):
            assert perform("calibrated", journal, settings, "clerk",
                           {"event": event, "payload": good}).exit == 2
        # Only the checked fields are journaled, with the kernel's name for the operator.
        rows = journal.conn.execute("SELECT payload FROM events WHERE type LIKE 'calib%'"
                                    ).fetchall()
        assert len(rows) == 1
        payload = json.loads(rows[0][0])
        assert payload["operator"] == "clerk" and set(payload) == {
            "printer", "stock", "offset_mm", "job", "operator"}
        for args in ({"action": "hold", "ids": ["x" * 501]}, {"action": "hold", "ids": "J1"},
                     {"action": "hold", "ids": ["J"] * 1001}):
            assert perform("queue", journal, settings, "clerk", args).exit == 2
        assert perform("paper-spoil", journal, settings, "clerk",
                       {"printer": "pdf", "count": 2**70, "reason": "r"}).exit == 2
    finally:
        journal.close()
