"""The mapping pages: who may see and do what, filters, id search, CSV, audit panel."""

from __future__ import annotations

import csv
import io
from http import HTTPStatus
from typing import Any
from unittest.mock import patch

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from migrations_app.engine.ids import to_18
from migrations_app.models import MappingAudit, Org, RecordMapping

pytestmark = pytest.mark.django_db


def record_id(id15: str) -> str:
    value = to_18(id15)
    assert value is not None
    return value


SOURCE_IDS = [record_id(f"003Aa00000000{i:02d}") for i in range(3)]
TARGET_IDS = [record_id(f"003Bb00000000{i:02d}") for i in range(3)]


@pytest.fixture
def pair(org_pair: tuple[Org, Org]) -> tuple[Org, Org]:
    source, target = org_pair
    Org.objects.filter(pk=target.pk).update(instance_url="https://target.example.com")
    target.refresh_from_db()
    for index, (source_id, target_id) in enumerate(
        zip(SOURCE_IDS, TARGET_IDS, strict=True)
    ):
        RecordMapping.objects.create(
            source_org=source,
            target_org=target,
            sobject="Contact" if index < 2 else "Account",
            source_id=source_id,
            target_id=target_id,
            status="outdated" if index == 1 else "active",
            outdated_reason_code="target_deleted" if index == 1 else "",
        )
    return source, target


def user_with(*codenames: str) -> User:
    user = User.objects.create_user(f"user-{'-'.join(codenames) or 'none'}")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="migrations_app", codename__in=codenames
        )
    )
    return user


def streamed_text(response: Any) -> str:
    return b"".join(response.streaming_content).decode()


def client_for(*codenames: str) -> Client:
    client = Client()
    client.force_login(user_with(*codenames))
    return client


def test_anonymous_is_sent_to_login(pair: tuple[Org, Org]) -> None:
    response = Client().get(reverse("migrations_app:mapping-list"))
    assert response.status_code == HTTPStatus.FOUND
    assert "login" in response["Location"]


@pytest.mark.parametrize(
    ("name", "method", "kwargs"),
    [
        ("mapping-list", "get", {}),
        ("mapping-csv", "get", {}),
        ("mapping-detail", "get", {"mapping_id": 0}),
        ("pair-audit", "get", {"source_id": 0, "target_id": 0}),
        ("pair-audit-start", "post", {"source_id": 0, "target_id": 0}),
        ("mapping-relink", "post", {"mapping_id": 0}),
        ("mapping-retire", "post", {"mapping_id": 0}),
        ("mapping-delete-duplicate", "post", {"mapping_id": 0}),
        ("pair-adopt-twins", "post", {"source_id": 0, "target_id": 0}),
        ("mapping-preflight", "get", {}),
    ],
)
def test_a_user_without_the_permission_gets_403(
    pair: tuple[Org, Org], name: str, method: str, kwargs: dict[str, int]
) -> None:
    source, target = pair
    mapping = RecordMapping.objects.first()
    assert mapping is not None
    filled = {
        key: mapping.pk
        if key == "mapping_id"
        else (source.pk, target.pk)[key == "target_id"]
        for key in kwargs
    }
    url = reverse(f"migrations_app:{name}", kwargs=filled)
    # Viewing does not allow auditing, repairing or launching.
    viewer = client_for("view_recordmapping")
    allowed = name in {
        "mapping-list",
        "mapping-csv",
        "mapping-detail",
        "pair-audit",
        "mapping-preflight",
    }
    response = getattr(viewer, method)(url)
    if allowed:
        assert response.status_code == HTTPStatus.OK
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN
    assert getattr(client_for(), method)(url).status_code == HTTPStatus.FORBIDDEN


def test_repairs_refuse_get(pair: tuple[Org, Org]) -> None:
    mapping = RecordMapping.objects.first()
    assert mapping is not None
    client = client_for("view_recordmapping", "repair_mapping")
    url = reverse("migrations_app:mapping-retire", kwargs={"mapping_id": mapping.pk})
    assert client.get(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_unknown_mapping_is_404(pair: tuple[Org, Org]) -> None:
    url = reverse("migrations_app:mapping-detail", kwargs={"mapping_id": 999999})
    assert client_for("view_recordmapping").get(url).status_code == 404


def test_list_filters_by_status_reason_and_object(pair: tuple[Org, Org]) -> None:
    client = client_for("view_recordmapping")
    url = reverse("migrations_app:mapping-list")

    outdated = client.get(url, {"status": "outdated", "reason": "target_deleted"})
    accounts = client.get(url, {"sobject": "Account"})

    assert outdated.context["page"].paginator.count == 1
    assert TARGET_IDS[1] in outdated.content.decode()
    assert [row["mapping"].sobject for row in accounts.context["rows"]] == ["Account"]


def test_search_accepts_15_and_18_character_ids(pair: tuple[Org, Org]) -> None:
    client = client_for("view_recordmapping")
    url = reverse("migrations_app:mapping-list")
    for text in (TARGET_IDS[0], TARGET_IDS[0][:15], SOURCE_IDS[0][:15]):
        response = client.get(url, {"q": text})
        assert [r["mapping"].target_id for r in response.context["rows"]] == [
            TARGET_IDS[0]
        ]


def test_ids_link_to_the_record_in_its_org(pair: tuple[Org, Org]) -> None:
    response = client_for("view_recordmapping").get(
        reverse("migrations_app:mapping-list")
    )
    assert f'href="https://target.example.com/{TARGET_IDS[0]}"' in (
        response.content.decode()
    )


def test_csv_streams_the_filtered_list(pair: tuple[Org, Org]) -> None:
    response = client_for("view_recordmapping").get(
        reverse("migrations_app:mapping-csv"), {"sobject": "Contact"}
    )

    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(streamed_text(response))))
    assert sorted(row["target_id"] for row in rows) == sorted(TARGET_IDS[:2])
    assert rows[0]["target_url"].startswith("https://target.example.com/")


