"""Real RQ worker processes for the tests: `manage.py rqworker` in a child process,
sharing the test database, Redis and the emulator with the test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

MANAGE = Path(settings.BASE_DIR) / "manage.py"


def database_url() -> str:
    """The URL of the database the tests use, for a child process."""
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    credentials = quote(config["USER"] or "")
    if config["PASSWORD"]:
        credentials += ":" + quote(config["PASSWORD"])
    return (
        f"postgres://{credentials}@{config['HOST'] or 'localhost'}:"
        f"{config['PORT'] or 5432}/{config['NAME']}"
    )


def worker_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "DB_APPLICATION_NAME": "datamigrator-test-worker",
        **extra,
    }
    env.pop("DEBUG", None)
    return env


def start_worker(*, burst: bool = False, **env: str) -> subprocess.Popen[bytes]:
    """A worker in its own process group, so a kill reaches its work horse too."""
    command = [
        sys.executable,
        str(MANAGE),
        "rqworker",
        "default",
        "--worker-class",
        "migrations_app.worker.MigrationWorker",
    ]
    if burst:
        command.append("--burst")
    return subprocess.Popen(
        command,
        env=worker_env(**env),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_worker(process: subprocess.Popen[bytes]) -> None:
    """kill -9 the worker and its work horse, as an out-of-memory kill would.

    RQ puts the work horse in a session of its own, so it is found by its parent.
    """
    for pid in (*_children(process.pid), process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)


def _children(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def stop_worker(process: subprocess.Popen[bytes]) -> str:
    """Stop a worker as an operator would (SIGTERM); return what it printed."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        kill_worker(process)
        _, stderr = process.communicate()
    return stderr.decode(errors="replace")


def wait_until(condition: Callable[[], bool], *, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not reached within {timeout}s: {condition.__doc__ or condition}"
            )
        time.sleep(0.1)
