"""The processes the chaos command plays with: the emulator, RQ workers, PostgreSQL
and Redis. Starting, killing (kill -9) and restarting them; no migration logic."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.db import connection

from migrations_app.services.errors import MigrationError

MANAGE = Path(settings.BASE_DIR) / "manage.py"
WORKER_COMMAND = [
    sys.executable,
    str(MANAGE),
    "rqworker",
    "default",
    "--worker-class",
    "migrations_app.worker.MigrationWorker",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ChaosError(MigrationError):
    """The chaos command cannot run as asked."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmulatorProcess:
    """``python -m salesforce_emulator`` in a child process, restartable on the same
    port and data directory (its orgs persist there), so that it can exit mid-write
    (``fail_mode=exit``) and come back as Salesforce would after an outage."""

    def __init__(self, data_dir: Path, orgs: list[str], log: IO[str]) -> None:
        self.data_dir = data_dir
        self.orgs = orgs
        self.port = free_port()
        self.log = log
        self.infos: dict[str, dict[str, Any]] = {}
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "salesforce_emulator",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--orgs",
                ",".join(self.orgs),
            ],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=settings.BASE_DIR,
        )
        assert self.process.stdout is not None
        for _ in self.orgs:
            line = self.process.stdout.readline()
            if not line:
                raise ChaosError("the emulator did not start; see its log")
            info = json.loads(line)
            self.infos[info["org"]] = info

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def set_faults(self, org: str, **faults: Any) -> None:
        self._control(f"orgs/{org}/faults", faults)

    def write_log(self, org: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._control(f"orgs/{org}/write-log")
        return result

    def _control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        info = next(iter(self.infos.values()))
        url = f"{info['control_url'].split('/__emulator__/')[0]}/__emulator__/{path}"
        response = (
            requests.post(url, json=body, verify=info["ca_file"], timeout=10)
            if body is not None
            else requests.get(url, verify=info["ca_file"], timeout=10)
        )
        response.raise_for_status()
        return response.json()


class WorkerPool:
    """``size`` RQ worker processes; dead ones are replaced, busy ones killed -9."""

    def __init__(
        self, size: int, env: dict[str, str], command: list[str], log: IO[str]
    ) -> None:
        self.size = size
        self.env = env
        self.command = command
        self.log = log
        self.processes: list[subprocess.Popen[bytes]] = []

    def ensure(self) -> int:
        """Start workers until ``size`` are alive; return how many were started."""
        self.processes = [p for p in self.processes if p.poll() is None]
        started = 0
        while len(self.processes) < self.size:
            self.processes.append(
                subprocess.Popen(
                    self.command,
                    env=self.env,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=self.log,
                    cwd=settings.BASE_DIR,
                )
            )
            started += 1
        return started

    def kill_busy(self, rng: random.Random) -> bool:
        """kill -9 a worker that is running a job, and its work horse, as an
        out-of-memory kill would; False (nothing killed) if none is busy."""
        busy = [p for p in self.processes if p.poll() is None and _children(p.pid)]
        if not busy:
            return False
        kill_tree(rng.choice(busy))
        return True

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                kill_tree(process)


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and its work horse (RQ puts it in a session of its own)."""
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


def database_url() -> str:
    """The URL of the database this process uses, for the workers."""
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


def check_local_postgres() -> None:
    config = connection.settings_dict
    if connection.vendor != "postgresql" or (config["HOST"] or "") not in LOCAL_HOSTS:
        raise ChaosError(
            "--db-restart needs DATABASE_URL pointing at the local PostgreSQL "
            "(127.0.0.1:5432)"
        )
    if not Path("/etc/postgresql").is_dir():
        raise ChaosError("--db-restart: no local PostgreSQL cluster in /etc/postgresql")


def restart_postgres() -> None:
    """Restart the local cluster, as `pg_ctlcluster` does; every connection drops."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
    for pause in (1.0, 3.0, None):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode == 0:
            return
        if pause is None:
            break
        # pg_ctlcluster refuses now and then while the cluster is busy: again.
        time.sleep(pause)
    raise ChaosError(
        f"could not restart PostgreSQL: {(done.stderr or done.stdout).strip()}"
    )


def check_local_redis() -> tuple[str, int]:
    url = urlsplit(settings.REDIS_URL)
    if url.scheme != "redis" or (url.hostname or "") not in LOCAL_HOSTS:
        raise ChaosError(
            "--redis-restart needs REDIS_URL pointing at a local Redis "
            "(redis://127.0.0.1:PORT/DB)"
        )
    return url.hostname or "127.0.0.1", url.port or 6379


def restart_redis(host: str, port: int) -> None:
    """Stop Redis without saving and start it again empty: every queued job is lost,
    as after a restart without persistence."""
    subprocess.run(
        ["redis-cli", "-h", host, "-p", str(port), "shutdown", "nosave"],
        capture_output=True,
        timeout=30,
    )
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/tmp",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ping = subprocess.run(
            ["redis-cli", "-h", host, "-p", str(port), "ping"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if ping.stdout.strip() == "PONG":
            return
        time.sleep(0.2)
    raise ChaosError(f"Redis on {host}:{port} did not come back")
