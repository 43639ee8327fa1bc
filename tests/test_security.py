"""Hardening with production settings: CSP, cookies, HSTS, login throttling, check --deploy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from http import HTTPStatus

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from migrations_app.models import Org

pytestmark = pytest.mark.django_db

GOOD_KEY = "dGVzdC1vbmx5LWVuY3J5cHRpb24ta2V5LTMyYnl0ZXM="
PRODUCTION = {
    "SECRET_KEY": "p" * 20 + "-production-like-secret-key-0123456789-abcdefghij",
    "ENCRYPTION_KEYS": GOOD_KEY,
    "ALLOWED_HOSTS": "migrator.example.com",
}
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "SECURE_COOKIES", "SECURE_SSL_REDIRECT"}
    }
    environment.update(PRODUCTION)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        cwd=settings.BASE_DIR,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_defaults_are_the_secure_ones() -> None:
    code = (
        "import django; from django.conf import settings; django.setup(); "
        "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
        "settings.SESSION_COOKIE_HTTPONLY, settings.CSRF_COOKIE_HTTPONLY, "
        "settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS > 0, settings.DEBUG)"
    )
    result = manage("shell", "--no-imports", "-c", code)
    assert result.stdout.split() == ["True"] * 6 + ["False"], result.stderr


def test_every_response_carries_a_strict_content_security_policy(
    client: Client,
) -> None:
    response = client.get(reverse("admin:login"))
    policy = response["Content-Security-Policy"]
    directives = dict(
        part.strip().split(" ", 1) for part in policy.split(";") if part.strip()
    )
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_hsts_and_secure_httponly_cookies_over_https(
    settings: pytest.FixtureRequest,
) -> None:
    # tests/conftest.py turns HSTS off for the suite's plain-http live server; here
    # it is the production value (test_production_defaults_are_the_secure_ones).
    settings.SECURE_HSTS_SECONDS = 31_536_000  # type: ignore[attr-defined]
    client = Client()
    response = client.get(reverse("admin:login"), secure=True)
    assert "max-age=31536000" in response["Strict-Transport-Security"]
    cookie = response.cookies["csrftoken"]
    assert cookie["secure"]
    assert cookie["httponly"]


def test_the_session_cookie_is_secure_and_httponly(client: Client) -> None:
    User.objects.create_superuser("root", password="password")
    response = client.post(
        reverse("admin:login"),
        {"username": "root", "password": "password"},
        secure=True,
    )
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"]
    assert cookie["httponly"]


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:login",
        "admin:index",
        "admin:migrations_app_org_add",
        "admin:migrations_app_template_add",
        "admin:migrations_app_template_import",
        "admin:migrations_app_auditevent_changelist",
        "migrations_app:home",
        "migrations_app:run-list",
        "migrations_app:run-new",
        "migrations_app:mapping-list",
    ],
)
def test_pages_hold_no_inline_script(admin_client: Client, url_name: str) -> None:
    Org.objects.create(name="an org", login_url="https://login.example.com")
    html = admin_client.get(reverse(url_name)).content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert not EVENT_HANDLER.search(html), EVENT_HANDLER.search(html)


def test_logins_are_throttled_per_user_and_address(client: Client) -> None:
    User.objects.create_superuser("root", password="right-password")
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "root", "password": "wrong"})

    response = client.post(url, {"username": "root", "password": "right-password"})

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    other = Client(REMOTE_ADDR="10.0.0.9")
    response = other.post(url, {"username": "root", "password": "right-password"})
    assert response.status_code == HTTPStatus.FOUND
