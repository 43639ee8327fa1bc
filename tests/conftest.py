"""Shared fixtures: embedded Redis when no REDIS_URL is given, users, orgs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings

from datamigrator import embedded_redis
from migrations_app.models import Org


@pytest.fixture(scope="session", autouse=True)
def _redis_server() -> Iterator[None]:
    """Start the embedded Redis for the session when REDIS_URL is not set."""
    process = (
        embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET)
        if settings.EMBEDDED_REDIS
        else None
    )
    yield
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: pytest.FixtureRequest) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(scope="session", autouse=True)
def _plain_http() -> Iterator[None]:
    """The test client and the live server speak plain http; production redirects
    it to https (tests/test_security.py checks the production settings).

    Session-scoped and autouse, so that it is in force before the session-scoped live
    server loads its middleware."""
    with override_settings(SECURE_SSL_REDIRECT=False, SECURE_HSTS_SECONDS=0):
        yield


@pytest.fixture
def staff_user(db: None) -> User:
    return User.objects.create_superuser("admin", "admin@example.com", "password")


@pytest.fixture
def org_pair(db: None) -> tuple[Org, Org]:
    source = Org.objects.create(name="source", login_url="https://login.example.com")
    target = Org.objects.create(name="target", login_url="https://login.example.com")
    return source, target
