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

from django.conf import settings

from migrations_app.services.chaos_processes import database_url, kill_tree

MANAGE = Path(settings.BASE_DIR) / "manage.py"


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


# The chaos command kills its workers the same way; one implementation serves both.
kill_worker = kill_tree


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
