"""Throughput of the Salesforce emulator as seen by the real simple-salesforce client.

    python benchmarks/emulator_bench.py [--records 20000] [--bulk-records 50000]
                                        [--persist] [--in-process] [--json]

Measures, against a fresh in-memory org:

- ingest through sObject Collections (200 records per call, ``sf.restful``, one
  keep-alive ``requests.Session``),
- ingest through Bulk API 2.0 (``sf.bulk2.Contact.insert(records=..., wait=0)``),
- REST query (``sf.query_all``, 2,000 records per page),
- Bulk API 2.0 query (``sf.bulk2.Contact.query(..., wait=0)``),

and prints records/s and API calls spent per 1,000 records. By default the emulator runs
in a child process (``python -m salesforce_emulator --port 0``) so that client and
server do not share one interpreter lock, as in real use.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ORG = "bench"


@dataclass
class Server:
    info: dict[str, Any]
    session: requests.Session

    def api_calls(self) -> int:
        response = self.session.get(f"{self.info['control_url']}")
        return int(response.json()["api_calls"])

    def reset(self) -> None:
        self.session.post(f"{self.info['control_url']}/reset")


@contextmanager
def child_process_server(data_dir: str | None) -> Iterator[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    persistence = ["--data-dir", data_dir] if data_dir else []
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "salesforce_emulator",
            "--port",
            "0",
            "--orgs",
            ORG,
            *persistence,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def in_process_server(data_dir: str | None) -> Iterator[dict[str, Any]]:
    from salesforce_emulator import Emulator

    with Emulator(orgs=[ORG], data_dir=data_dir) as emulator:
        yield emulator.org(ORG).info()


def client(info: dict[str, Any]) -> tuple[Any, requests.Session]:
    session = requests.Session()
    session.verify = info["ca_file"]
    session.trust_env = False
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
        version="59.0",
    ), session


def contacts(count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "FirstName": f"First{i}",
            "LastName": f"{tag} Last {i}",
            "Email": f"person{i}.{tag}@example.com",
            "Title": "Engineer",
            "Phone": f"+1 555 {i % 10000:04d}",
            "Department": "R&D",
        }
        for i in range(count)
    ]


# Ingest rates the emulator must sustain so that it never limits a benchmark.
COLLECTIONS_TARGET = 5_000
BULK_TARGET = 20_000


@dataclass
class Measurement:
    name: str
    records: int
    seconds: float
    calls: int
    target: float | None = None  # records/s the emulator must sustain (issue 3)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "records": self.records,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.rate),
            "api_calls": self.calls,
            "calls_per_1000_records": round(self.calls * 1000 / self.records, 2),
            "target_records_per_second": self.target,
            "times_target": round(self.rate / self.target, 1) if self.target else None,
        }


def measure(
    server: Server,
    name: str,
    records: int,
    work: Callable[[], None],
    target: float | None = None,
) -> Measurement:
    before = server.api_calls()
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    return Measurement(name, records, elapsed, server.api_calls() - before, target)


def collections_ingest(sf: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 200):
        chunk = [
            {"attributes": {"type": "Contact"}, **row}
            for row in rows[start : start + 200]
        ]
        results = sf.restful(
            "composite/sobjects",
            method="POST",
            json={"allOrNone": False, "records": chunk},
        )
        if not results or not all(r["success"] for r in results):
            raise RuntimeError(f"collections insert failed: {results}")


def bulk_ingest(sf: Any, rows: list[dict[str, Any]]) -> None:
    result = sf.bulk2.Contact.insert(records=rows, wait=0)
    if sum(int(job["numberRecordsFailed"]) for job in result):
        raise RuntimeError(f"bulk insert had failures: {result}")


def rest_query(sf: Any, expected: int) -> None:
    result = sf.query_all("SELECT Id, FirstName, LastName, Email, Title FROM Contact")
    if result["totalSize"] != expected:
        raise RuntimeError(
            f"query_all returned {result['totalSize']} of {expected} records"
        )


def bulk_query(sf: Any, expected: int) -> None:
    pages = sf.bulk2.Contact.query(
        "SELECT Id, FirstName, LastName, Email, Title FROM Contact", wait=0
    )
    lines = sum(page.count("\n") - 1 for page in pages)
    if lines != expected:
        raise RuntimeError(f"bulk query returned {lines} of {expected} records")


def run(info: dict[str, Any], records: int, bulk_records: int) -> list[Measurement]:
    sf, session = client(info)
    server = Server(info, session)
    server.reset()
    results = [
        measure(
            server,
            "collections insert (200/call)",
            records,
            lambda: collections_ingest(sf, contacts(records, "c")),
            target=COLLECTIONS_TARGET,
        )
    ]
    bulk_rows = contacts(bulk_records, "b")
    results.append(
        measure(
            server,
            "bulk 2.0 insert (1 job)",
            bulk_records,
            lambda: bulk_ingest(sf, bulk_rows),
            target=BULK_TARGET,
        )
    )
    total = records + bulk_records
    results.append(
        measure(
            server, "REST query_all (2000/page)", total, lambda: rest_query(sf, total)
        )
    )
    results.append(
        measure(server, "bulk 2.0 query", total, lambda: bulk_query(sf, total))
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records",
        type=int,
        default=20000,
        help="records ingested through Collections (default 20000)",
    )
    parser.add_argument(
        "--bulk-records",
        type=int,
        default=None,
        help="records ingested through Bulk 2.0 (default 2.5 x --records)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the emulator in this process (shares the GIL)",
    )
    parser.add_argument(
        "--persist",
        action="store_true",
        help="write through to SQLite in a temporary data dir",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    args = parser.parse_args()
    bulk_records = args.bulk_records or int(args.records * 2.5)
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        data_dir = tmp if args.persist else None
        server = (
            in_process_server(data_dir)
            if args.in_process
            else child_process_server(data_dir)
        )
        with server as info:
            results = run(info, args.records, bulk_records)
    for result in results:
        if args.json:
            print(json.dumps(result.as_dict()))
        else:
            data = result.as_dict()
            print(
                f"{data['benchmark']:<32} {data['records']:>8} records "
                f"{data['seconds']:>8.2f} s {data['records_per_second']:>9} records/s "
                f"{data['calls_per_1000_records']:>7} calls/1000 records"
                + (f"  {data['times_target']}x target" if data["times_target"] else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
