"""OAuth 2.0 login side: token, authorize, revoke, introspect, userinfo, identity URL.

The org is chosen by ``client_id`` on the login side and by the bearer token on the
data side; all orgs share one host:port.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from salesforce_emulator.errors import OAuthError
from salesforce_emulator.org import Org
from salesforce_emulator.store import Record
from salesforce_emulator.tokens import CODE_LIFETIME, AuthCode
from salesforce_emulator.transport import HTML_TYPE, Request, Response

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_CLOCK_SKEW = 300
DEFAULT_SCOPE = "api"


class Registry(Protocol):
    def org_by_client_id(self, client_id: str) -> Org | None: ...

    def org_by_token(self, token: str) -> Org | None: ...

    def all_orgs(self) -> list[Org]: ...

    @property
    def auto_approve(self) -> bool: ...


def oauth_error(error: OAuthError) -> Response:
    return Response.json(
        {"error": error.error, "error_description": error.description}, error.status
    )


# -- token endpoint ------------------------------------------------------------------------


def _client(request: Request, form: dict[str, str]) -> tuple[str, str | None]:
    header = request.headers.get("Authorization") or ""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "invalid client credentials") from None
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret")


def _org_for_client(registry: Registry, client_id: str) -> Org:
    org = registry.org_by_client_id(client_id) if client_id else None
    if org is None:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    return org


def _check_secret(org: Org, secret: str | None, required: bool = True) -> None:
    if secret is None and not required:
        return
    # Bytes, not str: compare_digest refuses non-ASCII text, and Salesforce answers
    # any wrong secret, whatever its characters, with invalid_client.
    if secret is None or not hmac.compare_digest(
        secret.encode("utf-8", "surrogatepass"), org.client_secret.encode("utf-8")
    ):
        raise OAuthError("invalid_client", "invalid client credentials")


def _active_user(org: Org, user_id: str) -> Record:
    user = org.user(user_id)
    if user is None or user["IsDeleted"]:
        raise OAuthError("invalid_grant", "authentication failure")
    if not user["IsActive"]:
        raise OAuthError("inactive_user", "user is inactive")
    return user


def token_response(
    org: Org,
    user_id: str,
    *,
    refresh: bool = False,
    refresh_token: str | None = None,
    scope: str = DEFAULT_SCOPE,
    client_id: str = "",
) -> dict[str, Any]:
    """Issue an access token (and a refresh token when ``refresh``) as in spec §9.1."""
    if refresh and refresh_token is None:
        refresh_token = org.tokens.issue_refresh(
            user_id, client_id or org.client_id, scope
        )
    access = org.tokens.issue_access(user_id, org.faults.token_lifetime, refresh_token)
    issued_at = str(int(org.clock.time() * 1000))
    identity = f"{org.base_url}/id/{org.organization_id}/{user_id}"
    signature = base64.b64encode(
        hmac.new(
            org.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
    ).decode()
    body: dict[str, Any] = {"access_token": access}
    if refresh:
        body["refresh_token"] = refresh_token
    body.update(
        {
            "signature": signature,
            "scope": scope,
            "instance_url": org.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
    )
    return body


def _grant_client_credentials(
    registry: Registry, request: Request, form: dict[str, str]
) -> dict[str, Any]:
    client_id, secret = _client(request, form)
    org = _org_for_client(registry, client_id)
    _check_secret(org, secret)
    _active_user(org, org.integration_user_id)
    return token_response(org, org.integration_user_id)


def _grant_password(
    registry: Registry, request: Request, form: dict[str, str]
) -> dict[str, Any]:
    client_id, secret = _client(request, form)
    org = _org_for_client(registry, client_id)
    _check_secret(org, secret)
    user = org.user_by_username(form.get("username", ""))
    password = form.get("password", "")
    if user is None or password not in (
        org.password,
        org.password + org.security_token_for(user["Id"]),
    ):
        raise OAuthError("invalid_grant", "authentication failure")
    _active_user(org, user["Id"])
    return token_response(org, user["Id"])


def _grant_refresh(
    registry: Registry, request: Request, form: dict[str, str]
) -> dict[str, Any]:
    client_id, secret = _client(request, form)
    org = _org_for_client(registry, client_id)
    _check_secret(org, secret, required=False)
    token = form.get("refresh_token", "")
    info = org.tokens.refresh.get(token)
    if info is None or info.client_id != client_id:
        raise OAuthError("invalid_grant", "expired access/refresh token")
    _active_user(org, info.user_id)
    response = token_response(org, info.user_id, refresh_token=token, scope=info.scope)
    response.pop("refresh_token", None)
    return response


def _pkce_ok(code: AuthCode, verifier: str | None) -> bool:
    if code.code_challenge is None:
        return True
    if not verifier:
        return False
    if (code.code_challenge_method or "plain").upper() == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    else:
        expected = verifier
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"),
        code.code_challenge.encode("utf-8", "surrogatepass"),
    )


def _grant_authorization_code(
    registry: Registry, request: Request, form: dict[str, str]
) -> dict[str, Any]:
    client_id, secret = _client(request, form)
    org = _org_for_client(registry, client_id)
    code = org.tokens.take_code(form.get("code", ""))
    if code is None or code.client_id != client_id:
        raise OAuthError("invalid_grant", "invalid authorization code")
    if code.redirect_uri != form.get("redirect_uri", code.redirect_uri):
        raise OAuthError(
            "redirect_uri_mismatch", "redirect_uri must match configuration"
        )
    _check_secret(org, secret, required=code.code_challenge is None)
    if not _pkce_ok(code, form.get("code_verifier")):
        raise OAuthError("invalid_grant", "invalid code verifier")
    _active_user(org, code.user_id)
    # The emulated connected app always has the refresh_token scope.
    return token_response(
        org, code.user_id, refresh=True, scope=code.scope, client_id=client_id
    )


def _public_keys(org: Org) -> list[Any]:
    keys: list[Any] = []
    for pem in org.jwt_keys:
        data = pem.encode()
        if b"CERTIFICATE" in data:
            keys.append(x509.load_pem_x509_certificate(data).public_key())
        else:
            keys.append(serialization.load_pem_public_key(data))
    return keys


def _grant_jwt(
    registry: Registry, request: Request, form: dict[str, str]
) -> dict[str, Any]:
    assertion = form.get("assertion", "")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    org = _org_for_client(registry, str(claims.get("iss", "")))
    if not any(_verified(assertion, key) for key in _public_keys(org)):
        raise OAuthError("invalid_grant", "invalid assertion")
    try:
        expires = float(claims.get("exp", 0))
    except (TypeError, ValueError):
        raise OAuthError("invalid_grant", "invalid assertion") from None
    # Real time, not the org clock: the client stamped exp with its own clock.
    if expires + JWT_CLOCK_SKEW < time.time():
        raise OAuthError("invalid_grant", "expired authorization code")
    user = org.user_by_username(str(claims.get("sub", "")))
    if user is None:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    _active_user(org, user["Id"])
    response = token_response(org, user["Id"])
    for key in ("signature", "issued_at"):
        response.pop(key, None)
    return response


def _verified(assertion: str, key: Any) -> bool:
    try:
        jwt.decode(
            assertion,
            key,
            algorithms=["RS256"],
            options={
                "verify_exp": False,
                "verify_aud": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError:
        return False
    return True


GRANTS: dict[str, Callable[[Registry, Request, dict[str, str]], dict[str, Any]]] = {
    "client_credentials": _grant_client_credentials,
    "password": _grant_password,
    "refresh_token": _grant_refresh,
    "authorization_code": _grant_authorization_code,
    JWT_GRANT: _grant_jwt,
}


def token(registry: Registry, request: Request) -> Response:
    if request.method != "POST":
        raise OAuthError("invalid_request", "must use HTTP POST")
    form = request.form()
    grant = GRANTS.get(form.get("grant_type", ""))
    if grant is None:
        raise OAuthError("unsupported_grant_type", "grant type not supported")
    return Response.json(grant(registry, request, form))


# -- authorize (web-server flow) -----------------------------------------------------------


def _redirect(uri: str, params: dict[str, str]) -> Response:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    location = urlunsplit(parts._replace(query=urlencode(query)))
    return Response(302, b"", "", [("Location", location)])


def _error_page(status: int, error: str, description: str) -> Response:
    body = (
        f"<!doctype html><html><head><title>Error</title></head><body><h1>{error}</h1>"
        f"<p>{html.escape(description)}</p></body></html>"
    )
    return Response(status, body.encode(), HTML_TYPE)


def _authorize_params(registry: Registry, params: dict[str, str]) -> Org | Response:
    org = registry.org_by_client_id(params.get("client_id", ""))
    if org is None:
        return _error_page(400, "invalid_client_id", "client identifier invalid")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")) or (
        org.redirect_uris and redirect_uri not in org.redirect_uris
    ):
        return _error_page(
            400, "redirect_uri_mismatch", "redirect_uri must match configuration"
        )
    if params.get("response_type", "code") != "code":
        return _redirect(
            redirect_uri,
            {
                "error": "unsupported_response_type",
                "error_description": "response type not supported",
                "state": params.get("state", ""),
            },
        )
    return org


def _approve_page(org: Org, params: dict[str, str]) -> Response:
    users = [u for u in org.records("User") if u["IsActive"]]
    hint = params.get("login_hint", "")
    options = "".join(
        f'<option value="{html.escape(u["Username"])}"'
        f"{' selected' if u['Username'] == hint else ''}>{html.escape(u['Name'] or '')} "
        f"({html.escape(u['Username'])})</option>"
        for u in users
    )
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k not in ("action", "username")
    )
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Allow Access? | {html.escape(org.name)}</title></head>
<body><main>
<h1>Allow access to org {html.escape(org.name)}?</h1>
<p>Organization Id {org.organization_id}. The application will be able to access and
manage your data.</p>
<form method="post" action="/services/oauth2/authorize">{hidden}
<label>Log in as <select name="username">{options}</select></label>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button>
</form></main></body></html>"""
    return Response(200, body.encode(), HTML_TYPE)


