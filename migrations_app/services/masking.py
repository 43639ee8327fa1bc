"""The secret that masked values are derived from (kept with the encryption keys)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings

# Names the derivation: another use of the encryption key never yields this secret.
DERIVATION_LABEL = b"datamigrator field masking v1"


def masking_key() -> bytes:
    """MASKING_KEY when set, else an HMAC of the first encryption key.

    The Fernet key itself is never used as is: the masking secret is derived from it,
    HKDF-style, so that knowing one does not give the other.
    """
    configured: str = settings.MASKING_KEY
    if configured:
        return configured.encode()
    first = base64.urlsafe_b64decode(settings.ENCRYPTION_KEYS[0])
    return hmac.new(first, DERIVATION_LABEL, hashlib.sha256).digest()
