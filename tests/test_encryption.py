"""Stored secrets are encrypted, and a key rotation re-encrypts every one of them."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from migrations_app.models import Org

pytestmark = pytest.mark.django_db

SECRET = "s3cret-value-never-logged"


def test_rotating_the_key_re_encrypts_every_secret(
    org_pair: tuple[Org, Org], settings: Any
) -> None:
    from cryptography.fernet import Fernet

    org = org_pair[0]
    org.set_credentials({"client_secret": SECRET})
    org.save()
    old_key = settings.ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_encryption_key", stdout=io.StringIO())

    settings.ENCRYPTION_KEYS = [new_key]
    org.refresh_from_db()
    assert org.credentials == {"client_secret": SECRET}
    assert SECRET not in org.credentials_encrypted