def _issue_code(org: Org, params: dict[str, str], user_id: str) -> Response:
    code = AuthCode(
        user_id=user_id,
        client_id=org.client_id,
        redirect_uri=params["redirect_uri"],
        code_challenge=params.get("code_challenge") or None,
        code_challenge_method=params.get("code_challenge_method") or None,
        scope=params.get("scope") or "api refresh_token",
        expires_at=org.clock.time() + CODE_LIFETIME,
    )
    value = org.tokens.issue_code(code)
    out = {"code": value}
    if "state" in params:
        out["state"] = params["state"]
    return _redirect(params["redirect_uri"], out)


def authorize(registry: Registry, request: Request) -> Response:
    params = (
        request.form()
        if request.method == "POST"
        else {k: v[0] for k, v in request.query.items()}
    )
    checked = _authorize_params(registry, params)
    if isinstance(checked, Response):
        return checked
    org = checked
    if request.method == "GET" and not (org.auto_approve or registry.auto_approve):
        return _approve_page(org, params)
    if request.method == "POST" and params.get("action") != "approve":
        return _redirect(
            params["redirect_uri"],
            {
                "error": "access_denied",
                "error_description": "end-user denied authorization",
                **({"state": params["state"]} if "state" in params else {}),
            },
        )
    user = (
        org.user_by_username(params.get("username", ""))
        if params.get("username")
        else None
    )
    return _issue_code(org, params, user["Id"] if user else org.integration_user_id)


