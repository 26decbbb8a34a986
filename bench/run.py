"""`make bench`: every benchmark, one after the other, printing their tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = ["validate.py", "render.py", "pickup.py", "cups_latency.py", "sync.py"]

if __name__ == "__main__":
    here = Path(__file__).parent
    for name in BENCHES:
        print(f"## {name}\n", flush=True)
        subprocess.run([sys.executable, here / name, *sys.argv[1:]], check=True)
        print(flush=True)
