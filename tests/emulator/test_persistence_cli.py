"""Persistence across restarts, the command line and seeding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from salesforce_emulator import Emulator, Org, seed_demo_data
from salesforce_emulator.metadata import build_schema

ROOT = Path(__file__).resolve().parents[2]
INFO_KEYS = {
    "org",
    "login_url",
    "instance_url",
    "client_id",
    "client_secret",
    "organization_id",
    "username",
    "ca_file",
}


def test_data_survives_restart(tmp_path: Path) -> None:
    with Emulator(orgs=["source"], data_dir=tmp_path) as first:
        org = first.org("source")
        identity = (org.organization_id, org.client_id, org.client_secret, org.ids.pod)
        account = org.insert("Account", {"Name": "Kept", "Legacy_Id__c": "K-1"})
        case_id = org.insert("Case", {"Subject": "S"})
        token = org.issue_token()
        ca_pem = Path(first.ca_file).read_text()
    with Emulator(orgs=["source", "other"], data_dir=tmp_path) as second:
        org = second.org("source")
        assert (
            org.organization_id,
            org.client_id,
            org.client_secret,
            org.ids.pod,
        ) == identity
        assert org.get("Account", account)["Name"] == "Kept"  # type: ignore[index]
        assert org.get("Case", case_id)["CaseNumber"] == "00000001"  # type: ignore[index]
        assert org.insert("Case", {"Subject": "T"}) > case_id
        assert org.records("Case")[-1]["CaseNumber"] == "00000002"
        assert org.tokens.user_for(token) == org.integration_user_id
        assert Path(second.ca_file).read_text() == ca_pem
        assert second.org("other").ids.pod != org.ids.pod
        with pytest.raises(Exception, match="DUPLICATE_VALUE"):
            org.insert("Account", {"Name": "Dup", "Legacy_Id__c": "k-1"})


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "salesforce_emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert process.stdout is not None
    infos = [
        json.loads(process.stdout.readline())
        for _ in args[args.index("--orgs") + 1].split(",")
    ]
    return process, infos


def test_cli_serves_prints_json_and_crashes_on_demand(tmp_path: Path) -> None:
    process, infos = _start_cli("--data-dir", str(tmp_path), "--orgs", "source,target")
    try:
        assert [i["org"] for i in infos] == ["source", "target"]
        assert all(set(i) >= INFO_KEYS for i in infos)
        info = infos[1]
        http = requests.Session()
        http.verify, http.trust_env = info["ca_file"], False
        token = http.post(
            f"{info['login_url']}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(info["client_id"], info["client_secret"]),
        ).json()["access_token"]
        http.post(
            f"{info['instance_url']}/__emulator__/orgs/target/faults",
            json={"fail_after_writes": 1, "fail_mode": "exit"},
        )
        with pytest.raises(requests.ConnectionError):
            http.post(
                f"{info['instance_url']}/services/data/v59.0/sobjects/Account/",
                json={"Name": "Committed before the crash"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert process.wait(timeout=10) == 3
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    process, again = _start_cli("--data-dir", str(tmp_path), "--orgs", "target")
    try:
        assert again[0]["organization_id"] == info["organization_id"]
        assert again[0]["client_secret"] == info["client_secret"]
        http = requests.Session()
        http.verify, http.trust_env = again[0]["ca_file"], False
        response = http.get(
            f"{again[0]['instance_url']}/services/data/v59.0/query",
            params={"q": "SELECT Name FROM Account"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert [r["Name"] for r in response.json()["records"]] == [
            "Committed before the crash"
        ]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_seed_command(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "salesforce_emulator",
        "seed",
        "--data-dir",
        str(tmp_path),
        "--org",
        "source",
        "--accounts",
        "12",
        "--seed",
        "3",
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(output.stdout)["created"]["Account"] == 12
    skipped = subprocess.run(
        [*command, "--if-empty"], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(skipped.stdout)["skipped"] is True


def _snapshot(org: Org) -> list[tuple[Any, ...]]:
    names = {r["Id"]: r["Name"] for r in org.records("Account")}
    accounts = [
        (r["Name"], names.get(r["ParentId"]), r["Industry"])
        for r in org.records("Account")
    ]
    contacts = [
        (r["Name"], r["Email"], names[r["AccountId"]]) for r in org.records("Contact")
    ]
    deals = [
        (r["Name"], r["StageName"], r["Amount"], r["CloseDate"])
        for r in org.records("Opportunity")
    ]
    return [*accounts, *contacts, *deals]


def test_seed_is_deterministic_and_hierarchical() -> None:
    objects = build_schema()
    first, second, other = (Org(name, objects) for name in ("a", "b", "c"))
    counts = seed_demo_data(first, accounts=30, seed=5)
    seed_demo_data(second, accounts=30, seed=5)
    seed_demo_data(other, accounts=30, seed=6)
    assert counts["Account"] == 30
    assert counts["Contact"] >= 30
    assert counts["Opportunity"] > 0
    assert _snapshot(first) == _snapshot(second)
    assert _snapshot(first) != _snapshot(other)
    accounts = {r["Id"]: r for r in first.records("Account")}
    depth = max(_depth(accounts, account_id) for account_id in accounts)
    assert depth == 3
    emails = [r["Email"] for r in first.records("Contact")]
    assert len(set(emails)) < len(emails)  # some people appear under several accounts


def _depth(accounts: dict[str, dict[str, Any]], account_id: str) -> int:
    parent = accounts[account_id]["ParentId"]
    return 1 if parent is None else 1 + _depth(accounts, parent)
