"""One daemon per data folder, and the user it runs as.

The pid file is also the instance lock: the daemon holds a POSIX record lock on it for
its whole life. The kernel releases the lock when the process dies, however it dies, so
a stale pid file never blocks a start, and `F_GETLK` tells anyone who can read the file
the pid of the process that really holds it. A pid written into the file by someone else
proves nothing; the lock's holder is the daemon.

The file is never removed (a daemon removing it while a second one waits on the old
inode would let a third lock a new file): a clean stop empties it instead.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import struct
from pathlib import Path

from printstation.base.errors import AlreadyRunning, ConfigInvalid

# struct flock on Linux: l_type, l_whence (short), l_start, l_len (off_t), l_pid (pid_t),
# in native alignment.
_FLOCK = "hhqqi"
SERVICE_USER = "printstation"
SERVICE_GROUP = "printstation"


class InstanceLock:
    """The pid file, locked for the daemon's life."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self, data_dir: Path) -> None:
        """Lock and write our pid; AlreadyRunning (exit 75) names the holder's pid."""
        # The daemon's alone (0600): anyone who may read the file may also take a read
        # lock on it, and so keep the daemon from starting.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AlreadyRunning(pid=holder_pid(self.path) or "?", data_dir=data_dir) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None


def holder_pid(path: Path) -> int | None:
    """The pid of the process holding the daemon's lock on `path`, or None when no daemon
    holds it (or this user may not read the file: only the service user and root may)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        l_type, *_, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if l_type == fcntl.F_UNLCK else pid


def station_gid(data_dir: Path | None = None) -> int:
    """The group whose members are clerks: `printstation`; in a development set-up without
    that group, the data folder's group, or else this process's own group."""
    try:
        return grp.getgrnam(SERVICE_GROUP).gr_gid
    except KeyError:
        pass
    try:
        return os.stat(data_dir).st_gid if data_dir is not None else os.getegid()
    except OSError:
        return os.getegid()


def user_groups(uid: int, gid: int) -> tuple[str, set[int]]:
    """A user's name and every group it belongs to, from the user database (not from the
    environment, which the caller controls)."""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return f"uid {uid}", {gid}
    return entry.pw_name, {gid, entry.pw_gid, *os.getgrouplist(entry.pw_name, entry.pw_gid)}


def become(user: str) -> None:
    """Switch this root process to `user`, with its primary and supplementary groups."""
    entry = pwd.getpwnam(user)
    os.setgroups(os.getgrouplist(entry.pw_name, entry.pw_gid))
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    # As the service itself creates them: readable by clerks, writable by it alone.
    os.umask(0o027)
    os.environ.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)


def service_user_for(data_dir: Path, system_config: bool) -> str | None:
    """Whom root should act as on this data folder: its owner when that is not root, or
    the service user for the system config; None to stay root (a private test set-up).

    Root writing the journal, the spool or the pid file would leave files the service,
    which runs as `printstation`, cannot write afterwards.
    """
    if os.geteuid() != 0:
        return None
    try:
        owner = os.stat(data_dir).st_uid
    except FileNotFoundError:
        owner = 0
    if owner != 0:
        try:
            return pwd.getpwuid(owner).pw_name
        except KeyError:
            raise ConfigInvalid(f"{data_dir} belongs to uid {owner}, which has no user "
                                "entry: fix its owner (chown printstation:printstation)") \
                from None
    if system_config:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return None
        return SERVICE_USER
    return None


def prepare_data_dir(data_dir: Path, user: str) -> None:
    """As root, before switching to `user`: the data folder exists and is theirs."""
    entry = pwd.getpwnam(user)
    if not data_dir.exists():
        data_dir.mkdir(parents=True, mode=0o751)
        os.chown(data_dir, entry.pw_uid, station_gid())


def tighten(data_dir: Path) -> None:
    """The data folder's files are the service user's alone (SPEC §12).

    Older set-ups left the journal and the spool group-writable, so that clerks could
    write them; they now go through the control socket. Others may pass through the
    folder (to reach the socket) but not list it. Only what this user owns is changed.
    """
    uid = os.geteuid()
    wanted = {data_dir: 0o751, data_dir / "spool": 0o750, data_dir / "archive": 0o750}
    for name in ("journal.db", "journal.db-wal", "journal.db-shm", "status.json",
                 "journal.stamp"):
        wanted[data_dir / name] = 0o640
    wanted[data_dir / "printstation.pid"] = 0o600
    for path, mode in wanted.items():
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if st.st_uid == uid and not os.path.islink(path) and st.st_mode & 0o777 != mode:
            os.chmod(path, mode)
