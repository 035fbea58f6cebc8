"""The data folder of the embedded servers: its paths, lock and private folders."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SOCKET_PATH_MAX = 100
_LOCK_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ServicePaths:
    """Where each file of the data folder lives (see :mod:`rulerepo.services`)."""

    data_dir: Path

    @classmethod
    def of(cls, data_dir: Path) -> ServicePaths:
        return cls(data_dir.expanduser().resolve())

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def redis_pidfile(self) -> Path:
        return self.redis_dir / "redis.pid"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "services.json"

    def socket_dir(self, service: str, home: Path, socket_name: str) -> Path:
        """``home``, or a short private folder if the socket path would be too long."""
        if len(str(home / socket_name)) <= _SOCKET_PATH_MAX:
            return home
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"rulerepo-{digest}-{service}"


@contextlib.contextmanager
def locked(paths: ServicePaths) -> Iterator[None]:
    """Hold ``services.lock`` of the data folder, waiting at most 120 s for it."""
    deadline = time.monotonic() + _LOCK_TIMEOUT_S
    with (paths.data_dir / "services.lock").open("a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = (
                        f"another process has held {lock.name} for over "
                        f"{_LOCK_TIMEOUT_S:.0f}s; if none is starting or stopping "
                        "services, delete the file and retry"
                    )
                    raise RuntimeError(msg) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def private_dir(path: Path, account: pwd.struct_passwd | None) -> None:
    """Create ``path`` with mode 0700 for ``account``; refuse one owned by others."""
    uid = os.geteuid() if account is None else account.pw_uid
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if account is not None and info.st_uid == os.geteuid():
        # lstat and follow_symlinks=False: a symlink planted in /tmp must never
        # redirect a chown made as root.
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
        info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
        msg = f"{path} exists but is not a folder owned by uid {uid}; remove it"
        raise RuntimeError(msg)
    path.chmod(0o700)


def grant_traverse(path: Path) -> None:
    """Add others-execute to every folder above ``path``, so a system user reaches it."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
