from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kit import Station, write_config


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    st = Station(tmp_path, write_config(tmp_path))
    yield st
    st.kill()
