"""A private cupsd for tests: own ServerRoot in a temp folder, 127.0.0.1 on a free port,
`User lp`, `FileDevice Yes`, `DirtyCleanInterval 0` (TECH.md), and queues from our PPDs
whose jobs are each kept as a file by a small backend."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .kit import ROOT, free_port

PPD = ROOT / "drivers" / "ppd"
BACKEND = """#!/bin/sh
# keep:/DIR - each job to its own file in DIR (CUPS's file: device keeps only the last),
# with the job's title beside it in .title (the soak maps outputs to journal jobs by it).
if [ $# -eq 0 ]; then echo 'direct keep "Unknown" "printstation test backend"'; exit 0; fi
dir="${DEVICE_URI#keep:}"
[ -e "$dir/.fail" ] && { echo "ERROR: device failure (test)" >&2; exit 1; }
out="$dir/job-$(printf %06d "$1")-$(date +%s%N).out"
if [ $# -ge 6 ]; then cat "$6" > "$out.tmp"; else cat > "$out.tmp"; fi
printf '%s' "$3" > "$out.title"
mv "$out.tmp" "$out"
"""


class Cupsd:
    def __init__(self) -> None:
        # Not under pytest's 0700 tmp: the backend runs as lp and must reach its folders.
        self.root = Path(tempfile.mkdtemp(prefix="printstation-cupsd-"))
        self.root.chmod(0o755)
        self.port = free_port()
        # A domain socket, as in production: peer credentials tell cupsd who asks, so the
        # owner sees its jobs' names (over unauthenticated TCP, JobPrivateValues hides
        # them and jobs could not be found by name after a crash).
        self.socket = self.root / "cups.sock"
        self.server = str(self.socket)
        self.proc: subprocess.Popen | None = None
        conf, binary = self.root / "conf", self.root / "bin"
        for folder in ("conf", "spool", "cache", "state", "log", "out", "bin/backend"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        for name in ("filter", "daemon", "cgi-bin", "monitor", "notifier", "driver"):
            if Path(f"/usr/lib/cups/{name}").exists():
                (binary / name).symlink_to(f"/usr/lib/cups/{name}")
        (binary / "backend" / "keep").write_text(BACKEND)
        for path in (binary, binary / "backend", binary / "backend" / "keep"):
            path.chmod(0o755)  # cupsd refuses group- or world-writable programs
        (conf / "cupsd.conf").write_text(f"""Listen 127.0.0.1:{self.port}
Listen {self.socket}
DefaultAuthType None
DirtyCleanInterval 0
JobRetryInterval 1
LogLevel warn
# Job names visible to the station (README: "CUPS for a print station"): the daemon finds
# its jobs by name after a crash.
<Policy default>
JobPrivateAccess all
JobPrivateValues none
SubscriptionPrivateAccess all
SubscriptionPrivateValues none
<Limit All>
Order deny,allow
</Limit>
</Policy>
<Location />
Order allow,deny
Allow all
</Location>
<Location /admin>
Order allow,deny
Allow all
</Location>
""")
        (conf / "cups-files.conf").write_text(f"""ServerRoot {conf}
RequestRoot {self.root}/spool
CacheDir {self.root}/cache
StateDir {self.root}/state
TempDir {self.root}/spool
ServerBin {binary}
DataDir /usr/share/cups
AccessLog {self.root}/log/access_log
ErrorLog {self.root}/log/error_log
PageLog {self.root}/log/page_log
User lp
Group lp
Sandboxing Relaxed
FileDevice Yes
""")

    def env(self) -> dict[str, str]:
        return {**os.environ, "CUPS_SERVER": self.server}

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["cupsd", "-f", "-c", self.root / "conf/cupsd.conf",
             "-s", self.root / "conf/cups-files.conf"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            run = subprocess.run(["lpstat", "-r"], env=self.env(), capture_output=True, text=True)
            if "is running" in run.stdout and "not" not in run.stdout:
                return
            time.sleep(0.1)
        raise RuntimeError("private cupsd did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)

    def out(self, queue: str) -> Path:
        return self.root / "out" / queue

    def add_queue(self, queue: str, ppd: str) -> Path:
        out = self.out(queue)
        out.mkdir(parents=True, exist_ok=True)
        out.chmod(0o777)
        # stop-printer: a failing device stops the queue and keeps the job for a retry once
        # it is fixed (the README's lpadmin lines set the same).
        self.lp("lpadmin", "-p", queue, "-E", "-v", f"keep:{out}", "-P", PPD / ppd,
                "-o", "printer-error-policy=stop-printer")
        return out

    def lp(self, *args: object) -> str:
        run = subprocess.run([str(a) for a in args], env=self.env(), capture_output=True,
                             text=True, timeout=30)
        if run.returncode:
            raise RuntimeError(f"{args}: {run.stderr}")
        return run.stdout

    def outputs(self, queue: str) -> list[Path]:
        return sorted(p for p in self.out(queue).glob("job-*.out"))

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
