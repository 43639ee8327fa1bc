"""Speed and memory of file transfer: files that follow their records (issue 13).

    python benchmarks/files_bench.py [--files 24] [--large-mb 256] [--json]

Against the Salesforce emulator in a child process (as Salesforce runs on another
machine), with a throwaway SQLite database, it measures:

- ``files, mixed sizes``: a ``veid`` run of one Contact template with
  ``include_files``, whose Contacts hold ``--files`` files from 2 KB to 8 MB (small
  ones go as base64 JSON, the others as streamed multipart); bytes per second of
  content moved (content bytes / wall time of ``run_execute``);
- ``raw baseline``: the same files moved with simple-salesforce alone, as a script
  would: download each VersionData, insert it as base64 JSON; no mapping, no
  database, no links. The run's speed is also given as a ratio to it;
- ``repeat run``: the same run again (every file unchanged: nothing is sent);
- ``one large file``: a single file of ``--large-mb`` MB, far above the in-memory
  threshold, with the peak of Python memory during the run (tracemalloc), to show
  that memory stays bounded whatever the size.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import secrets
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from migration_bench import register, setup_django  # noqa: E402

ORGS = ("source", "target")
SIZES = (2_000, 30_000, 300_000, 1_500_000, 8_000_000)
TEMPLATE = {
    "name": "Bench: Contacts with files",
    "objects": [
        {"sobject": "Contact", "fields": ["LastName", "Email"], "include_files": True}
    ],
}


# -- the emulator, in a child process --------------------------------------------------


def _seed_files(emu: Any, sizes: list[int]) -> int:
    org = emu.org("source")
    # Seeding goes through the emulator's Python API with base64 content; only the
    # app's own transfers are measured against Salesforce's limits.
    org.file_limits.json_base64 = 2**40
    total = 0
    for number, size in enumerate(sizes):
        contact = org.insert(
            "Contact",
            {"LastName": f"Owner {number}", "Email": f"o{number}@example.com"},
        )
        data = secrets.token_bytes(size)
        org.insert(
            "ContentVersion",
            {
                "PathOnClient": f"file-{number}.bin",
                "VersionData": base64.b64encode(data).decode(),
                "FirstPublishLocationId": contact,
            },
        )
        total += size
    return total


def _reset(emu: Any, org: str) -> None:
    emu.org(org).reset_data()


COMMANDS: dict[str, Callable[..., Any]] = {"seed_files": _seed_files, "reset": _reset}


def _serve(conn: Connection) -> None:
    from salesforce_emulator import Emulator

    with Emulator(orgs=list(ORGS), port=0) as emu:
        conn.send([emu.org(name).info() for name in ORGS])
        while (message := conn.recv()) is not None:
            name, kwargs = message
            conn.send(COMMANDS[name](emu, **kwargs))


@contextmanager
def child_emulator() -> Iterator[tuple[dict[str, Any], Callable[..., Any]]]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs,), daemon=True)
    process.start()

    def call(name: str, **kwargs: Any) -> Any:
        ours.send((name, kwargs))
        return ours.recv()

    try:
        yield {info["org"]: info for info in ours.recv()}, call
    finally:
        with suppress(OSError):
            ours.send(None)
        process.join(timeout=30)


# -- measuring -----------------------------------------------------------------------


def raw_copy(infos: dict[str, Any]) -> float:
    """Seconds simple-salesforce alone takes to move every source file."""
    clients = {name: _client(infos[name]) for name in ORGS}
    source, target = clients["source"], clients["target"]
    started = time.perf_counter()
    rows = source.query_all("SELECT PathOnClient, VersionData FROM ContentVersion")
    versions: Any = target.ContentVersion
    for row in rows["records"]:
        response = source.session.get(
            f"https://{source.sf_instance}{row['VersionData']}",
            headers={"Authorization": f"Bearer {source.session_id}"},
        )
        response.raise_for_status()
        versions.create(
            {
                "PathOnClient": row["PathOnClient"],
                "VersionData": base64.b64encode(response.content).decode(),
            }
        )
    return time.perf_counter() - started


def _client(info: dict[str, Any]) -> Salesforce:
    session = requests.Session()
    session.verify = info["ca_file"]
    session.trust_env = False
    token = session.post(
        info["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(info["client_id"], info["client_secret"]),
    ).json()["access_token"]
    return Salesforce(
        instance_url=info["instance_url"],
        session_id=token,
        session=session,
        version=info["api_version"],
    )


def run_once(template: Any, source: Any, target: Any, *, trace: bool) -> dict[str, Any]:
    from migrations_app.selectors import run_result
    from migrations_app.services.runs import run_create, run_execute

    run = run_create(
        template=template, source_org=source, target_org=target, strategy="veid"
    )
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    result = run_result(run=run_execute(run_id=run.pk))
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    files = result["files"].get("Contact", {})
    return {
        "status": result["status"],
        "seconds": round(seconds, 3),
        "files": files,
        "bytes_per_second": round(files.get("bytes", 0) / seconds) if seconds else 0,
        "peak_mib": round(peak / 2**20, 2) if peak is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--large-mb", type=int, default=256)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [SIZES[i % len(SIZES)] for i in range(args.files)]
    with tempfile.TemporaryDirectory() as var, child_emulator() as (infos, call):
        setup_django(Path(var))
        from migrations_app.models import RecordMapping
        from migrations_app.services.templates import template_import

        source, target = register(infos["source"]), register(infos["target"])
        template = template_import(data=TEMPLATE)
        total = call("seed_files", sizes=sizes)
        raw_seconds = raw_copy(infos)
        call("reset", org="target")
        figures: dict[str, Any] = {"content_bytes": total}
        figures["raw baseline"] = {
            "seconds": round(raw_seconds, 3),
            "bytes_per_second": round(total / raw_seconds),
        }
        figures["files, mixed sizes"] = run_once(template, source, target, trace=False)
        figures["repeat run"] = run_once(template, source, target, trace=False)
        figures["files, mixed sizes"]["ratio_to_baseline"] = round(
            figures["files, mixed sizes"]["bytes_per_second"]
            / figures["raw baseline"]["bytes_per_second"],
            3,
        )
        for org in ORGS:
            call("reset", org=org)
        RecordMapping.objects.all().delete()
        call("seed_files", sizes=[args.large_mb * 2**20])
        figures[f"one large file ({args.large_mb} MB)"] = run_once(
            template, source, target, trace=True
        )
    print(json.dumps(figures, indent=2) if args.json else _table(figures))


def _table(figures: dict[str, Any]) -> str:
    lines = [f"content: {figures.pop('content_bytes') / 2**20:.1f} MiB"]
    for name, data in figures.items():
        rate = data["bytes_per_second"] / 2**20
        extra = "".join(
            f", {key} {value}"
            for key, value in data.items()
            if key in ("ratio_to_baseline", "peak_mib", "files")
        )
        lines.append(f"{name:<28} {data['seconds']:>8.2f} s {rate:>8.1f} MiB/s{extra}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
