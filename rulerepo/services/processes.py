"""Running the servers' tools, and recognising the servers' processes by pid."""

from __future__ import annotations

import os
import pwd
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def process_pid(pid: int, name: str) -> int | None:
    """``pid`` if it is a live process called ``name``, so reused pids do not count."""
    try:
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE and process.name() == name
    except psutil.Error:
        return None

    return pid if alive else None


def wait_exit(
    processes: list[psutil.Process], name: str, timeout_s: float
) -> list[psutil.Process]:
    """Wait until ``processes`` called ``name`` exit; return those alive at the end.

    A zombie counts as exited: daemons are reparented to pid 1, which in a container
    may reap them late, and psutil's own wait would last until it does.
    """
    deadline = time.monotonic() + timeout_s
    alive = processes
    while True:
        alive = [p for p in alive if process_pid(p.pid, name) is not None]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def run_tool(
    command: Sequence[str | Path],
    *,
    account: pwd.struct_passwd | None = None,
    timeout_s: float = START_TIMEOUT_S,
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
