"""OAuth 2.0 token requests against an org's login host.

The app does its own OAuth (rather than simple-salesforce's login helpers, whose hosts
are hard-wired to *.salesforce.com) so that production orgs, sandboxes, My Domains and
the local emulator all work the same way; the access token is then used in
simple-salesforce's direct mode.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
import requests

from migrations_app.salesforce.errors import AuthenticationError, SalesforceError

TOKEN_PATH = "/services/oauth2/token"
# Error codes of our own, beside Salesforce's, for what a form field can fix.
NOT_A_LOGIN_ENDPOINT = "NOT_A_LOGIN_ENDPOINT"
TLS_ERROR = "TLS"
BAD_PRIVATE_KEY = "BAD_PRIVATE_KEY"
JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class Token:
    access_token: str
    instance_url: str
    identity_url: str = ""
    refresh_token: str = ""


def request_token(
    session: requests.Session,
    login_url: str,
    form: dict[str, str],
    *,
    timeout: float | tuple[float, float],
) -> Token:
    """POST a grant to the token endpoint and return the token, or raise."""
    url = login_url.rstrip("/") + TOKEN_PATH
    try:
        response = session.post(url, data=form, timeout=timeout)
    except OSError as exc:  # requests' errors, and a CA file that cannot be read
        raise transport_error(exc, login_url) from exc
    body = _json_body(response)
    if response.status_code != 200:
        error, description = oauth_error_parts(body)
        if not error or response.status_code == requests.codes.not_found:
            raise AuthenticationError(
                _not_a_login_endpoint(login_url, response), code=NOT_A_LOGIN_ENDPOINT
            )
        raise AuthenticationError(
            f"{login_url} refused the login: {error}"
            + (f": {description}" if description else ""),
            code=error,
        )
    access_token = body.get("access_token") if isinstance(body, dict) else None
    instance_url = body.get("instance_url") if isinstance(body, dict) else None
    if not isinstance(access_token, str) or not isinstance(instance_url, str):
        raise AuthenticationError(f"{login_url} answered without an access token")
    assert isinstance(body, dict)
    return Token(
        access_token=access_token,
        instance_url=instance_url.rstrip("/"),
        identity_url=str(body.get("id") or ""),
        refresh_token=str(body.get("refresh_token") or ""),
    )


def _json_body(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def oauth_error_parts(body: object) -> tuple[str, str]:
    """(error code, description) from any error shape a login host may answer.

    OAuth endpoints answer ``{"error", "error_description"}``; REST-style failures
    answer ``[{"errorCode", "message"}]``; anything else has neither.
    """
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = {
            "error": body[0].get("errorCode"),
            "error_description": body[0].get("message"),
        }
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    description = body.get("error_description")
    return (
        _short(error) if isinstance(error, str) else "",
        _short(description) if isinstance(description, str) else "",
    )


def _not_a_login_endpoint(login_url: str, response: requests.Response) -> str:
    return (
        f"{login_url} answered HTTP {response.status_code} without an OAuth error: "
        "check that the login URL is the org's login host "
        "(https://login.salesforce.com, https://test.salesforce.com or a My Domain)"
    )


def transport_error(exc: OSError, url: str) -> SalesforceError:
    """The error for a failed connection: TLS trust is permanent, the rest may pass."""
    if isinstance(exc, requests.exceptions.SSLError) or not isinstance(
        exc, requests.RequestException
    ):
        return SalesforceError(
            transport_message(exc, url), code=TLS_ERROR, permanent=True
        )
    return SalesforceError(
        transport_message(exc, url), code="TRANSPORT", permanent=False
    )


def transport_message(exc: OSError, url: str) -> str:
    """A short sentence for a failed connection; never the library's own text."""
    if isinstance(exc, requests.exceptions.SSLError):
        return (
            f"Cannot reach {url}: its TLS certificate is not trusted "
            "(for a private CA, set the CA file)"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return f"Cannot reach {url}: no answer in time"
    if isinstance(
        exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema
    ):
        return f"Cannot reach {url}: it is not a valid URL"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"Cannot reach {url}: the connection was refused or the host is unknown"
    if isinstance(exc, requests.RequestException):
        return f"Cannot reach {url}: the request failed"
    return f"Cannot reach {url}: the CA file cannot be read"


def _short(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "…"


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
        raise AuthenticationError(
            "The JWT private key cannot sign: it is not a PEM RSA private key",
            code=BAD_PRIVATE_KEY,
        ) from exc
    return {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": assertion,
    }


AUTHORIZE_PATH = "/services/oauth2/authorize"
WEB_SERVER_SCOPE = "api refresh_token"


@dataclass(frozen=True)
class AuthorizationRequest:
    """One start of the web-server flow: where to send the browser, and what to keep."""

    url: str
    state: str
    code_verifier: str


def authorization_request(
    *, login_url: str, client_id: str, redirect_uri: str, login_hint: str = ""
) -> AuthorizationRequest:
    """The authorize URL with a fresh ``state`` and a PKCE (S256) challenge."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        .decode()
        .rstrip("=")
    )
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": WEB_SERVER_SCOPE,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "login consent",
    }
    if login_hint:
        params["login_hint"] = login_hint
    url = f"{login_url.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(params)}"
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier)


def authorization_code_form(
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    if client_secret:
        form["client_secret"] = client_secret
    return form
