"""OAuth 2.0 token requests against an org's login host.

The app does its own OAuth (rather than simple-salesforce's login helpers, whose hosts
are hard-wired to *.salesforce.com) so that production orgs, sandboxes, My Domains and
the local emulator all work the same way; the access token is then used in
simple-salesforce's direct mode.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
import requests

from migrations_app.salesforce.errors import AuthenticationError, SalesforceError

TOKEN_PATH = "/services/oauth2/token"
JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class Token:
    access_token: str
    instance_url: str
    identity_url: str = ""
    refresh_token: str = ""


def request_token(
    session: requests.Session, login_url: str, form: dict[str, str], *, timeout: float
) -> Token:
    """POST a grant to the token endpoint and return the token, or raise."""
    url = login_url.rstrip("/") + TOKEN_PATH
    try:
        response = session.post(url, data=form, timeout=timeout)
    except requests.RequestException as exc:
        raise SalesforceError(
            f"Cannot reach {login_url}: {exc}", code="TRANSPORT", permanent=False
        ) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        error = body.get("error") or f"HTTP {response.status_code}"
        description = body.get("error_description") or response.text[:200]
        raise AuthenticationError(
            f"{login_url} refused the login: {error}: {description}", code=error
        )
    if not body.get("access_token") or not body.get("instance_url"):
        raise AuthenticationError(f"{login_url} answered without an access token")
    return Token(
        access_token=body["access_token"],
        instance_url=body["instance_url"].rstrip("/"),
        identity_url=body.get("id", ""),
        refresh_token=body.get("refresh_token", ""),
    )


def client_credentials_form(client_id: str, client_secret: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
    }


def refresh_token_form(
    client_id: str, client_secret: str, refresh_token: str
) -> dict[str, str]:
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": refresh_token,
    }
    if client_secret:
        form["client_secret"] = client_secret
    return form


def jwt_bearer_form(
    *, client_id: str, username: str, private_key: str, audience: str
) -> dict[str, str]:
    claims = {
        "iss": client_id,
        "sub": username,
        "aud": audience,
        "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    try:
        assertion = jwt.encode(claims, private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise AuthenticationError(f"The JWT private key cannot sign: {exc}") from exc
    return {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": assertion,
    }