# -- revoke, introspect, identity ---------------------------------------------------------


def _org_holding(registry: Registry, token_value: str) -> Org | None:
    org = registry.org_by_token(token_value)
    if org is not None:
        return org
    return next(
        (o for o in registry.all_orgs() if token_value in o.tokens.refresh), None
    )


def revoke(registry: Registry, request: Request) -> Response:
    token_value = request.form().get("token", "")
    org = _org_holding(registry, token_value)
    if org is None or not org.tokens.revoke(token_value):
        raise OAuthError("invalid_token", "invalid token")
    return Response(200, b"", "")


def introspect(registry: Registry, request: Request) -> Response:
    form = request.form()
    client_id, secret = _client(request, form)
    client_org = _org_for_client(registry, client_id)
    _check_secret(client_org, secret)
    token_value = form.get("token", "")
    org = _org_holding(registry, token_value)
    if org is not client_org:
        return Response.json({"active": False})
    access = org.tokens.access.get(token_value)
    if access is not None and access.expires_at > org.clock.time():
        user = org.user(access.user_id) or {}
        return Response.json(
            {
                "active": True,
                "scope": DEFAULT_SCOPE,
                "client_id": client_id,
                "username": user.get("Username"),
                "sub": _identity_url(org, access.user_id),
                "token_type": "access_token",
                "exp": int(access.expires_at),
                "iat": int(access.expires_at - org.faults.token_lifetime),
                "nbf": int(access.expires_at - org.faults.token_lifetime),
            }
        )
    refresh = org.tokens.refresh.get(token_value)
    if refresh is not None:
        return Response.json(
            {
                "active": True,
                "scope": refresh.scope,
                "client_id": client_id,
                "token_type": "refresh_token",
                "sub": _identity_url(org, refresh.user_id),
            }
        )
    return Response.json({"active": False})


def _identity_url(org: Org, user_id: str) -> str:
    return f"{org.base_url}/id/{org.organization_id}/{user_id}"


def _authenticated(registry: Registry, request: Request) -> tuple[Org, str] | None:
    token_value = request.bearer() or ""
    org = registry.org_by_token(token_value)
    user_id = org.tokens.user_for(token_value) if org else None
    if org is None or user_id is None:
        return None
    return org, user_id


