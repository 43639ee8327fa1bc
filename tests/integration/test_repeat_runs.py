"""Repeat runs read only what changed in the source, by the source org's own clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from migrations_app.models import RecordMapping, Run
from migrations_app.services.templates import template_import
from tests.integration.conftest import OrgPair, make_template

CONTACT = {
    "sobject": "Contact",
    "fields": ["FirstName", "LastName", "Email"],
    "match_key": ["Email"],
}
HOUR = 3600


@pytest.fixture
def clock(orgs: OrgPair) -> Iterator[Any]:
    """The emulator's clock, back to real time after the test (it is shared)."""
    yield orgs.emulator
    orgs.emulator.set_clock_offset(0)


def seed(orgs: OrgPair, count: int) -> list[str]:
    return [
        orgs.source_org.insert(
            "Contact",
            {"FirstName": f"F{i}", "LastName": f"L{i}", "Email": f"p{i}@example.com"},
        )
        for i in range(count)
    ]


def test_a_repeat_run_an_hour_later_reads_only_the_changed_records(
    orgs: OrgPair, clock: Any
) -> None:
    template = make_template("Repeat", CONTACT)
    ids = seed(orgs, 12)
    clock.advance_clock(HOUR)  # the records were made well before the first run
    first = orgs.migrate(template, "veid")
    assert first["read"]["mode"] == "full"
    assert first["totals"]["inserted"] == 12

    clock.advance_clock(HOUR)
    unchanged = orgs.migrate(template, "veid")
    orgs.source_org.update("Contact", ids[5], {"LastName": "Renamed"})
    changed = orgs.migrate(template, "veid")

    assert unchanged["read"]["mode"] == "changed"
    assert unchanged["totals"]["selected"] == 0
    assert unchanged["api_calls"]["target"] <= first["api_calls"]["target"] - 1
    assert changed["totals"]["selected"] == 1
    assert changed["totals"]["updated"] == 1
    target_id = RecordMapping.objects.get(source_id=ids[5]).target_id
    assert orgs.target_org.get("Contact", target_id)["LastName"] == "Renamed"
    assert orgs.target_org.count("Contact") == 12


def test_a_changed_template_or_a_full_run_reads_everything(
    orgs: OrgPair, clock: Any
) -> None:
    template = make_template("Repeat", CONTACT)
    seed(orgs, 5)
    clock.advance_clock(HOUR)
    orgs.migrate(template, "veid")
    clock.advance_clock(HOUR)

    asked = orgs.migrate(template, "veid", full=True)
    template_import(
        data={
            "name": "Repeat",
            "objects": [{**CONTACT, "fields": ["LastName", "Email"]}],
        },
        replace=True,
    )
    template.refresh_from_db()
    edited = orgs.migrate(template, "veid")

    assert (asked["read"]["mode"], asked["totals"]["selected"]) == ("full", 5)
    assert edited["read"]["mode"] == "full"
    assert "template changed" in edited["read"]["reason"]
    assert edited["totals"]["selected"] == 5


def test_a_last_run_older_than_the_replication_window_means_a_full_read(
    orgs: OrgPair, clock: Any
) -> None:
    template = make_template("Repeat", CONTACT)
    seed(orgs, 3)
    orgs.migrate(template, "veid")
    clock.advance_clock(31 * 24 * HOUR)

    late = orgs.migrate(template, "veid")

    assert late["read"]["mode"] == "full"
    assert late["totals"]["unchanged"] == 3


def test_an_adopted_record_that_already_holds_the_values_is_not_updated(
    orgs: OrgPair,
) -> None:
    template = make_template("Adopt", CONTACT)
    values = {"FirstName": "Ada", "LastName": "Byron", "Email": "ada@example.com"}
    source_id = orgs.source_org.insert("Contact", values)
    target_id = orgs.target_org.insert("Contact", values)
    stamp = orgs.target_org.get("Contact", target_id)["SystemModstamp"]

    result = orgs.migrate(template, "veid_match")

    assert result["totals"]["adopted"] == 1
    assert orgs.target_org.get("Contact", target_id)["SystemModstamp"] == stamp
    mapping = RecordMapping.objects.get(source_id=source_id)
    run = Run.objects.get(pk=result["run_id"])
    assert mapping.target_id == target_id
    assert mapping.created_by_run == run
    assert mapping.source_organization_id == run.source_organization_id
    assert mapping.target_organization_id == run.target_organization_id
    assert run.results.get().action == "adopted"
