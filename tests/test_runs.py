"""Run creation and claiming, without any Salesforce call."""

from __future__ import annotations

import gc

import pytest

from migrations_app.models import Org, Run, Strategy, Template
from migrations_app.services import runs
from migrations_app.services.errors import MigrationError
from migrations_app.services.runs import run_claim, run_create, run_execute
from migrations_app.services.templates import template_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def template() -> Template:
    return template_import(
        data={
            "name": "Contacts",
            "objects": [{"sobject": "Contact", "fields": ["LastName"]}],
        }
    )


def test_run_keeps_a_snapshot_of_the_template(
    org_pair: tuple[Org, Org], template: Template
) -> None:
    source, target = org_pair
    run = run_create(
        template=template, source_org=source, target_org=target, strategy="veid"
    )
    template.template_objects.update(sobject="Lead")
    run.refresh_from_db()
    assert run.template_snapshot["objects"][0]["sobject"] == "Contact"
    assert list(run.object_stats.values_list("sobject", flat=True)) == ["Contact"]
    assert run.status == Run.Status.QUEUED


@pytest.mark.parametrize(
    ("strategy", "same_org", "message"),
    [
        ("veid", True, "must be different orgs"),
        ("upsert", False, "Unknown strategy 'upsert'"),
    ],
)
def test_run_create_refuses_bad_input(
    org_pair: tuple[Org, Org],
    template: Template,
    strategy: str,
    same_org: bool,
    message: str,
) -> None:
    source, target = org_pair
    with pytest.raises(MigrationError, match=message):
        run_create(
            template=template,
            source_org=source,
            target_org=source if same_org else target,
            strategy=strategy,
        )


def test_a_second_writer_on_the_same_org_pair_waits_queued_for_the_first(
    org_pair: tuple[Org, Org], template: Template
) -> None:
    source, target = org_pair
    first = run_create(
        template=template, source_org=source, target_org=target, strategy=Strategy.VEID
    )
    assert run_claim(run_id=first.pk) is not None
    second = run_create(
        template=template, source_org=source, target_org=target, strategy=Strategy.VEID
    )

    result = run_execute(run_id=second.pk)

    assert (result.status, result.waiting_for_id, result.error) == (
        Run.Status.QUEUED,
        first.pk,
        "",
    )


def test_claiming_twice_gives_the_run_to_one_caller_only(
    org_pair: tuple[Org, Org], template: Template
) -> None:
    source, target = org_pair
    run = run_create(
        template=template, source_org=source, target_org=target, strategy=Strategy.VEID
    )
    assert run_claim(run_id=run.pk) is not None
    assert run_claim(run_id=run.pk) is None


def test_a_run_sets_older_objects_aside_from_the_collector_and_gives_them_back(
    org_pair: tuple[Org, Org], template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full collections during a run skip what existed before it (gc.freeze), and the
    process gets its objects back however the run ends."""
    source, target = org_pair
    run = run_create(
        template=template, source_org=source, target_org=target, strategy=Strategy.VEID
    )
    frozen_during: list[int] = []

    def crashing_run(run: Run, progress: object) -> Run:
        frozen_during.append(gc.get_freeze_count())
        raise RuntimeError("the run crashed")

    monkeypatch.setattr(runs, "_execute_claimed", crashing_run)
    frozen_before = gc.get_freeze_count()
    with pytest.raises(RuntimeError):
        run_execute(run_id=run.pk)

    assert frozen_during[0] > frozen_before
    assert gc.get_freeze_count() == 0  # nothing stays set aside after the run
