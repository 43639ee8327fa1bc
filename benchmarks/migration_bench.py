"""Speed, API calls and memory of migration runs between two emulated orgs.

    python benchmarks/migration_bench.py [--records 20000] [--json] [--no-bulk]
                                         [--demo] [--in-process] [--profile [FILE]]

Runs the real services (``run_create`` + ``run_execute``) against the Salesforce
emulator, with a throwaway SQLite database, and measures:

- ``veid first``: a first ``veid`` run into an empty target (all inserts), at N/4 and
  at N records, to show whether peak memory grows with volume;
- ``veid again, no change``: the same run again (everything unchanged);
- ``veid again, 10% changed``: again after a tenth of the source records changed;
- ``veid_match first, half in target``: a first ``veid_match`` run into a target that
  already holds half the records (adoptions and inserts);
- ``bulk first`` (unless ``--no-bulk``): a first ``veid`` run, at N/4 and N, with
  ``BULK_QUERY_THRESHOLD`` and ``BULK_WRITE_THRESHOLD`` lowered below N;
- ``veid first, demo Account tree`` (with ``--demo``): a first run of the demo template
  (Account hierarchy, Contacts, Opportunities, lookups rewritten) on about N records.

The other scenarios pin the REST + sObject Collections path (both thresholds raised
above N), so that their figures compare across sizes. Each reports records/s (selected
records / wall time of ``run_execute``), API calls per 1,000 records in each org (as
the run recorded them, checked against the emulator's own counters), and the peak of
Python memory during the run (tracemalloc). The baseline, measured in the same
process and invocation, is the floor any tool must spend: ``query_all`` of the N
source Contacts, then inserts in sObject Collections of 200 through one keep-alive
session; no mapping, no database. Every speed is also given as a ratio to it.

The emulator runs in a child process by default, as Salesforce runs on another
machine: it neither competes for this process's interpreter lock nor counts in its
memory (an in-process target org keeps every record it receives, which tracemalloc
would charge to the run). ``--in-process`` serves it from a thread here instead.
Each scenario is run twice, timed and then traced, because tracing every allocation
slows Python down about threefold. Nothing is kept: the database, the emulator's
certificates and everything else live in temporary directories.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import multiprocessing
import os
import pstats
import secrets
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from simple_salesforce import Salesforce

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from migrations_app.models import Org, Template
    from salesforce_emulator import Emulator

ORGS = ("source", "small", "demo", "target")
CONTACT_FIELDS = [
    "FirstName",
    "LastName",
    "Email",
    "Title",
    "Phone",
    "Department",
    "MailingCity",
]
CONTACT_TEMPLATE = {
    "name": "Bench: Contacts",
    "objects": [
        {
            "sobject": "Contact",
            "fields": CONTACT_FIELDS,
            "filter": "",
            "match_key": ["Email"],
        }
    ],
}
COLLECTION_SIZE = 200
CHANGED_EVERY = 10  # "10% changed": every 10th source Contact gets a new Title
FIRST, FIRST_SMALL = "veid first (all inserts)", "veid first, N/4"
BULK, BULK_SMALL = "bulk first (Bulk API 2.0)", "bulk first, N/4"
GROWTH_PAIRS = {"rest": (FIRST_SMALL, FIRST), "bulk": (BULK_SMALL, BULK)}
# Records per Account in seed_demo_data: 1 + 3 Contacts + 1.5 Opportunities on average.
DEMO_RECORDS_PER_ACCOUNT = 5.5


# -- the emulator: commands run where it lives ----------------------------------------------


def contacts(count: int) -> list[dict[str, Any]]:
    cities = ("Paris", "London", "Austin", "Tokyo", "Berlin")
    return [
        {
            "FirstName": f"First{i}",
            "LastName": f"Last {i}",
            "Email": f"person{i}@example.com",
            "Title": "Engineer",
            "Phone": f"+1 555 {i % 10000:04d}",
            "Department": "R&D",
            "MailingCity": cities[i % len(cities)],
        }
        for i in range(count)
    ]


def cmd_reset(emu: Emulator, org: str) -> None:
    emu.org(org).reset_data()


def cmd_seed_contacts(emu: Emulator, org: str, count: int, every: int = 1) -> int:
    return len(emu.org(org).insert_many("Contact", contacts(count)[::every]))


def cmd_seed_demo(emu: Emulator, org: str, accounts: int) -> int:
    from salesforce_emulator import seed_demo_data

    return sum(seed_demo_data(emu.org(org), accounts=accounts, seed=42).values())


def cmd_change_contacts(emu: Emulator, org: str, every: int, title: str) -> int:
    target = emu.org(org)
    ids = [record["Id"] for record in target.records("Contact")][::every]
    for record_id in ids:
        target.update("Contact", record_id, {"Title": title})
    return len(ids)


def cmd_api_calls(emu: Emulator) -> dict[str, int]:
    return {name: emu.org(name).api_calls for name in emu.orgs}


COMMANDS: dict[str, Callable[..., Any]] = {
    "reset": cmd_reset,
    "seed_contacts": cmd_seed_contacts,
    "seed_demo": cmd_seed_demo,
    "change_contacts": cmd_change_contacts,
    "api_calls": cmd_api_calls,
}


def serve_emulator(conn: Connection) -> None:
    """Child process: serve the orgs, run commands from the pipe until told to stop."""
    from salesforce_emulator import Emulator

    with Emulator(orgs=list(ORGS), port=0) as emu:
        conn.send([emu.org(name).info() for name in ORGS])
        while (message := conn.recv()) is not None:
            name, kwargs = message
            try:
                conn.send((True, COMMANDS[name](emu, **kwargs)))
            except Exception as exc:
                conn.send((False, repr(exc)))


@dataclass
class EmulatorHandle:
    infos: dict[str, dict[str, Any]]
    call: Callable[..., Any]

    def api_calls(self) -> dict[str, int]:
        return dict(self.call("api_calls"))


@contextmanager
def child_emulator() -> Iterator[EmulatorHandle]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_emulator, args=(theirs,), daemon=True)
    process.start()

    def call(name: str, **kwargs: Any) -> Any:
        ours.send((name, kwargs))
        ok, value = ours.recv()
        if not ok:
            raise RuntimeError(f"emulator command {name} failed: {value}")
        return value

    try:
        yield EmulatorHandle({info["org"]: info for info in ours.recv()}, call)
    finally:
        with suppress(OSError):  # the child may be gone already (Ctrl-C)
            ours.send(None)
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()


@contextmanager
def thread_emulator() -> Iterator[EmulatorHandle]:
    from salesforce_emulator import Emulator

    with Emulator(orgs=list(ORGS), port=0) as emu:
        yield EmulatorHandle(
            {name: emu.org(name).info() for name in ORGS},
            lambda name, **kwargs: COMMANDS[name](emu, **kwargs),
        )


# -- Django ----------------------------------------------------------------------------


def setup_django(var_dir: Path) -> None:
    """Point the app at a throwaway SQLite database and bench-only secrets, migrate."""
    from cryptography.fernet import Fernet

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datamigrator.settings")
    os.environ.update(
        {
            "DATAMIGRATOR_VAR_DIR": str(var_dir),
            "DATABASE_URL": f"sqlite:///{var_dir / 'bench.sqlite3'}",
            "DEBUG": "0",  # DEBUG would log every SQL query in memory
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def register(info: dict[str, Any]) -> Org:
    from migrations_app.services.orgs import org_add

    return org_add(
        name=info["org"],
        login_url=info["login_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        ca_file=info["ca_file"],
    )


def import_templates() -> dict[str, Template]:
    from migrations_app.services.templates import template_import

    demo = json.loads((ROOT / "migrations_app/fixtures/demo_template.json").read_text())
    return {
        "contacts": template_import(data=CONTACT_TEMPLATE),
        "demo": template_import(data=demo),
    }


def forget_mappings() -> None:
    """A target reset leaves the app's mapping table to be emptied as well."""
    from migrations_app.models import RecordMapping

    RecordMapping.objects.all().delete()


