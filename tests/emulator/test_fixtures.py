"""The pytest fixtures module other test suites import."""

from __future__ import annotations

from typing import Any

from salesforce_emulator import Org
from salesforce_emulator.pytest_fixtures import *  # noqa: F403


def test_pytest_fixtures(
    sf_source: Any, sf_target: Any, sf_source_org: Org, sf_target_org: Org
) -> None:
    sf_source_org.insert("Account", {"Name": "In source"})
    assert sf_source.query("SELECT COUNT() FROM Account")["totalSize"] == 1
    assert sf_target.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert sf_source_org.organization_id != sf_target_org.organization_id
