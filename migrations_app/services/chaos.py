"""The chaos command: prove "no duplicate, nothing lost, no hand-holding" (issue 11).

It serves three emulated orgs from a child process (source, target, reference),
seeds the source with a hierarchy (Accounts three levels deep, their Contacts and
Opportunities), and runs rounds. Each round changes the source (new records at every
level, some edits), runs a clean ``veid`` migration into the reference org in this
process, then launches the same migration into the target through real RQ workers
while it injects transient faults at the given rate and kill -9s the worker holding
the run at random moments. Every other kill is armed in the emulator instead
(``fail_after_writes`` with ``fail_mode=exit``): the emulator applies a write and
exits before answering, and the worker is killed right then, between Salesforce's
answer and the database commit. Optionally PostgreSQL and Redis restart mid-run.

Nothing here resumes a run: that is the workers' job (lease expiry, automatic
resume, re-enqueue sweep). If a run ends for good without succeeding, this command
resumes it as a user would and counts a manual launch, which must stay 0.

At the end every object is read back from the three orgs and compared
(``chaos_compare``): target records against the reference, duplicates, mappings lost
or wrong, lookups, and the runs' counts against the reference runs'.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from migrations_app.models import Org, RecordMapping, Run, RunObjectStat
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.services import chaos_processes as processes
from migrations_app.services.chaos_compare import (
    OUTCOMES,
    ObjectComparison,
    ObjectData,
    compare_object,
    keys_by_id,
)
from migrations_app.services.chaos_processes import ChaosError
from migrations_app.services.leases import AUTO_RESUMED_CAUSES
from migrations_app.services.orgs import org_add, org_client
from migrations_app.services.runs import run_create, run_execute, run_launch, run_resume
from migrations_app.services.templates import template_import

logger = logging.getLogger(__name__)

ORGS = ("source", "target", "reference")
# The hierarchy: object, unique key field, lookups (field -> parent object).
OBJECTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("Account", "Name", {"ParentId": "Account"}),
    ("Contact", "Email", {"AccountId": "Account"}),
    ("Opportunity", "Name", {"AccountId": "Account"}),
)
TEMPLATE_OBJECTS = [
    {"sobject": "Account", "fields": ["Name", "Industry", "ParentId"]},
    {"sobject": "Contact", "fields": ["LastName", "Email", "Title", "AccountId"]},
    {
        "sobject": "Opportunity",
        "fields": ["Name", "StageName", "CloseDate", "Amount", "AccountId"],
    },
]
# The workers' settings: short leases and backoff, so that a kill heals in seconds.
WORKER_SETTINGS = {
    "RUN_LEASE_SECONDS": "4",
    "RUN_RETRY_BASE_SECONDS": "0.05",
    "RUN_RETRY_MAX_SECONDS": "1",
    "RUN_AUTO_RESUME_DELAY_SECONDS": "0.2",
}
EMULATOR_LATENCY_MS = 25
MAX_KILL_DELAY_SECONDS = 1.5
# Watch-loop turns (0.05 s each) to wait for a queued run before restarting Redis.
REDIS_RESTART_PATIENCE = 400
FINAL_STATUSES = (
    Run.Status.SUCCEEDED,
    Run.Status.COMPLETED_WITH_ERRORS,
    Run.Status.FAILED,
    Run.Status.CANCELLED,
)


@dataclass
class ChaosConfig:
    kills: int
    fault_rate: float
    db_restart: bool = False
    redis_restart: bool = False
    workers: int = 2
    accounts: int = 60
    seed: int | None = None
    timeout_seconds: float = 1800
    # The worker command; tests swap in one with a deliberately broken journal.
    worker_command: list[str] = field(
        default_factory=lambda: list(processes.WORKER_COMMAND)
    )


@dataclass
class ChaosStats:
    rounds: int = 0
    runs: int = 0
    kills: int = 0
    # Kill moments when no worker was running a job: not counted as kills.
    kills_missed: int = 0
    kills_after_write: int = 0
    emulator_exits: int = 0
    db_restarts: int = 0
    redis_restarts: int = 0
    # Redis restarts made while a run was queued: its job was lost with the queue.
    redis_lost_queued: int = 0
    manual_launches: int = 0
    retries: int = 0
    auto_resumes: int = 0
    attempts: int = 0
    seconds: float = 0.0


@dataclass
class ChaosReport:
    config: ChaosConfig
    stats: ChaosStats
    objects: list[ObjectComparison]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and all(item.ok for item in self.objects)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "kills": self.config.kills,
            "fault_rate": self.config.fault_rate,
            "db_restart": self.config.db_restart,
            "redis_restart": self.config.redis_restart,
            "stats": self.stats.__dict__,
            "objects": [item.as_dict() for item in self.objects],
            "problems": self.problems,
        }


Say = Callable[[str], None]


def chaos_run(config: ChaosConfig, say: Say = logger.info) -> ChaosReport:
    """Run the chaos experiment and compare; ChaosError if it cannot run."""
    _validate(config)
    rng = random.Random(config.seed)
    started = time.monotonic()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        log = stack.enter_context(open(scratch / "processes.log", "w"))
        emulator = processes.EmulatorProcess(scratch / "emulator", list(ORGS), log)
        stack.callback(emulator.stop)
        emulator.start()
        say(f"emulator on port {emulator.port}; seeding {config.accounts} accounts")
        experiment = Experiment(config, rng, emulator, say)
        pool = processes.WorkerPool(
            config.workers, _worker_env(config), config.worker_command, log
        )
        stack.callback(pool.stop_all)
        experiment.pool = pool
        pool.ensure()
        experiment.run_rounds()
        experiment.stats.seconds = round(time.monotonic() - started, 1)
        return experiment.report()


def _validate(config: ChaosConfig) -> None:
    if config.kills < 0:
        raise ChaosError("--kills must be 0 or more")
    if not 0 <= config.fault_rate < 1:
        raise ChaosError("--fault-rate must be at least 0 and below 1")
    if config.workers < 1:
        raise ChaosError("--workers must be at least 1")
    if config.db_restart:
        processes.check_local_postgres()
    if config.redis_restart:
        processes.check_local_redis()


def auto_resume_limit(config: ChaosConfig) -> int:
    """Enough automatic resumes for every kill and restart, and some to spare."""
    return config.kills + 2 * (config.db_restart + config.redis_restart) + 20


def _worker_env(config: ChaosConfig) -> dict[str, str]:
    limit = auto_resume_limit(config)
    env = {
        **os.environ,
        **WORKER_SETTINGS,
        "DATABASE_URL": processes.database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "RUN_AUTO_RESUME_LIMIT": str(limit),
        "DB_APPLICATION_NAME": "datamigrator-chaos-worker",
    }
    env.pop("DEBUG", None)
    return env


class Experiment:
    """The rounds, the kills and what was seen; one per chaos_run."""

    def __init__(
        self,
        config: ChaosConfig,
        rng: random.Random,
        emulator: processes.EmulatorProcess,
        say: Say,
    ) -> None:
        self.config = config
        self.rng = rng
        self.emulator = emulator
        self.say = say
        self.stats = ChaosStats()
        self.pool: processes.WorkerPool | None = None
        self.stamp = f"chaos-{int(time.time() * 1000) % 10**10}"
        self.orgs = {name: self._register(name) for name in ORGS}
        self.template = template_import(
            data={"name": f"{self.stamp} hierarchy", "objects": TEMPLATE_OBJECTS}
        )
        self.seeded = 0
        self.chaos_runs: list[int] = []
        self.reference_runs: list[int] = []
        self.problems: list[str] = []
        self.deadline = time.monotonic() + config.timeout_seconds
        # Which kills are armed in the emulator (after a write) rather than timed,
        # and after which kill PostgreSQL and Redis restart.
        kinds = ["timed", "after_write"] * (config.kills // 2 + 1)
        self.kill_kinds = kinds[: config.kills]
        self.rng.shuffle(self.kill_kinds)
        self.redis_waits = 0
        # The attempt last killed: its run looks running until its lease expires.
        self.killed_attempt = 0
        self.db_restart_at = self._restart_point() if config.db_restart else None
        self.redis_restart_at = self._restart_point() if config.redis_restart else None

    def _restart_point(self) -> int:
        """After which kill (-1: before the first) a service restarts."""
        return self.rng.randint(-1, self.config.kills - 1)

    def _register(self, name: str) -> Org:
        info = self.emulator.infos[name]
        return org_add(
            name=f"{self.stamp}-{name}",
            login_url=info["login_url"],
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            ca_file=info["ca_file"],
        )

    # -- rounds ---------------------------------------------------------------------

    def run_rounds(self) -> None:
        while True:
            self.stats.rounds += 1
            self._change_source(first=self.stats.rounds == 1)
            self._reference_run()
            self._chaos_run()
            if self.stats.kills >= self.config.kills and self._restarts_done():
                return
            if time.monotonic() > self.deadline:
                self.problems.append("timed out before every kill was made")
                return

    def _restarts_done(self) -> bool:
        return (self.db_restart_at is None or self.stats.db_restarts > 0) and (
            self.redis_restart_at is None or self.stats.redis_restarts > 0
        )

    def _change_source(self, *, first: bool) -> None:
        """New records at every level of the hierarchy, and some edits."""
        client = org_client(self.orgs["source"])
        accounts = self.config.accounts if first else max(self.config.accounts // 6, 4)
        seed_hierarchy(client, start=self.seeded, accounts=accounts, rng=self.rng)
        self.seeded += accounts
        if not first:
            edit_contacts(client, self.rng, share=0.1)

    def _reference_run(self) -> None:
        run = run_create(
            template=self.template,
            source_org=self.orgs["source"],
            target_org=self.orgs["reference"],
            strategy="veid",
        )
        done = run_execute(run_id=run.pk)
        if done.status != Run.Status.SUCCEEDED:
            raise ChaosError(
                f"the clean reference run ended {done.status}: {done.error}"
            )
        self.reference_runs.append(run.pk)

    def _chaos_run(self) -> None:
        self._set_faults(self.config.fault_rate)
        self._arm_next_kill()
        run = run_launch(
            template=self.template,
            source_org=self.orgs["source"],
            target_org=self.orgs["target"],
            strategy="veid",
        )
        self.stats.runs += 1
        self.chaos_runs.append(run.pk)
        self._watch(run.pk)
        self._disarm()
        self._faults_off()

    # -- watching a run -------------------------------------------------------------

    def _watch(self, run_id: int) -> None:
        """Until the run ends: keep the workers and the emulator up, kill at the
        chosen moments, and resume by hand (counted) only if nothing else will."""
        kill_at: float | None = None
        attempt = 0
        while time.monotonic() < self.deadline:
            assert self.pool is not None
            self.pool.ensure()
            if not self.emulator.alive():
                self._emulator_exited()
                continue
            run = _fresh(run_id)
            if run is None:
                continue
            if run.status in FINAL_STATUSES:
                if run.status != Run.Status.SUCCEEDED:
                    self.problems.append(
                        f"run {run_id} ended {run.status}: {run.error[:200]}"
                    )
                return
            if run.status == Run.Status.INTERRUPTED and not _will_resume(
                run, auto_resume_limit(self.config)
            ):
                self.stats.manual_launches += 1
                self.say(f"run {run_id} needs a hand: {run.error[:120]}")
                run_resume(run=run)
                continue
            self._restart_services(run)
            if run.status == Run.Status.RUNNING and run.attempts != attempt:
                attempt = run.attempts
                kill_at = time.monotonic() + self.rng.uniform(
                    0.1, MAX_KILL_DELAY_SECONDS
                )
            if (
                kill_at is not None
                and time.monotonic() >= kill_at
                and self._next_kill() == "timed"
            ):
                kill_at = None
                if run.status == Run.Status.RUNNING:
                    self.killed_attempt = run.attempts
                    self._kill("timed")
            time.sleep(0.05)
        self.problems.append(f"run {run_id} did not finish in time")

    def _next_kill(self) -> str | None:
        if self.stats.kills >= len(self.kill_kinds):
            return None
        return self.kill_kinds[self.stats.kills]

    def _kill(self, kind: str) -> None:
        """kill -9 the worker running the migration; a kill point counts only if
        one was running it (the attempt may have just ended): else it moves on."""
        assert self.pool is not None
        if not self.pool.kill_busy(self.rng):
            self.stats.kills_missed += 1
            return
        self.stats.kills += 1
        if kind == "after_write":
            self.stats.kills_after_write += 1
        self.say(f"kill {self.stats.kills}/{self.config.kills} ({kind})")
        if self.emulator.alive():
            self._arm_next_kill()

    def _arm_next_kill(self) -> None:
        """An after-write kill is armed in the emulator: the Nth write from now is
        applied, then the emulator exits before answering."""
        if self._next_kill() == "after_write":
            self.emulator.set_faults(
                "target", fail_after_writes=self.rng.randint(1, 2), fail_mode="exit"
            )

    def _disarm(self) -> None:
        if self.emulator.alive():
            self.emulator.set_faults("target", fail_after_writes=None, fail_mode="drop")

    def _faults_off(self) -> None:
        for name in ("source", "target"):
            self.emulator.set_faults(name, failure_rate=0.0, latency_ms=0)

    def _emulator_exited(self) -> None:
        """The emulator applied a write and exited: kill the worker that sent it,
        before it hears anything, then bring the emulator back."""
        self.stats.emulator_exits += 1
        if self._next_kill() == "after_write":
            self.killed_attempt = _attempts_now(self.chaos_runs[-1])
            self._kill("after_write")
        self.emulator.restart()
        self._set_faults(self.config.fault_rate)
        self._arm_next_kill()

    def _restart_services(self, run: Run) -> None:
        """Once their kill point has passed: PostgreSQL restarts while a worker
        writes (its connection drops mid-run), Redis while the run is queued (its
        job is lost, and only the sweep can find the run again)."""
        alive = run.status == Run.Status.RUNNING and run.attempts != self.killed_attempt
        if self._due(self.db_restart_at, self.stats.db_restarts) and alive:
            self.say("restarting PostgreSQL mid-run")
            processes.restart_postgres()
            self.stats.db_restarts += 1
            connection.close()
        if self._due(self.redis_restart_at, self.stats.redis_restarts) and (
            run.status == Run.Status.QUEUED or self._redis_waited(run)
        ):
            self.say(f"restarting Redis (run {run.status}; its queue is lost)")
            if run.status == Run.Status.QUEUED:
                self.stats.redis_lost_queued += 1
            host, port = processes.check_local_redis()
            processes.restart_redis(host, port)
            self.stats.redis_restarts += 1

    def _due(self, point: int | None, done: int) -> bool:
        return point is not None and not done and self.stats.kills > point

    def _redis_waited(self, run: Run) -> bool:
        """Give up waiting for a queued moment after a while: restart anyway."""
        self.redis_waits += 1
        return self.redis_waits > REDIS_RESTART_PATIENCE

    def _set_faults(self, rate: float) -> None:
        """Faults on (a chaos run) or off (seeding, reference runs, reading back);
        the latency stretches a run so that kills land mid-run."""
        on = rate > 0 or self.config.kills > 0
        for name in ("source", "target"):
            self.emulator.set_faults(
                name,
                failure_rate=rate,
                latency_ms=EMULATOR_LATENCY_MS if on else 0,
            )

    # -- the comparison -------------------------------------------------------------

    def report(self) -> ChaosReport:
        self._faults_off()
        runs = Run.objects.filter(pk__in=self.chaos_runs)
        self.stats.retries = sum(run.retries_spent for run in runs)
        self.stats.auto_resumes = sum(run.auto_resumes for run in runs)
        self.stats.attempts = sum(run.attempts for run in runs)
        data = [self._object_data(*item) for item in OBJECTS]
        keys = keys_by_id(data)
        objects = [compare_object(item, keys) for item in data]
        problems = list(self.problems)
        if self.stats.manual_launches:
            problems.append(f"{self.stats.manual_launches} manual launches were needed")
        return ChaosReport(self.config, self.stats, objects, problems)

    def _object_data(
        self, sobject: str, key: str, lookups: dict[str, str]
    ) -> ObjectData:
        fields = ["Id", key, *lookups]
        query = f"SELECT {', '.join(fields)} FROM {sobject}"
        records = {
            name: list(org_client(self.orgs[name]).query(query)) for name in ORGS
        }
        mappings = RecordMapping.objects.filter(
            source_org=self.orgs["source"],
            target_org=self.orgs["target"],
            sobject=sobject,
        ).values_list("source_id", "target_id")
        return ObjectData(
            sobject=sobject,
            key=key,
            lookups=lookups,
            source=records["source"],
            target=records["target"],
            reference=records["reference"],
            mappings=list(mappings),
            counts=_summed_counts(self.chaos_runs, sobject),
            reference_counts=_summed_counts(self.reference_runs, sobject),
        )


def _summed_counts(run_ids: list[int], sobject: str) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for stat in RunObjectStat.objects.filter(run__in=run_ids, sobject=sobject):
        totals.update({name: getattr(stat, name) for name in OUTCOMES})
    return dict(totals)


def _will_resume(run: Run, limit: int) -> bool:
    """Whether the workers will resume this interrupted run by themselves."""
    return run.interrupt_cause in AUTO_RESUMED_CAUSES and run.auto_resumes < limit


def _attempts_now(run_id: int) -> int:
    run = _fresh(run_id)
    return run.attempts if run is not None else 0


def _fresh(run_id: int) -> Run | None:
    """The run as the database has it now; None while the database is away."""
    try:
        return Run.objects.get(pk=run_id)
    except (OperationalError, InterfaceError):
        connection.close()
        time.sleep(0.5)
        return None


# -- source data ---------------------------------------------------------------------


def seed_hierarchy(
    client: SalesforceClient, *, start: int, accounts: int, rng: random.Random
) -> None:
    """``accounts`` Accounts, a third of them roots and the others children of an
    earlier one of the same batch (three levels), each with three Contacts and one
    Opportunity. Every record has a unique key (Name, Email)."""
    numbers = range(start, start + accounts)
    ids: dict[int, str] = {}
    for level in _levels(list(numbers)):
        rows = [_account(n, ids, rng) for n in level]
        for chunk_start in range(0, len(rows), 200):
            chunk = level[chunk_start : chunk_start + 200]
            saved = client.create("Account", rows[chunk_start : chunk_start + 200])
            for number, result in zip(chunk, saved, strict=True):
                ids[number] = _created(result)
    contacts = [
        {
            "LastName": f"Chaos contact {n:05d}-{i}",
            "Email": f"chaos{n:05d}.{i}@example.com",
            "Title": rng.choice(("CEO", "CFO", "Buyer", "Engineer")),
            "AccountId": ids[n],
        }
        for n in numbers
        for i in range(3)
    ]
    opportunities = [
        {
            "Name": f"Chaos deal {n:05d}",
            "StageName": "Prospecting",
            "CloseDate": (date(2027, 1, 1) + timedelta(days=n % 300)).isoformat(),
            "Amount": 1000 + n,
            "AccountId": ids[n],
        }
        for n in numbers
    ]
    for sobject, rows in (("Contact", contacts), ("Opportunity", opportunities)):
        for chunk_start in range(0, len(rows), 200):
            for result in client.create(sobject, rows[chunk_start : chunk_start + 200]):
                _created(result)


def _levels(numbers: list[int]) -> Iterator[list[int]]:
    """Roots first, then their children, then grandchildren."""
    third = max(len(numbers) // 3, 1)
    yield numbers[:third]
    yield numbers[third : 2 * third]
    yield numbers[2 * third :]


def _account(number: int, ids: dict[int, str], rng: random.Random) -> dict[str, Any]:
    parents = [n for n in ids if n < number]
    return {
        "Name": f"Chaos account {number:05d}",
        "Industry": rng.choice(("Energy", "Banking", "Retail")),
        "ParentId": ids[rng.choice(parents)] if parents else None,
    }


def _created(result: Any) -> str:
    if not result.success or not result.id:
        raise ChaosError(f"seeding the source failed: {result.error_message}")
    return str(result.id)


def edit_contacts(
    client: SalesforceClient, rng: random.Random, *, share: float
) -> None:
    """Change the Title of a share of the source's Contacts (updates for the run)."""
    contacts = list(client.query("SELECT Id FROM Contact"))
    chosen = rng.sample(contacts, max(int(len(contacts) * share), 1))
    rows = [{"Id": c["Id"], "Title": f"Edited {rng.randint(1, 10**6)}"} for c in chosen]
    for chunk_start in range(0, len(rows), 200):
        client.update("Contact", rows[chunk_start : chunk_start + 200])
