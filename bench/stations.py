"""The station the benchmarks run: one directory printer, folders under a root."""

from __future__ import annotations

from pathlib import Path


def directory_station(root: Path) -> Path:
    """Write `root/printstation.toml` for a station printing PDFs to `root/printed`."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "printstation.toml"
    path.write_text(f"""
[station]
id = "BENCH"
data_dir = "{root}/data"
[intake]
drop_dir = "{root}/inbox"
[printers.pdf]
driver = "directory"
path = "{root}/printed"
stocks = ["vat-special"]
""", encoding="utf-8")
    return path
