from __future__ import annotations

import datetime as dt
import fcntl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from printstation.harness.kit import Station, write_config
from printstation.spool import Journal

# Fixtures whose tests start real processes: the `station` fixture is there to run the
# daemon, and `cupsd` is a private CUPS server. `make test-fast` leaves such tests out.
PROCESS_FIXTURES = frozenset({"station", "cupsd"})


# Head office's two backends, as the ids of tests run on each.
HEADOFFICE_BACKENDS = [pytest.param("sqlite", id="sqlite"),
                       pytest.param("postgresql", id="pg")]


# Modules whose tests create and remove system users and groups (tests/harness/users.py)
# or install the project system-wide. `make test` runs the suite in two processes
# (pytest-xdist, a module to a process); two of these modules must never run at once
# (one would remove the group or user the other's daemon runs as), so each holds a
# lock for its whole run: the other process waits for it.
SYSTEM_WIDE = frozenset({
    "test_access.py", "test_control_clerk.py", "test_exit_codes.py", "test_install.py",
    "test_install_path.py", "test_receiver_unit.py", "test_receiver_users.py",
    "test_service.py", "test_headoffice_dashboard.py", "test_names.py",
    "test_offsets_state.py"})
SYSTEM_LOCK = Path(tempfile.gettempdir()) / "printstation-tests-system-wide.lock"


@pytest.fixture(scope="module", autouse=True)
def _one_system_wide_module_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.path.name not in SYSTEM_WIDE:
        yield
        return
    with open(SYSTEM_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `e2e` every test that uses a process fixture, so that a new test cannot slip
    into the fast run by forgetting the marker. Tests that start processes themselves
    carry the marker in their own module. A test on PostgreSQL starts its server."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())) or \
                "postgresql" in (params.get("headoffice_db"),
                                 params.get("headoffice_db_per_module")):
            item.add_marker(pytest.mark.e2e)


def fixed_clock() -> dt.datetime:
    """The journal tests' clock: a fixed instant, with microseconds to see them rounded."""
    return dt.datetime(2026, 11, 28, 3, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A fresh journal on disk in the test's own folder."""
    j = Journal(tmp_path / "journal.db", "ST-1", fixed_clock)
    yield j
    j.close()


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    st = Station(tmp_path, write_config(tmp_path))
    yield st
    st.kill()


@pytest.fixture(scope="session")
def cupsd():
    """A private cupsd with three queues: two PDF-output printers and a 24-pin one."""
    import os
    import shutil

    if shutil.which("cupsd") is None or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI must run the CUPS tests: cupsd missing or not root")
        pytest.skip("needs cupsd (apt-get install cups) and root to run a private cupsd")
    from printstation.harness.cupsd import Cupsd

    server = Cupsd()
    server.start()
    for queue, ppd in (("ps-pdf", "printstation-pdf.ppd"), ("ps-pdf2", "printstation-pdf.ppd"),
                       ("ps-epson", "printstation-epson24.ppd")):
        server.add_queue(queue, ppd)
    yield server
    server.close()


@pytest.fixture(scope="session")
def pg():
    """A private PostgreSQL 15 server for the whole session (tests/harness/postgres.py)."""
    import os

    from printstation.harness.postgres import Postgres, missing

    why = missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {why}")
        pytest.skip(f"needs PostgreSQL 15 to test head office on it: {why}")
    server = Postgres()
    try:
        server.start()
        yield server
    finally:
        server.close()


def _headoffice_db(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg").new_database()


@pytest.fixture(params=HEADOFFICE_BACKENDS)
def headoffice_db(request: pytest.FixtureRequest) -> str | None:
    """Head office's database for a `Receiver` or `open_store`: None (SQLite, a file in
    the receiver's folder) or a fresh PostgreSQL database's url."""
    return _headoffice_db(request)


@pytest.fixture(scope="module", params=HEADOFFICE_BACKENDS)
def headoffice_db_per_module(request: pytest.FixtureRequest) -> str | None:
    """`headoffice_db` for a receiver a whole module shares."""
    return _headoffice_db(request)