def _bad_token() -> Response:
    return Response(403, b"Bad_OAuth_Token", "text/plain;charset=UTF-8")


def _user_urls(org: Org, user_id: str) -> dict[str, str]:
    data = f"{org.base_url}/services/data/v{{version}}/"
    return {
        "enterprise": f"{org.base_url}/services/Soap/c/{{version}}/{org.organization_id[:15]}",
        "metadata": f"{org.base_url}/services/Soap/m/{{version}}/{org.organization_id[:15]}",
        "partner": f"{org.base_url}/services/Soap/u/{{version}}/{org.organization_id[:15]}",
        "rest": data,
        "sobjects": f"{data}sobjects/",
        "search": f"{data}search/",
        "query": f"{data}query/",
        "recent": f"{data}recent/",
        "tooling_rest": f"{data}tooling/",
        "limits": f"{data}limits/",
        "profile": f"{org.base_url}/{user_id}",
        "custom_domain": org.base_url,
    }


def identity(
    registry: Registry, request: Request, org_id: str, user_id: str
) -> Response:
    auth = _authenticated(registry, request)
    if auth is None:
        return _bad_token()
    org, _ = auth
    user = org.user(user_id)
    if org.organization_id[:15] != org_id[:15] or user is None:
        return Response.json(
            {"error": "not_found", "error_description": "no such user"}, 404
        )
    return Response.json(
        {
            "id": _identity_url(org, user["Id"]),
            "asserted_user": True,
            "user_id": user["Id"],
            "organization_id": org.organization_id,
            "username": user["Username"],
            "nick_name": user["CommunityNickname"] or user["Alias"],
            "display_name": user["Name"],
            "email": user["Email"],
            "email_verified": True,
            "first_name": user["FirstName"],
            "last_name": user["LastName"],
            "timezone": user["TimeZoneSidKey"],
            "photos": {},
            "addr_street": None,
            "addr_city": None,
            "addr_state": None,
            "addr_country": None,
            "addr_zip": None,
            "mobile_phone": None,
            "mobile_phone_verified": False,
            "is_lightning_login_user": False,
            "status": {"created_date": None, "body": None},
            "urls": _user_urls(org, user["Id"]),
            "active": bool(user["IsActive"]),
            "user_type": "STANDARD",
            "language": user["LanguageLocaleKey"],
            "locale": user["LocaleSidKey"],
            "utcOffset": 0,
            "last_modified_date": user["LastModifiedDate"],
            "is_app_installed": True,
        }
    )


def userinfo(registry: Registry, request: Request) -> Response:
    auth = _authenticated(registry, request)
    if auth is None:
        return _bad_token()
    org, user_id = auth
    user = org.user(user_id) or {}
    return Response.json(
        {
            "sub": _identity_url(org, user_id),
            "user_id": user_id,
            "organization_id": org.organization_id,
            "preferred_username": user.get("Username"),
            "nickname": user.get("CommunityNickname") or user.get("Alias"),
            "name": user.get("Name"),
            "email": user.get("Email"),
            "email_verified": True,
            "given_name": user.get("FirstName"),
            "family_name": user.get("LastName"),
            "zoneinfo": user.get("TimeZoneSidKey"),
            "photos": {},
            "profile": f"{org.base_url}/{user_id}",
            "picture": None,
            "address": {},
            "is_salesforce_integration_user": user_id == org.integration_user_id,
            "urls": _user_urls(org, user_id),
            "active": bool(user.get("IsActive")),
            "user_type": "STANDARD",
            "language": user.get("LanguageLocaleKey"),
            "locale": user.get("LocaleSidKey"),
            "utcOffset": 0,
            "updated_at": user.get("LastModifiedDate"),
        }
    )


def handle(registry: Registry, request: Request) -> Response:
    """Route ``/services/oauth2/...`` and ``/id/...``."""
    segments = request.segments
    try:
        if segments[:2] == ["services", "oauth2"] and len(segments) == 3:
            endpoint = segments[2].lower()
            handlers: dict[str, Callable[[Registry, Request], Response]] = {
                "token": token,
                "authorize": authorize,
                "revoke": revoke,
                "introspect": introspect,
                "userinfo": userinfo,
            }
            if endpoint in handlers:
                return handlers[endpoint](registry, request)
        if segments[:1] == ["id"] and len(segments) == 3:
            return identity(registry, request, segments[1], segments[2])
    except OAuthError as error:
        return oauth_error(error)
    return Response.json(
        [
            {
                "errorCode": "NOT_FOUND",
                "message": "The requested resource does not exist",
            }
        ],
        404,
    )
