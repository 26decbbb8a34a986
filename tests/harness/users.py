"""Real users for the tests about who may do what: the service user, a clerk, an outsider.

Root sees none of the failures that matter, so these tests run the daemon as user
`printstation` (as the shipped unit does) and the CLI as a clerk (a member of group
`printstation`) and as an outsider. The users and the group are created for the test and
removed after it, unless they existed before.

The interpreter must be one those users can run. On a fresh Debian machine the venv is
made from /usr/bin/python3 and is reachable; on a machine whose Python lives under
/root (pyenv), a small venv is made from the system's Python with the project's
site-packages added, once per test session.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .kit import Station, wait_for, write_config

SERVICE = "printstation"
GROUP = "printstation"
CLERK = "ps-access-clerk"
OUTSIDER = "ps-access-outsider"
CLI = "import sys; from printstation.cli.main import main; sys.exit(main())"


def _reachable(path: Path) -> bool:
    """Whether any user may run `path`: every folder on the way lets others through."""
    path = path.resolve()
    for folder in path.parents:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IXOTH)


def user_python() -> str:
    """An interpreter with the project installed that every user can run."""
    if _reachable(Path(sys.executable)) and _reachable(Path(__file__)):
        return sys.executable
    system = shutil.which("python3", path="/usr/bin:/bin")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if system is None or subprocess.run([system, "-c", "import sys; print(sys.version[:4])"],
                                        capture_output=True, text=True).stdout.strip() \
            != version:
        raise RuntimeError(f"no system Python {version} that other users can run")
    site = next(p for p in sys.path if p.endswith("site-packages") and "venv" in p)
    tag = hashlib.sha256(site.encode()).hexdigest()[:10]
    venv = Path(tempfile.gettempdir()) / f"printstation-users-python-{tag}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([system, "-m", "venv", "--without-pip", str(venv)], check=True)
        pth = venv / "lib" / f"python{version}" / "site-packages" / "printstation-dev.pth"
        pth.write_text(f"import site; site.addsitedir({site!r})\n")
        for path in [venv, *venv.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else
                       path.stat().st_mode | 0o644)
    return str(python)


def _exists(kind: str, name: str) -> bool:
    return subprocess.run(["getent", kind, name], capture_output=True).returncode == 0


class Users:
    """The group and the three users, made for one test and removed after it."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []

    def __enter__(self) -> Users:
        if not _exists("group", GROUP):
            subprocess.run(["groupadd", "--system", GROUP], check=True)
            self.made.append(("group", GROUP))
        if not _exists("passwd", SERVICE):
            subprocess.run(["useradd", "--system", "--no-create-home", "--gid", GROUP,
                            "--groups", "lp", "--shell", "/usr/sbin/nologin", SERVICE],
                           check=True)
            self.made.append(("passwd", SERVICE))
        for name, groups in ((CLERK, [GROUP]), (OUTSIDER, [])):
            subprocess.run(["userdel", name], capture_output=True)
            extra = ["--groups", ",".join(groups)] if groups else []
            subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            *extra, name], check=True)
            self.made.append(("passwd", name))
        return self

    def __exit__(self, *exc: object) -> None:
        for kind, name in reversed(self.made):
            subprocess.run(["userdel" if kind == "passwd" else "groupdel", name],
                           capture_output=True)


def as_user(user: str, args: list[str], env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """The `printstation` command run by `user`, with that user's groups."""
    entry = pwd.getpwnam(user)
    return subprocess.run(
        [user_python(), "-c", CLI, *args], capture_output=True, text=True, timeout=timeout,
        user=entry.pw_uid, group=entry.pw_gid,
        extra_groups=os.getgrouplist(user, entry.pw_gid), cwd="/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/", **(env or {})})


class UserStation(Station):
    """A station laid out as the shipped set-up has it, whose daemon runs as `printstation`.

    The folder is root's; the data folder is the service user's; the drop folder is
    writable by the group (the finance software drops there), the results and rejected
    folders readable by it.
    """

    def __init__(self, folder: Path, extra: str = ""):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        super().__init__(folder, write_config(folder, extra))
        self.config.chmod(0o644)
        service = pwd.getpwnam(SERVICE)
        for path, mode in ((self.data, 0o751), (self.inbox, 0o2770),
                           (self.rejected, 0o2750), (self.results, 0o2750),
                           (self.printed, 0o750), (folder / "staging", 0o2770)):
            path.mkdir(exist_ok=True)
            os.chown(path, service.pw_uid, service.pw_gid)
            path.chmod(mode)

    def start(self, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        entry = pwd.getpwnam(SERVICE)
        self._log_fh = open(self.log, "ab")  # noqa: SIM115
        since = self.log.stat().st_size
        self.proc = subprocess.Popen(
            [user_python(), "-c", CLI, "--config", str(self.config), "run", *args],
            stdout=self._log_fh, stderr=subprocess.STDOUT, cwd=self.folder,
            user=entry.pw_uid, group=entry.pw_gid,
            extra_groups=os.getgrouplist(SERVICE, entry.pw_gid),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/", **(env or {})})
        wait_for(lambda: b"event=daemon.ready" in self.log.read_bytes()[since:]
                 or self.proc.poll() is not None, what="daemon ready")
        assert self.proc.poll() is None, self.log_text()


@contextlib.contextmanager
def user_station() -> Iterator[UserStation]:
    """A `UserStation` in a fresh folder others can reach, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ps-users-"))
    station = UserStation(folder)
    try:
        yield station
    finally:
        if station.proc is not None and station.proc.poll() is None:
            station.stop()
        shutil.rmtree(folder, ignore_errors=True)