@contextmanager
def path_thresholds(*, bulk: bool, records: int) -> Iterator[None]:
    """Pin the read/write path: Bulk API 2.0 below N records, REST + Collections above."""
    from django.test import override_settings

    limit = 1 if bulk else records * 10 + 1
    with override_settings(BULK_QUERY_THRESHOLD=limit, BULK_WRITE_THRESHOLD=limit):
        yield


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Figures:
    scenario: str
    records: int
    seconds: float
    api_calls: dict[str, int]
    emulator_api_calls: dict[str, int]
    peak_bytes: int | None = None
    traced_seconds: float | None = None
    outcome: dict[str, int] = field(default_factory=dict)
    status: str = ""
    expected: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def per_1000(self, side: str) -> float:
        return self.api_calls[side] * 1000 / self.records if self.records else 0.0

    def as_dict(self, baseline_rate: float | None) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["records_per_second"] = round(self.rate)
        data["api_calls_per_1000_records"] = {
            side: round(self.per_1000(side), 2) for side in self.api_calls
        }
        data["peak_mib"] = (
            round(self.peak_bytes / 2**20, 2) if self.peak_bytes else None
        )
        if baseline_rate:
            data["ratio_to_baseline"] = round(self.rate / baseline_rate, 3)
        return data


@contextmanager
def traced(enabled: bool) -> Iterator[Callable[[], int]]:
    """Trace Python allocations; yields a function returning the peak so far."""
    if not enabled:
        yield lambda: 0
        return
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def call_deltas(
    emulator: EmulatorHandle, before: dict[str, int], source: str, target: str
) -> dict[str, int]:
    after = emulator.api_calls()
    return {
        "source": after[source] - before[source],
        "target": after[target] - before[target],
    }


