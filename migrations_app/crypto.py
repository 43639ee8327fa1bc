"""Encryption of stored secrets (DESIGN invariant 7).

Fernet with every key of ``settings.ENCRYPTION_KEYS``: the first encrypts, all decrypt,
so keys rotate by putting a new key first and re-encrypting with
``manage.py rotate_encryption_key``.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _cipher() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.ENCRYPTION_KEYS])


def encrypt_json(value: dict[str, Any]) -> str:
    return _cipher().encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    try:
        data = _cipher().decrypt(token.encode())
    except InvalidToken:
        raise ImproperlyConfigured(
            "Stored credentials cannot be decrypted with any key in ENCRYPTION_KEYS"
        ) from None
    result: dict[str, Any] = json.loads(data)
    return result


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the first key."""
    return _cipher().rotate(token.encode()).decode()