def test_run_audit_button_queues_one_audit_after_commit(
    pair: tuple[Org, Org], django_capture_on_commit_callbacks: object
) -> None:
    source, target = pair
    client = client_for("view_recordmapping", "audit_mappings")
    url = reverse(
        "migrations_app:pair-audit-start",
        kwargs={"source_id": source.pk, "target_id": target.pk},
    )
    with patch("migrations_app.jobs.enqueue_audit") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            first = client.post(url, {"sobject": "Contact"})
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            second = client.post(url)

    audit = MappingAudit.objects.get()
    assert (
        first["Location"]
        == second["Location"]
        == reverse("migrations_app:audit-detail", kwargs={"audit_id": audit.pk})
    )
    assert (audit.sobject, audit.status) == ("Contact", "queued")
    enqueue.assert_called_once_with(audit_id=audit.pk)


def test_audit_progress_polls_until_done(pair: tuple[Org, Org]) -> None:
    source, target = pair
    audit = MappingAudit.objects.create(source_org=source, target_org=target)
    client = client_for("view_recordmapping")
    url = reverse("migrations_app:audit-progress", kwargs={"audit_id": audit.pk})

    running = client.get(url)
    MappingAudit.objects.filter(pk=audit.pk).update(status="succeeded", progress=100)
    done = client.get(url)

    assert 'hx-trigger="every 1s"' in running.content.decode()
    assert "HX-Refresh" not in running
    assert 'hx-trigger="every 1s"' not in done.content.decode()
    assert done["HX-Refresh"] == "true"


def test_pair_panel_shows_the_last_audit_counts(pair: tuple[Org, Org]) -> None:
    source, target = pair
    counts = {
        "checked": 2,
        "active": 1,
        "outdated": {
            "target_deleted": 1,
            "target_in_recycle_bin": 0,
            "source_deleted": 0,
            "source_in_recycle_bin": 0,
            "target_org_changed": 0,
            "source_org_changed": 0,
        },
        "drifted": 0,
        "duplicates": {"created_by_migration": 3, "preexisting": 1},
    }
    MappingAudit.objects.create(
        source_org=source,
        target_org=target,
        status="succeeded",
        results={"objects": {"Contact": counts}},
    )
    response = client_for("view_recordmapping").get(
        reverse(
            "migrations_app:pair-audit",
            kwargs={"source_id": source.pk, "target_id": target.pk},
        )
    )
    html = response.content.decode()
    assert 'data-object="Contact"' in html
    assert "1 outdated Contact mapping" in html
    assert "Run audit" not in html  # viewing only


def test_admin_has_no_delete_for_mappings_and_searches_15_char_ids(
    pair: tuple[Org, Org], staff_user: User
) -> None:
    client = Client()
    client.force_login(staff_user)
    mapping = RecordMapping.objects.get(target_id=TARGET_IDS[0])
    changelist = reverse("admin:migrations_app_recordmapping_changelist")

    found = client.get(changelist, {"q": TARGET_IDS[0][:15]})
    deleted = client.post(
        reverse("admin:migrations_app_recordmapping_delete", args=[mapping.pk]),
        {"post": "yes"},
    )
    exported = client.get(
        reverse("admin:migrations_app_recordmapping_export"), {"status": "outdated"}
    )

    assert list(found.context["cl"].queryset) == [mapping]
    assert "delete_selected" not in found.context["cl"].model_admin.get_actions(
        found.wsgi_request
    )
    assert deleted.status_code == HTTPStatus.FORBIDDEN
    assert RecordMapping.objects.filter(pk=mapping.pk).exists()
    lines = streamed_text(exported).splitlines()
    assert len(lines) == 2
    assert TARGET_IDS[1] in lines[1]


def test_csv_writes_a_formula_looking_org_name_as_text(
    pair: tuple[Org, Org],
) -> None:
    source, _ = pair
    Org.objects.filter(pk=source.pk).update(name="=HYPERLINK(1)")

    response = client_for("view_recordmapping").get(
        reverse("migrations_app:mapping-csv")
    )

    rows = list(csv.DictReader(io.StringIO(streamed_text(response))))
    assert {row["source_org"] for row in rows} == {"'=HYPERLINK(1)"}