def execute(
    source: Org,
    target: Org,
    template: Template,
    strategy: str,
    *,
    trace: bool = False,
    profile: cProfile.Profile | None = None,
) -> tuple[dict[str, Any], float, int]:
    """One run through the services: (run_result, seconds in run_execute, peak bytes)."""
    from migrations_app.selectors import run_result
    from migrations_app.services.runs import run_create, run_execute

    run = run_create(
        template=template, source_org=source, target_org=target, strategy=strategy
    )
    gc.collect()  # no garbage of the previous run collected (and timed) in this one
    with traced(trace) as peak:
        started = time.perf_counter()
        with profile or nullcontext():
            finished = run_execute(run_id=run.pk)
        seconds = time.perf_counter() - started
        peak_bytes = peak()
    return run_result(run=finished), seconds, peak_bytes


@dataclass
class Bench:
    emulator: EmulatorHandle
    orgs: dict[str, Org]
    templates: dict[str, Template]
    records: int

    def empty_target(self) -> None:
        self.emulator.call("reset", org="target")
        forget_mappings()

    def run(
        self,
        scenario: str,
        strategy: str,
        *,
        prepare: Callable[[], None],
        source: str = "source",
        template: str = "contacts",
        bulk: bool = False,
        expected: dict[str, int] | None = None,
    ) -> Figures:
        """Prepare and time the scenario untraced, then prepare and trace its memory."""
        source_org, target_org = self.orgs[source], self.orgs["target"]
        with path_thresholds(bulk=bulk, records=self.records):
            prepare()
            before = self.emulator.api_calls()
            result, seconds, _ = execute(
                source_org, target_org, self.templates[template], strategy
            )
            emulator_calls = call_deltas(self.emulator, before, source, "target")
            prepare()
            _, traced_seconds, peak = execute(
                source_org, target_org, self.templates[template], strategy, trace=True
            )
        return Figures(
            scenario,
            result["totals"]["selected"],
            seconds,
            result["api_calls"],
            emulator_calls,
            peak,
            traced_seconds,
            outcome={k: v for k, v in result["totals"].items() if v},
            status=result["status"],
            expected=expected or {},
        )

    def profile(self) -> pstats.Stats:
        profiler = cProfile.Profile()
        with path_thresholds(bulk=False, records=self.records):
            self.empty_target()
            execute(
                self.orgs["source"],
                self.orgs["target"],
                self.templates["contacts"],
                "veid",
                profile=profiler,
            )
        return pstats.Stats(profiler)


