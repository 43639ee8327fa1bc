"""django-rq's queue pages: admins only, and a calm page when Redis is down."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import django_rq
import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from redis.client import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

pytestmark = pytest.mark.django_db


def staff_in(group: str | None) -> Client:
    user = User.objects.create_user(f"user-{group}", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def queued_job() -> Any:
    queue = django_rq.get_queue("default", commit_mode="auto")
    return queue.enqueue("migrations_app.jobs.no_such_job_for_this_test")


def test_a_staff_user_without_the_admin_role_cannot_empty_a_queue() -> None:
    job = queued_job()
    try:
        for group in (None, "viewers", "operators"):
            client = staff_in(group)
            url = reverse("admin:django_rq_clear", args=[0])
            assert client.post(url, {"post": "yes"}).status_code == (
                HTTPStatus.FORBIDDEN
            )
            home = client.get(reverse("admin:index")).content.decode()
            assert "Django-RQ" not in home
        assert job.id in django_rq.get_queue("default").job_ids
    finally:
        job.delete()


def test_admins_see_the_queues() -> None:
    response = staff_in("admins").get(reverse("admin:django_rq_home"))
    assert response.status_code == HTTPStatus.OK


def test_redis_down_is_a_503_page_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    client = staff_in("admins")

    def refuse(self: Redis, *args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(Redis, "execute_command", refuse)
    for name, args in (("django_rq_home", []), ("django_rq_jobs", [0])):
        response = client.get(reverse(f"admin:{name}", args=args))
        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert "Redis does not answer" in response.content.decode()
