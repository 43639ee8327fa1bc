"""The chaos command (issue 11, item 5): its comparison catches what it must catch,
a real run with kills and faults comes out clean, and a deliberately broken
reconciliation makes it report duplicates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import django_rq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from migrations_app.services.chaos import ChaosConfig, chaos_run
from migrations_app.services.chaos_compare import ObjectData, compare_object, keys_by_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

BROKEN_WORKER = [
    sys.executable,
    str(Path(__file__).with_name("broken_reconciliation_worker.py")),
]


@pytest.fixture(autouse=True)
def _empty_queue() -> None:
    django_rq.get_queue("default").empty()


def contacts(*rows: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [{"Id": i, "Email": email, "AccountId": parent} for i, email, parent in rows]


def data(**changes: Any) -> ObjectData:
    values: dict[str, Any] = {
        "sobject": "Contact",
        "key": "Email",
        "lookups": {"AccountId": "Account"},
        "source": contacts(("s1", "a@x", "sa"), ("s2", "b@x", "sa")),
        "target": contacts(("t1", "a@x", "ta"), ("t2", "b@x", "ta")),
        "reference": contacts(("r1", "a@x", "ra"), ("r2", "b@x", "ra")),
        "mappings": [("s1", "t1"), ("s2", "t2")],
        "counts": {"inserted": 2},
        "reference_counts": {"inserted": 2},
    }
    return ObjectData(**{**values, **changes})


PARENTS = {"sa": "Account:A", "ta": "Account:A", "ra": "Account:A", "tb": "Account:B"}


def test_a_faithful_copy_compares_clean() -> None:
    item = compare_object(data(), PARENTS)
    assert item.ok
    assert item.duplicates == item.missing == 0


def test_the_comparison_counts_each_kind_of_damage() -> None:
    item = compare_object(
        data(
            target=contacts(
                ("t1", "a@x", "tb"), ("t2", "b@x", "ta"), ("t3", "b@x", "ta")
            ),
            mappings=[("s1", "t2")],
            counts={"inserted": 3},
        ),
        PARENTS,
    )
    assert (item.duplicates, item.missing, item.extra) == (1, 0, 0)
    assert (item.mappings_lost, item.mappings_wrong, item.lookups_wrong) == (1, 1, 1)
    assert not item.counts_match
    assert not item.ok


def test_keys_by_id_names_records_of_every_org() -> None:
    assert keys_by_id([data()])["t2"] == "Contact:b@x"


def test_chaos_with_kills_and_faults_finds_nothing_wrong_and_no_manual_launch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command(
        "chaos", "--kills", "2", "--fault-rate", "0.05", "--accounts", "12", "--json"
    )

    report = json.loads(capsys.readouterr().out)
    assert report["ok"], report
    assert report["stats"]["kills"] == 2
    assert report["stats"]["manual_launches"] == 0
    assert [o["sobject"] for o in report["objects"]] == [
        "Account",
        "Contact",
        "Opportunity",
    ]
    assert all(o["duplicates"] == 0 and o["counts_match"] for o in report["objects"])


def test_a_broken_reconciliation_makes_chaos_report_duplicates() -> None:
    # Two kills, one of them between Salesforce's answer and the database commit:
    # its in-doubt batch is "reconciled" as never created, and sent again.
    report = chaos_run(
        ChaosConfig(
            kills=2, fault_rate=0.0, accounts=12, seed=4, worker_command=BROKEN_WORKER
        )
    )

    assert not report.ok
    assert report.stats.kills_after_write == 1
    assert sum(item.duplicates for item in report.objects) > 0
    # The target holds more records than the reference: the copies sent twice.
    assert any(item.target > item.reference for item in report.objects)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--kills", "1", "--fault-rate", "1.5"], "--fault-rate must be at least 0"),
        (["--kills", "-1", "--fault-rate", "0"], "--kills must be 0 or more"),
    ],
)
def test_bad_arguments_are_one_line_errors(arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message) as error:
        call_command("chaos", *arguments)
    assert "\n" not in str(error.value)