# -- baseline: what any tool must spend --------------------------------------------------


def raw_client(info: dict[str, Any], session: requests.Session) -> Salesforce:
    token = session.post(
        info["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(info["client_id"], info["client_secret"]),
        timeout=30,
    ).json()["access_token"]
    return Salesforce(
        instance_url=info["instance_url"],
        session_id=token,
        session=session,
        version=info["api_version"],
    )


def copy_contacts(source: Salesforce, target: Salesforce) -> int:
    soql = f"SELECT Id, {', '.join(CONTACT_FIELDS)} FROM Contact"
    rows = [
        {name: record[name] for name in CONTACT_FIELDS}
        for record in source.query_all(soql)["records"]
    ]
    for start in range(0, len(rows), COLLECTION_SIZE):
        chunk = [
            {"attributes": {"type": "Contact"}, **row}
            for row in rows[start : start + COLLECTION_SIZE]
        ]
        results = target.restful(
            "composite/sobjects",
            method="POST",
            json={"allOrNone": False, "records": chunk},
        )
        if not results or not all(result["success"] for result in results):
            raise RuntimeError(f"baseline insert failed: {results}")
    return len(rows)


def baseline(emulator: EmulatorHandle, *, trace: bool = False) -> Figures:
    emulator.call("reset", org="target")
    with requests.Session() as session:
        session.verify = emulator.infos["source"]["ca_file"]
        session.trust_env = False
        source = raw_client(emulator.infos["source"], session)
        target = raw_client(emulator.infos["target"], session)
        before = emulator.api_calls()
        with traced(trace) as peak:
            started = time.perf_counter()
            count = copy_contacts(source, target)
            seconds = time.perf_counter() - started
            peak_bytes = peak()
        calls = call_deltas(emulator, before, "source", "target")
    return Figures(
        "baseline: query_all + Collections",
        count,
        seconds,
        calls,
        calls,
        peak_bytes or None,
        outcome={"inserted": count},
    )


# -- the scenarios -----------------------------------------------------------------------


def nothing() -> None:
    pass


def measure_all(bench: Bench, *, bulk: bool, demo: bool) -> list[Figures]:
    floor, traced_floor = baseline(bench.emulator), baseline(bench.emulator, trace=True)
    floor.peak_bytes, floor.traced_seconds = (
        traced_floor.peak_bytes,
        traced_floor.seconds,
    )
    results = [floor, *contact_scenarios(bench)]
    if bulk:
        results.append(
            bench.run(
                BULK_SMALL,
                "veid",
                source="small",
                bulk=True,
                prepare=bench.empty_target,
                expected={"inserted": bench.records // 4},
            )
        )
        results.append(
            bench.run(
                BULK,
                "veid",
                bulk=True,
                prepare=bench.empty_target,
                expected={"inserted": bench.records},
            )
        )
    if demo:
        results.append(
            bench.run(
                "veid first, demo Account tree",
                "veid",
                source="demo",
                template="demo",
                prepare=bench.empty_target,
            )
        )
    return results


def contact_scenarios(bench: Bench) -> list[Figures]:
    """First run (at N/4 and N), unchanged, 10% changed, veid_match adoption."""
    emulator, edits = bench.emulator, iter(range(1, 1000))

    def change_a_tenth() -> None:
        emulator.call(
            "change_contacts",
            org="source",
            every=CHANGED_EVERY,
            title=f"Changed {next(edits)}",
        )

    def half_in_target() -> None:
        bench.empty_target()
        emulator.call("seed_contacts", org="target", count=bench.records, every=2)

    n, quarter, tenth, half = (
        bench.records,
        bench.records // 4,
        len(range(0, bench.records, CHANGED_EVERY)),
        len(range(0, bench.records, 2)),
    )
    return [
        bench.run(
            FIRST_SMALL,
            "veid",
            source="small",
            prepare=bench.empty_target,
            expected={"inserted": quarter},
        ),
        bench.run(FIRST, "veid", prepare=bench.empty_target, expected={"inserted": n}),
        bench.run(
            "veid again, no change", "veid", prepare=nothing, expected={"unchanged": n}
        ),
        bench.run(
            "veid again, 10% changed",
            "veid",
            prepare=change_a_tenth,
            expected={"updated": tenth, "unchanged": n - tenth},
        ),
        bench.run(
            "veid_match first, half in target",
            "veid_match",
            prepare=half_in_target,
            expected={"adopted": half, "inserted": n - half},
        ),
    ]


def summary(results: list[Figures]) -> dict[str, Any]:
    floor = results[0]
    by_name = {figures.scenario: figures for figures in results}
    growth = {
        path: growth_ratio(by_name[small], by_name[full])
        for path, (small, full) in GROWTH_PAIRS.items()
        if small in by_name and full in by_name
    }
    return {
        "baseline_records_per_second": round(floor.rate),
        "baseline_api_calls_per_1000_records": {
            side: round(floor.per_1000(side), 2) for side in floor.api_calls
        },
        "peak_memory_n_vs_n_over_4": growth,
    }


def growth_ratio(small: Figures, full: Figures) -> float | None:
    """Peak memory at N over peak at N/4 for a first run (1.0: flat; 4.0: linear)."""
    if not small.peak_bytes or not full.peak_bytes:
        return None
    return round(full.peak_bytes / small.peak_bytes, 2)


# -- output ------------------------------------------------------------------------------


def table(results: list[Figures]) -> str:
    floor_rate = results[0].rate
    header = (
        f"{'scenario':<36} {'records':>7} {'s':>6} {'rec/s':>7} {'vs base':>7} "
        f"{'src/1k':>7} {'tgt/1k':>7} {'peak MiB':>8}  outcome"
    )
    lines = [header, "-" * len(header)]
    for f in results:
        peak = f"{f.peak_bytes / 2**20:.1f}" if f.peak_bytes else "-"
        outcome = ", ".join(f"{k} {v}" for k, v in f.outcome.items() if k != "selected")
        lines.append(
            f"{f.scenario:<36} {f.records:>7} {f.seconds:>6.2f} {f.rate:>7.0f} "
            f"{f.rate / floor_rate:>6.2f}x {f.per_1000('source'):>7.2f} "
            f"{f.per_1000('target'):>7.2f} {peak:>8}  {outcome}"
        )
    return "\n".join(lines)


def checks(results: list[Figures]) -> list[str]:
    """Disagreements worth a look: run counters vs the emulator's, unexpected statuses."""
    notes = []
    for f in results:
        if f.api_calls != f.emulator_api_calls:
            notes.append(
                f"{f.scenario}: the run recorded {f.api_calls} API calls, "
                f"the emulator counted {f.emulator_api_calls}"
            )
        if f.status and f.status != "succeeded":
            notes.append(f"{f.scenario}: run status {f.status}")
        wrong = {
            k: f.outcome.get(k, 0)
            for k, v in f.expected.items()
            if f.outcome.get(k, 0) != v
        }
        if wrong:
            notes.append(f"{f.scenario}: expected {f.expected}, got {wrong}")
    return notes


def print_profile(stats: pstats.Stats, destination: str | None) -> None:
    if destination:
        stats.dump_stats(destination)
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(r"migrations_app", 25)
    stats.sort_stats("tottime").print_stats(15)
    print(buffer.getvalue(), file=sys.stderr)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records",
        type=int,
        default=20000,
        help="source Contacts migrated (default 20000)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="serve the emulator from a thread of this process",
    )
    parser.add_argument(
        "--no-bulk", action="store_true", help="skip the Bulk API 2.0 scenarios"
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="add a first run of the demo template (Account tree, "
        "Contacts, Opportunities) on about N records",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="",
        metavar="FILE",
        help="also profile a first veid run (top costs to stderr; "
        "pstats saved to FILE if given)",
    )
    return parser.parse_args()


@contextmanager
def phase(phases: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    phases[name] = round(time.perf_counter() - started, 1)


def seed(emulator: EmulatorHandle, records: int, *, demo: bool) -> int:
    """Fill the source orgs; returns the number of demo records (0 without demo)."""
    emulator.call("seed_contacts", org="source", count=records)
    emulator.call("seed_contacts", org="small", count=records // 4)
    if not demo:
        return 0
    accounts = max(1, round(records / DEMO_RECORDS_PER_ACCOUNT))
    return int(emulator.call("seed_demo", org="demo", accounts=accounts))


def size_caveats(records: int, *, bulk: bool) -> list[str]:
    """Memory legitimately grows with N until N/4 fills a page or batch."""
    from migrations_app.engine.pages import BULK_JOB_SIZE as BULK_BATCH_SIZE
    from migrations_app.engine.pages import PAGE_SIZE

    sizes = {"rest": ("REST page", PAGE_SIZE)}
    if bulk:
        sizes["bulk"] = ("Bulk API batch", BULK_BATCH_SIZE)
    return [
        f"{path}: N/4 = {records // 4} is below one {what} of {size} records, so "
        f"peak memory may grow with N up to that size; use --records {4 * size} or "
        "more to test that memory is bounded"
        for path, (what, size) in sizes.items()
        if records // 4 < size
    ]


def report(
    args: argparse.Namespace,
    results: list[Figures],
    phases: dict[str, float],
    demo_records: int,
) -> None:
    notes = checks(results) + size_caveats(args.records, bulk=not args.no_bulk)
    if args.json:
        print(
            json.dumps(
                {
                    "records": args.records,
                    "demo_records": demo_records,
                    "emulator": "in-process" if args.in_process else "child process",
                    "cpu_count": os.cpu_count(),
                    "phase_seconds": phases,
                    "summary": summary(results),
                    "notes": notes,
                    "scenarios": [f.as_dict(results[0].rate) for f in results],
                },
                indent=2,
            )
        )
        return
    print(table(results))
    print()
    for key, value in summary(results).items():
        print(f"{key}: {value}")
    for note in notes:
        print(f"note: {note}")
    print("seconds spent: " + ", ".join(f"{k} {v}" for k, v in phases.items()))


def main() -> int:
    args = arguments()
    phases: dict[str, float] = {}
    stats = None
    with (
        tempfile.TemporaryDirectory(prefix="migration-bench-") as tmp,
        phase(phases, "total"),
    ):
        with phase(phases, "django setup"):
            setup_django(Path(tmp))
        emulator_cm = thread_emulator() if args.in_process else child_emulator()
        with emulator_cm as emulator:
            with phase(phases, "seeding"):
                demo_records = seed(emulator, args.records, demo=args.demo)
                bench = Bench(
                    emulator,
                    {name: register(emulator.infos[name]) for name in ORGS},
                    import_templates(),
                    args.records,
                )
            with phase(phases, "scenarios"):
                results = measure_all(bench, bulk=not args.no_bulk, demo=args.demo)
            if args.profile is not None:
                with phase(phases, "profile"):
                    stats = bench.profile()
    report(args, results, phases, demo_records)
    if stats is not None:
        print_profile(stats, args.profile or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
