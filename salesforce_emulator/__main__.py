"""Command line: serve orgs, or seed an org with demo data.

    python -m salesforce_emulator [--port 8443] [--host localhost] [--data-dir DIR]
        [--orgs source,target] [--schema FILE ...] [--page-size N] [--api-limit N]
        [--token-lifetime SECONDS] [--seed-demo ORG[:ACCOUNTS]] [--auto-approve]
        [--sandbox NAME:SOURCE ...] [--clock-offset SECONDS]
        [--cert FILE --key FILE [--ca FILE]] [--verbose]
    python -m salesforce_emulator seed --data-dir DIR --org NAME [--accounts 200]
        [--seed 42] [--schema FILE ...] [--if-empty]
    python -m salesforce_emulator sandbox --data-dir DIR --org NAME --source ORG
        [--refresh] [--schema FILE ...]

``--sandbox uat:source`` serves org "uat" as a sandbox copy of "source" (made after
``--seed-demo``; with ``--data-dir`` a sandbox saved earlier is served as it is). The
``sandbox`` command creates a saved sandbox, or with ``--refresh`` refreshes one (new
Organization Id, data copied again; logins stay), while no server runs.

Serving prints one JSON line per org (org, login_url, instance_url, client_id,
client_secret, organization_id, username, ca_file, ...) and runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from salesforce_emulator.emulator import Emulator
from salesforce_emulator.seed import seed_demo_data


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m salesforce_emulator",
        description="Serve emulated Salesforce orgs over HTTPS.",
    )
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    parser.add_argument("--host", default="localhost", help="host name used in URLs")
    parser.add_argument("--bind", default=None, help="address to listen on")
    parser.add_argument(
        "--data-dir", default=None, help="persist orgs here (else memory)"
    )
    parser.add_argument(
        "--orgs", default="source,target", help="comma-separated org names"
    )
    parser.add_argument(
        "--schema", action="append", default=[], help="schema JSON file"
    )
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--api-limit", type=int, default=None)
    parser.add_argument("--token-lifetime", type=int, default=None, help="seconds")
    parser.add_argument(
        "--seed-demo",
        action="append",
        default=[],
        metavar="ORG[:ACCOUNTS]",
        help="seed demo data into ORG when it has no Accounts",
    )
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="authorize requests are approved without the login page",
    )
    parser.add_argument(
        "--sandbox",
        action="append",
        default=[],
        metavar="NAME:SOURCE",
        help="serve org NAME as a sandbox copy of org SOURCE",
    )
    parser.add_argument(
        "--clock-offset",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="run the emulator's clock this far ahead of real time",
    )
    parser.add_argument("--cert", default=None, help="server certificate chain (PEM)")
    parser.add_argument("--key", default=None, help="server private key (PEM)")
    parser.add_argument("--ca", default=None, help="CA file to report to clients")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def _seed_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m salesforce_emulator seed",
        description="Fill an org with demo data.",
    )
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--schema", action="append", default=[])
    parser.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing when the org already has Accounts",
    )
    return parser


def _sandbox_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m salesforce_emulator sandbox",
        description="Create (or refresh) a saved org as a sandbox copy of another.",
    )
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--org", required=True, help="the sandbox org")
    parser.add_argument("--source", required=True, help="the org to copy")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="refresh the existing sandbox ORG (else it must not exist yet)",
    )
    parser.add_argument("--schema", action="append", default=[])
    return parser


def _saved(emulator: Emulator, name: str) -> bool:
    org_dir = emulator.org_dir
    return org_dir is not None and (org_dir / f"{name}.sqlite3").exists()


def _open_sandboxes(emulator: Emulator, specs: Sequence[str]) -> None:
    """Create each ``NAME:SOURCE`` sandbox, or open it when it was saved before."""
    for spec in specs:
        name, _, source = spec.partition(":")
        if not name or not source:
            raise SystemExit(f"--sandbox expects NAME:SOURCE, got {spec!r}")
        if name in emulator.orgs or _saved(emulator, name):
            if not emulator.add_org(name).is_sandbox:
                raise SystemExit(f"org {name!r} exists and is not a sandbox")
            continue
        emulator.create_sandbox(name, source)


def _stop_on_signals(emulator: Emulator) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        emulator.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve(argv: Sequence[str]) -> int:
    args = _serve_parser().parse_args(argv)
    faults = {}
    if args.api_limit is not None:
        faults["api_limit"] = args.api_limit
    if args.token_lifetime is not None:
        faults["token_lifetime"] = args.token_lifetime
    emulator = Emulator(
        [name.strip() for name in args.orgs.split(",") if name.strip()],
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        bind=args.bind,
        schema_files=args.schema,
        page_size=args.page_size,
        certfile=args.cert,
        keyfile=args.key,
        ca_file=args.ca,
        faults=faults,
        auto_approve=args.auto_approve,
        verbose=args.verbose,
        clock_offset=args.clock_offset,
    )
    for spec in args.seed_demo:
        name, _, count = spec.partition(":")
        org = emulator.org(name)
        if org.count("Account") == 0:
            seed_demo_data(org, accounts=int(count or 200))
    _open_sandboxes(emulator, args.sandbox)
    emulator.start()
    for info in emulator.infos():
        print(json.dumps(info), flush=True)
    _stop_on_signals(emulator)
    emulator.wait()
    emulator.stop()
    return 0


def seed(argv: Sequence[str]) -> int:
    args = _seed_parser().parse_args(argv)
    emulator = Emulator([args.org], data_dir=args.data_dir, schema_files=args.schema)
    try:
        org = emulator.org(args.org)
        if args.if_empty and org.count("Account"):
            print(json.dumps({"org": args.org, "skipped": True}))
            return 0
        counts = seed_demo_data(org, accounts=args.accounts, seed=args.seed)
        print(json.dumps({"org": args.org, "created": counts}))
    finally:
        emulator.stop()
    return 0


def sandbox(argv: Sequence[str]) -> int:
    args = _sandbox_parser().parse_args(argv)
    emulator = Emulator([args.source], data_dir=args.data_dir, schema_files=args.schema)
    try:
        exists = _saved(emulator, args.org)
        if exists != args.refresh:
            problem = "exists: add --refresh" if exists else "does not exist yet"
            print(f"org {args.org!r} {problem}", file=sys.stderr)
            return 2
        if args.refresh:
            emulator.add_org(args.org)
            org = emulator.refresh_sandbox(args.org, args.source)
        else:
            org = emulator.create_sandbox(args.org, args.source)
        print(
            json.dumps(
                {
                    "org": org.name,
                    "sandbox_of": org.sandbox_of,
                    "organization_id": org.organization_id,
                    "refreshed": args.refresh,
                }
            )
        )
    finally:
        emulator.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["seed"]:
        return seed(argv[1:])
    if argv[:1] == ["sandbox"]:
        return sandbox(argv[1:])
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
