"""Secrets stay secret (DESIGN invariant 8), whichever way they came in.

Known secrets go in through the org form (a client secret that is saved, a private key
that is refused), ``org_add`` and the Connect org callback (a refresh token); a run is
launched with those orgs. Then every page the app serves, every log line, every Redis
key and value and every database row outside the encrypted column are searched for
them. None may be found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import django_rq
import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from migrations_app.models import Org, Run
from migrations_app.services.runs import run_launch
from salesforce_emulator import Emulator
from tests.integration.conftest import make_template
from tests.integration.test_connect_org import connect, web_server_org
from tests.test_roles import EXPECTED, SERVED, World, url_for, world_around

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\nsecret-private-key-material-0123456789\n"
    "-----END PRIVATE KEY-----"
)
ENCRYPTED_COLUMN = ("migrations_app_org", "credentials_encrypted")


@pytest.fixture
def redis_db() -> Any:
    # Read, never flushed: the Redis may be shared with other test sessions.
    return django_rq.get_connection("default")


def add_through_the_form(admin: Client, info: dict[str, Any]) -> None:
    data = {
        "name": "source",
        "environment": "production",
        "login_url": info["login_url"],
        "api_version": "59.0",
        "ca_file": info["ca_file"],
        "auth_method": "client_credentials",
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
    }
    admin.post(reverse("admin:migrations_app_org_add"), data)
    # A refused form must not show the key it was given either.
    refused = {**data, "name": "refused", "auth_method": "jwt_bearer"}
    page = admin.post(
        reverse("admin:migrations_app_org_add"), {**refused, "private_key": PRIVATE_KEY}
    )
    assert PRIVATE_KEY.splitlines()[1] not in page.content.decode()


def every_page(admin: Client, world: World) -> Iterator[str]:
    for key, rule in EXPECTED.items():
        if key in SERVED and rule.method == "GET":
            response = admin.get(url_for(key, rule, world))
            body = response.getvalue()
            yield f"{key}: {body.decode(errors='replace')} {dict(response.headers)}"


def redis_contents(redis: Any) -> Iterator[str]:
    for key in redis.scan_iter():
        kind = redis.type(key).decode()
        if kind == "string":
            value: Any = redis.get(key)
        elif kind == "hash":
            value = redis.hgetall(key)
        elif kind == "list":
            value = redis.lrange(key, 0, -1)
        elif kind == "set":
            value = redis.smembers(key)
        elif kind == "zset":
            value = redis.zrange(key, 0, -1)
        else:
            value = kind
        yield f"{key!r} {value!r}"


def database_rows() -> Iterator[str]:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            columns = [
                column.name
                for column in connection.introspection.get_table_description(
                    cursor, table
                )
                if (table, column.name) != ENCRYPTED_COLUMN
            ]
            quoted = ", ".join(connection.ops.quote_name(name) for name in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                yield f"{table}: {row!r}"
    for session in Session.objects.all():
        yield f"session: {session.get_decoded()!r}"


def test_no_secret_leaves_the_encrypted_column(
    emulator: Emulator,
    client: Client,
    staff_user: User,
    caplog: pytest.LogCaptureFixture,
    redis_db: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    client.force_login(staff_user)
    source, target = (emulator.org(name).info() for name in ("source", "target"))
    for name in ("source", "target"):
        emulator.org(name).reset_data()
    with Emulator(orgs=["third"], port=0) as third_emulator:
        third = third_emulator.org("third").info()
        add_through_the_form(client, source)
        call_command(
            "org_add",
            "target",
            f"--login-url={target['login_url']}",
            f"--client-id={target['client_id']}",
            f"--client-secret={target['client_secret']}",
            f"--ca-file={target['ca_file']}",
        )
        org = web_server_org(third_emulator, "third")
        callback = connect(client, org, third["ca_file"])
        client.get(callback.removeprefix("http://testserver"))
        org.refresh_from_db()
        refresh_token = org.credentials["refresh_token"]

    template = make_template(
        "Accounts", {"sobject": "Account", "fields": ["Name"], "match_key": []}
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = run_launch(
            template=template,
            source_org=Org.objects.get(name="source"),
            target_org=Org.objects.get(name="target"),
            strategy="veid",
            requested_by=staff_user,
        )
    secrets = {
        "source client secret": source["client_secret"],
        "target client secret": target["client_secret"],
        "third client secret": third["client_secret"],
        "refresh token": refresh_token,
        "private key": PRIVATE_KEY.splitlines()[1],
    }
    world = world_of(run, staff_user)

    places = {
        "pages": list(every_page(client, world)),
        "logs": [caplog.text],
        "redis": list(redis_contents(redis_db)),
        "database": list(database_rows()),
    }

    assert any("rq:job:" in text for text in places["redis"]), "no job queued"
    found = [
        f"{what} in {place}: {text[:200]}"
        for place, texts in places.items()
        for text in texts
        for what, secret in secrets.items()
        if secret in text
    ]
    assert not found, found


def world_of(run: Run, user: User) -> World:
    return world_around(run, {"viewers": user})
