"""Roles and the access matrix: every URL the app serves, as every role.

The URLs come from the URL resolver, not from a hand list: a new URL that is missing
from ``EXPECTED`` fails ``test_every_url_has_an_expectation``. To add one, add a line
to ``EXPECTED`` keyed by its URL name (``namespace:name``; an unnamed pattern is keyed
by its route) saying what it needs:

- ``PUBLIC``: anyone; ``STAFF``: any logged-in staff user;
- a permission (``"migrations_app.launch_run"``): users who have it;
- ``NOBODY``: refused to everyone, superusers included (e.g. adding a run by hand);

plus the method to try and the answers that count as success. Without the access, a
logged-in user gets 403 and an anonymous one the login page. A URL keyword the walk
has no sample value for fails loudly: add it to ``sample_kwargs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from migrations_app.models import (
    AuditEvent,
    BeforeImage,
    MappingAudit,
    Org,
    RecordIssue,
    RecordMapping,
    Run,
    Schedule,
    Strategy,
    Template,
    WriteJournal,
)
from migrations_app.services.access import can_launch_into

pytestmark = pytest.mark.django_db

PUBLIC = "public"
STAFF = "staff"
NOBODY = "nobody"
OK = HTTPStatus.OK
FOUND = HTTPStatus.FOUND
FORBIDDEN = HTTPStatus.FORBIDDEN
NOT_FOUND = HTTPStatus.NOT_FOUND
BAD_REQUEST = HTTPStatus.BAD_REQUEST
NOT_ALLOWED = HTTPStatus.METHOD_NOT_ALLOWED


@dataclass(frozen=True)
class Rule:
    need: str
    method: str = "GET"
    ok: tuple[int, ...] = (OK,)
    # For unnamed or regex patterns, which cannot be reversed with sample kwargs.
    path: str = ""


def admin_model(
    model: str, *, view: str, add: str, change: str, delete: str
) -> dict[str, Rule]:
    """The standard pages of one ModelAdmin, by the permission each needs."""
    app = "auth" if model in ("user", "group") else "migrations_app"
    prefix = f"admin:{app}_{model}"
    return {
        f"{prefix}_changelist": Rule(view),
        f"{prefix}_add": Rule(add),
        f"{prefix}_history": Rule(view),
        f"{prefix}_delete": Rule(delete),
        f"{prefix}_change": Rule(view),
    }


VIEW = "migrations_app.view_{}"
# Models only runs and audits write: viewable, never added, changed or deleted.
HISTORY_MODELS = {
    "run": "migrations_app.view_run",
    "recordmapping": "migrations_app.view_recordmapping",
    "recordissue": "migrations_app.view_recordissue",
    "writejournal": "migrations_app.view_writejournal",
    "auditevent": "migrations_app.view_auditevent",
    "mappingaudit": "migrations_app.view_mappingaudit",
    "beforeimage": "migrations_app.view_beforeimage",
}
MAPPINGS = "migrations_app.view_recordmapping"
REPAIR = "migrations_app.repair_mapping"
QUEUES = "django_rq.admin"
RQ = "admin/django_rq/dashboard/"

EXPECTED: dict[str, Rule] = {
    # Django's admin site.
    "admin:index": Rule(STAFF),
    "admin:login": Rule(PUBLIC, ok=(OK, FOUND)),
    "admin:logout": Rule(PUBLIC, method="POST", ok=(OK, FOUND)),
    "admin:password_change": Rule(STAFF),
    "admin:password_change_done": Rule(STAFF),
    # Without the query an autocomplete needs, it refuses everyone.
    "admin:autocomplete": Rule(STAFF, ok=(FORBIDDEN,)),
    "admin:jsi18n": Rule(STAFF),
    # No model here has a page outside the admin.
    "admin:view_on_site": Rule(STAFF, ok=(NOT_FOUND,)),
    "admin:app_list": Rule("migrations_app.view_run"),
    "admin/(?P<url>.*)$": Rule(STAFF, ok=(NOT_FOUND,), path="/admin/no-such-page/"),
    # Users and groups: superusers only.
    **admin_model(
        "user",
        view="auth.view_user",
        add="auth.add_user",
        change="auth.change_user",
        delete="auth.delete_user",
    ),
    "admin:auth_user_password_change": Rule("auth.change_user"),
    # Bare object URLs redirect staff to the change page, which checks the permission.
    "admin/auth/user/<path:object_id>/": Rule(STAFF, ok=(FOUND,)),
    **admin_model(
        "group",
        view="auth.view_group",
        add="auth.add_group",
        change="auth.change_group",
        delete="auth.delete_group",
    ),
    "admin/auth/group/<path:object_id>/": Rule(STAFF, ok=(FOUND,)),
    # Orgs and templates: viewers read, admins manage.
    **admin_model(
        "org",
        view=VIEW.format("org"),
        add="migrations_app.add_org",
        change="migrations_app.change_org",
        delete="migrations_app.delete_org",
    ),
    "admin/migrations_app/org/<path:object_id>/": Rule(STAFF, ok=(FOUND,)),
    "admin:migrations_app_org_test": Rule(
        "migrations_app.change_org", method="POST", ok=(FOUND,)
    ),
    "admin:migrations_app_org_connect": Rule(
        "migrations_app.change_org", method="POST", ok=(FOUND,)
    ),
    "admin:migrations_app_org_connect_callback": Rule(
        "migrations_app.change_org", ok=(FOUND,)
    ),
    **admin_model(
        "template",
        view=VIEW.format("template"),
        add="migrations_app.add_template",
        change="migrations_app.change_template",
        delete="migrations_app.delete_template",
    ),
    "admin/migrations_app/template/<path:object_id>/": Rule(STAFF, ok=(FOUND,)),
    "admin:migrations_app_template_import": Rule("migrations_app.add_template"),
    # Without an org the describe view answers 400, to those who may edit templates.
    "admin:migrations_app_template_describe": Rule(
        "migrations_app.change_template", ok=(BAD_REQUEST,)
    ),
    # History: viewable, never added, edited or deleted.
    **{
        key: rule
        for model, view in HISTORY_MODELS.items()
        for key, rule in admin_model(
            model, view=view, add=NOBODY, change=NOBODY, delete=NOBODY
        ).items()
    },
    **{
        f"admin/migrations_app/{model}/<path:object_id>/": Rule(STAFF, ok=(FOUND,))
        for model in HISTORY_MODELS
    },
    # django-rq's queue pages: admins only.
    "admin:django_rq_dashboard_changelist": Rule(QUEUES),
    "admin:django_rq_home": Rule(QUEUES),
    "admin:django_rq_home_json": Rule(QUEUES, path=f"/{RQ}stats.json/"),
    "admin:django_rq_jobs": Rule(QUEUES),
    "admin:django_rq_queue_details": Rule(QUEUES),
    "admin:django_rq_finished_jobs": Rule(QUEUES),
    "admin:django_rq_failed_jobs": Rule(QUEUES),
    "admin:django_rq_delete_failed_jobs": Rule(QUEUES),
    "admin:django_rq_scheduled_jobs": Rule(QUEUES),
    "admin:django_rq_started_jobs": Rule(QUEUES),
    "admin:django_rq_deferred_jobs": Rule(QUEUES),
    "admin:django_rq_clear": Rule(QUEUES),
    "admin:django_rq_requeue_all": Rule(QUEUES),
    # Unknown jobs, workers and schedulers are 404, never an error page.
    "admin:django_rq_job_detail": Rule(QUEUES, ok=(NOT_FOUND,)),
    "admin:django_rq_result_detail": Rule(QUEUES, ok=(NOT_FOUND,)),
    "admin:django_rq_delete_job": Rule(QUEUES, ok=(NOT_FOUND,)),
    "admin:django_rq_requeue_job": Rule(QUEUES, ok=(NOT_FOUND,)),
    "admin:django_rq_enqueue_job": Rule(QUEUES, ok=(NOT_FOUND,)),
    "admin:django_rq_stop_job": Rule(QUEUES, method="POST", ok=(NOT_FOUND, FOUND)),
    "admin:django_rq_confirm_action": Rule(QUEUES, ok=(FOUND,)),
    "admin:django_rq_actions": Rule(QUEUES, ok=(FOUND,)),
    "admin:django_rq_workers": Rule(QUEUES),
    "admin:django_rq_worker_details": Rule(QUEUES, ok=(NOT_FOUND,)),
    "admin:django_rq_scheduler_jobs": Rule(QUEUES, ok=(NOT_FOUND,)),
    "admin:django_rq_cron_scheduler_detail": Rule(QUEUES, ok=(NOT_FOUND,)),
    "admin:django_rq_cron_job_detail": Rule(QUEUES, ok=(NOT_FOUND,)),
    # The dashboard.
    "migrations_app:home": Rule("migrations_app.view_run"),
    "migrations_app:run-list": Rule("migrations_app.view_run"),
    "migrations_app:run-new": Rule("migrations_app.launch_run"),
    "migrations_app:run-detail": Rule("migrations_app.view_run"),
    "migrations_app:run-progress": Rule("migrations_app.view_run"),
    "migrations_app:run-issues": Rule("migrations_app.view_run"),
    "migrations_app:run-cancel": Rule(
        "migrations_app.launch_run", method="POST", ok=(FOUND,)
    ),
    "migrations_app:run-resume": Rule(
        "migrations_app.launch_run", method="POST", ok=(FOUND,)
    ),
    "migrations_app:run-again": Rule(
        "migrations_app.launch_run", method="POST", ok=(FOUND,)
    ),
    "migrations_app:run-success-csv": Rule("migrations_app.view_run"),
    "migrations_app:run-errors-csv": Rule("migrations_app.view_run"),
    "migrations_app:org-pair": Rule("migrations_app.view_run"),
    # Issue 14: rollback, the launch form's seeding notes, schedules.
    "migrations_app:run-rollback": Rule(
        "migrations_app.launch_run", method="POST", ok=(FOUND,)
    ),
    "migrations_app:run-seeding-notes": Rule("migrations_app.launch_run"),
    "migrations_app:schedule-list": Rule("migrations_app.view_run"),
    "migrations_app:schedule-detail": Rule("migrations_app.view_run"),
    "migrations_app:schedule-new": Rule("migrations_app.launch_run"),
    "migrations_app:schedule-edit": Rule("migrations_app.launch_run"),
    "migrations_app:schedule-toggle": Rule(
        "migrations_app.launch_run", method="POST", ok=(FOUND,)
    ),
    **admin_model(
        "schedule",
        view=VIEW.format("schedule"),
        add="migrations_app.add_schedule",
        change=VIEW.format("schedule"),
        delete=NOBODY,
    ),
    "admin/migrations_app/schedule/<path:object_id>/": Rule(STAFF, ok=(FOUND,)),
    # Mappings and their audits.
    "admin:migrations_app_recordmapping_export": Rule(MAPPINGS),
    "migrations_app:mapping-list": Rule(MAPPINGS),
    "migrations_app:mapping-csv": Rule(MAPPINGS),
    "migrations_app:mapping-preflight": Rule(MAPPINGS, ok=(OK, BAD_REQUEST)),
    "migrations_app:mapping-detail": Rule(MAPPINGS),
    "migrations_app:mapping-relink": Rule(
        REPAIR, method="POST", ok=(OK, FOUND, BAD_REQUEST)
    ),
    "migrations_app:mapping-retire": Rule(
        REPAIR, method="POST", ok=(OK, FOUND, BAD_REQUEST)
    ),
    "migrations_app:mapping-delete-duplicate": Rule(
        REPAIR, method="POST", ok=(OK, FOUND, BAD_REQUEST)
    ),
    "migrations_app:pair-adopt-twins": Rule(
        REPAIR, method="POST", ok=(OK, FOUND, BAD_REQUEST)
    ),
    "migrations_app:pair-audit": Rule(MAPPINGS),
    "migrations_app:pair-audit-start": Rule(
        "migrations_app.audit_mappings", method="POST", ok=(FOUND,)
    ),
    "migrations_app:audit-detail": Rule(MAPPINGS),
    "migrations_app:audit-progress": Rule(MAPPINGS),
}

ADMIN_PAGE = re.compile(r"admin:(?:migrations_app|auth)_(\w+?)_[a-z]+")
ROLES = ("anonymous", "viewers", "operators", "admins", "superuser")


def served_urls() -> Iterator[tuple[str, URLPattern]]:
    """(key, pattern) for every URL pattern the resolver serves."""

    def walk(
        patterns: list[Any], prefix: str, namespace: str
    ) -> Iterator[tuple[str, URLPattern]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = (
                    f"{namespace}{pattern.namespace}:"
                    if pattern.namespace
                    else namespace
                )
                yield from walk(
                    pattern.url_patterns, prefix + str(pattern.pattern), inner
                )
            elif pattern.name:
                yield f"{namespace}{pattern.name}", pattern
            else:
                yield prefix + str(pattern.pattern), pattern

    yield from walk(get_resolver().url_patterns, "", "")


SERVED = dict(served_urls())


def test_every_url_has_an_expectation() -> None:
    missing = sorted(set(SERVED) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(SERVED))
    assert not missing, f"URLs with no access expectation in EXPECTED: {missing}"
    assert not stale, f"EXPECTED names URLs nobody serves any more: {stale}"


@dataclass
class World:
    source: Org
    target: Org
    template: Template
    run: Run
    objects: dict[str, Any]
    users: dict[str, User]


@pytest.fixture
def world(db: None) -> World:
    source = Org.objects.create(name="source", login_url="https://127.0.0.1:9")
    target = Org.objects.create(name="target", login_url="https://127.0.0.1:9")
    template = Template.objects.create(name="Contacts")
    run = Run.objects.create(
        template=template,
        template_snapshot={"name": "Contacts", "objects": []},
        source_org=source,
        target_org=target,
        strategy=Strategy.VEID,
        status=Run.Status.INTERRUPTED,
    )
    return world_around(run, role_users())


def world_around(run: Run, users: dict[str, User]) -> World:
    """One row of every kind a URL may name, around ``run`` and its orgs.

    tests/integration/test_secrets.py builds its world with it too.
    """
    source, target, template = run.source_org, run.target_org, run.template
    assert template is not None
    objects: dict[str, Any] = {
        "org": source,
        "template": template,
        "run": run,
        "recordmapping": RecordMapping.objects.create(
            source_org=source,
            target_org=target,
            sobject="Contact",
            source_id="0030A0000000001AAA",
            target_id="0030B0000000001AAA",
        ),
        "recordissue": RecordIssue.objects.create(
            run=run, sobject="Contact", message="Required fields are missing"
        ),
        "writejournal": WriteJournal.objects.create(
            run=run, sobject="Contact", operation="insert"
        ),
        "auditevent": AuditEvent.objects.create(action="org_added", org=source),
        "mappingaudit": MappingAudit.objects.create(
            source_org=source, target_org=target, status="succeeded"
        ),
        "beforeimage": BeforeImage.objects.create(
            run=run, sobject="Contact", data=b"", expires_at=run.created_at
        ),
        "schedule": Schedule.objects.create(
            name="Nightly",
            template=template,
            source_org=source,
            target_org=target,
            cron="0 2 * * *",
        ),
        "user": users["viewers"],
        "group": Group.objects.get(name="viewers"),
    }
    return World(source, target, template, run, objects, users)


def role_users() -> dict[str, User]:
    users = {}
    for role in ("viewers", "operators", "admins"):
        user = User.objects.create_user(role, password="password", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    users["superuser"] = User.objects.create_superuser("root", password="password")
    return users


def sample_kwargs(key: str, pattern: URLPattern, world: World) -> dict[str, Any]:
    """A real value for every keyword of ``pattern``."""
    samples: dict[str, Any] = {
        "run_id": world.run.pk,
        "mapping_id": world.objects["recordmapping"].pk,
        "audit_id": world.objects["mappingaudit"].pk,
        "schedule_id": world.objects["schedule"].pk,
        "source_id": world.source.pk,
        "target_id": world.target.pk,
        "org_id": world.source.pk,
        "queue_index": 0,
        "scheduler_index": 0,
        "connection_index": 0,
        "job_id": "no-such-job",
        "result_id": "no-such-result",
        "key": "no-such-worker",
        "scheduler_name": "no-such-scheduler",
        "cron_job_name": "no-such-cron-job",
        "app_label": "migrations_app",
        "content_type_id": 1,
        "id": world.users["viewers"].pk,
    }
    names = list(pattern.pattern.regex.groupindex)
    if "object_id" in names:
        page = ADMIN_PAGE.fullmatch(key)
        samples["object_id"] = world.objects[page[1] if page else "org"].pk
    unknown = [name for name in names if name not in samples]
    assert not unknown, f"{key}: add a sample value for {unknown} to sample_kwargs"
    return {name: samples[name] for name in names}


def url_for(key: str, rule: Rule, world: World) -> str:
    if rule.path:
        return rule.path
    pattern = SERVED[key]
    if not pattern.name:
        model = key.split("/")[2]
        return f"/admin/{key.split('/')[1]}/{model}/{world.objects[model].pk}/"
    return reverse(key, kwargs=sample_kwargs(key, pattern, world))


def may(user: User | None, rule: Rule) -> bool:
    if rule.need == PUBLIC:
        return True
    if user is None or rule.need == NOBODY:
        return False
    if rule.need == STAFF:
        return user.is_staff
    return user.has_perm(rule.need)


def answer(client: Client, method: str, url: str) -> Any:
    with transaction.atomic():
        response = client.post(url) if method == "POST" else client.get(url)
        transaction.set_rollback(True)
    return response


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_url_answers_each_role_as_expected(key: str, world: World) -> None:
    rule = EXPECTED[key]
    url = url_for(key, rule, world)
    login = reverse("admin:login")
    for role in ROLES:
        user = world.users.get(role)
        client = Client()
        if user is not None:
            client.force_login(user)
        response = answer(client, rule.method, url)
        where = f"{rule.method} {url} as {role}"
        if may(user, rule):
            assert response.status_code in rule.ok, (
                f"{where}: {response.status_code}, expected one of {rule.ok}"
            )
        elif user is None:
            assert response.status_code == FOUND, f"{where}: {response.status_code}"
            assert response["Location"].startswith(login), where
        else:
            assert response.status_code == FORBIDDEN, (
                f"{where}: {response.status_code}, expected 403"
            )


def test_roles_hold_the_permissions_the_issue_names() -> None:
    def codenames(group: str) -> set[str]:
        return {
            f"{p.content_type.app_label}.{p.codename}"
            for p in Permission.objects.filter(group__name=group).select_related(
                "content_type"
            )
        }

    viewers, operators, admins = (
        codenames(name) for name in ("viewers", "operators", "admins")
    )
    assert "migrations_app.view_run" in viewers
    assert "migrations_app.view_recordmapping" in viewers
    assert "migrations_app.launch_run" not in viewers
    assert "migrations_app.view_auditevent" not in viewers
    assert viewers < operators
    assert operators - viewers == {
        "migrations_app.launch_run",
        "migrations_app.audit_mappings",
    }
    assert operators < admins
    assert {
        "migrations_app.change_org",
        "migrations_app.delete_template",
        "migrations_app.repair_mapping",
        "migrations_app.view_auditevent",
        "django_rq.admin",
    } <= admins
    assert not any(name.startswith("auth.") for name in admins)
    assert not any(
        name.split(".")[1].split("_")[0] in ("add", "change", "delete")
        and name.split("_", 1)[1] in HISTORY_MODELS
        for name in admins
    )


def test_a_restricted_target_admits_only_the_named_users_and_groups(
    world: World,
) -> None:
    operator = world.users["operators"]
    other = User.objects.create_user("other", is_staff=True)
    other.groups.add(Group.objects.get(name="operators"))
    target = world.target
    assert can_launch_into(user=operator, org=target)

    target.target_users.add(other)
    assert not can_launch_into(user=operator, org=target)
    assert can_launch_into(user=other, org=target)
    assert can_launch_into(user=world.users["superuser"], org=target)

    target.target_groups.add(Group.objects.get(name="operators"))
    assert can_launch_into(user=operator, org=target)
    assert not can_launch_into(user=world.users["viewers"], org=target)


def test_an_operator_outside_the_restriction_cannot_cancel(world: World) -> None:
    world.target.target_users.add(world.users["admins"])
    client = Client()
    client.force_login(world.users["operators"])
    url = reverse("migrations_app:run-cancel", args=[world.run.pk])
    assert client.post(url).status_code == FORBIDDEN
    client.force_login(world.users["admins"])
    assert client.post(url).status_code == FOUND
