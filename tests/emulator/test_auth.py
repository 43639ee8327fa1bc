"""OAuth 2.0 flows, identity URL, and the 401 behaviour simple-salesforce relies on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
)

from salesforce_emulator import Emulator

REDIRECT = "https://app.example.com/oauth/callback"


class RewriteToEmulator(HTTPAdapter):
    """Send ``*.salesforce.com`` requests to the emulator (spec §1.3 option 3)."""

    def __init__(self, netloc: str) -> None:
        super().__init__()
        self.netloc = netloc

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        if (parts.hostname or "").endswith(".salesforce.com"):
            request.url = urlunsplit(parts._replace(netloc=self.netloc))
        return super().send(request, *args, **kwargs)


@pytest.fixture
def login_session(emu: Emulator, session: requests.Session) -> requests.Session:
    session.mount("https://", RewriteToEmulator(f"localhost:{emu.port}"))
    return session


def post_token(
    emu: Emulator, session: requests.Session, **form: str
) -> requests.Response:
    return session.post(f"{emu.base_url}/services/oauth2/token", data=form)


def test_client_credentials_response_shape(
    fresh: Emulator, session: requests.Session
) -> None:
    org = fresh.org("target")
    response = session.post(
        f"{fresh.base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(org.client_id, org.client_secret),
    )
    body = response.json()
    assert response.status_code == 200
    assert body["instance_url"] == fresh.base_url
    assert not body["instance_url"].endswith("/")
    assert body["access_token"].startswith(org.organization_id[:15] + "!")
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    assert (
        body["id"]
        == f"{fresh.base_url}/id/{org.organization_id}/{org.integration_user_id}"
    )
    assert re.fullmatch(r"\d{13}", body["issued_at"])
    expected = base64.b64encode(
        hmac.new(
            org.client_secret.encode(),
            (body["id"] + body["issued_at"]).encode(),
            hashlib.sha256,
        ).digest()
    ).decode()
    assert body["signature"] == expected
    form = post_token(
        fresh,
        session,
        grant_type="client_credentials",
        client_id=org.client_id,
        client_secret=org.client_secret,
    )
    assert form.status_code == 200


@pytest.mark.parametrize(
    ("form", "error"),
    [
        (
            {
                "grant_type": "client_credentials",
                "client_id": "nope",
                "client_secret": "x",
            },
            "invalid_client_id",
        ),
        (
            {"grant_type": "client_credentials", "client_secret": "wrong"},
            "invalid_client",
        ),
        ({"grant_type": "magic"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant"),
        (
            {"grant_type": "password", "username": "nobody", "password": "x"},
            "invalid_grant",
        ),
    ],
)
def test_token_errors(
    fresh: Emulator, session: requests.Session, form: dict[str, str], error: str
) -> None:
    org = fresh.org("target")
    form = {"client_id": org.client_id, "client_secret": org.client_secret, **form}
    response = post_token(fresh, session, **form)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def _authorize_params(client_id: str, challenge: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "csrf-123",
        "scope": "api refresh_token",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def test_authorization_code_with_pkce(
    fresh: Emulator, session: requests.Session
) -> None:
    org = fresh.org("target")
    verifier, challenge = _pkce()
    params = _authorize_params(org.client_id, challenge)
    page = session.get(f"{fresh.base_url}/services/oauth2/authorize", params=params)
    assert page.status_code == 200
    assert "Approve" in page.text
    assert 'method="post"' in page.text
    approved = session.post(
        f"{fresh.base_url}/services/oauth2/authorize",
        data={
            **params,
            "action": "approve",
            "username": f"ada.lovelace@example.com.{org.name}",
        },
        allow_redirects=False,
    )
    assert approved.status_code == 302
    location = urlsplit(approved.headers["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "app.example.com"
    assert query["state"] == ["csrf-123"]
    code = query["code"][0]
    wrong = post_token(
        fresh,
        session,
        grant_type="authorization_code",
        code=code,
        client_id=org.client_id,
        redirect_uri=REDIRECT,
        code_verifier="wrong",
    )
    assert wrong.json()["error"] == "invalid_grant"  # and the code is now used up
    approved = session.post(
        f"{fresh.base_url}/services/oauth2/authorize",
        data={**params, "action": "approve"},
        allow_redirects=False,
    )
    code = parse_qs(urlsplit(approved.headers["Location"]).query)["code"][0]
    tokens = post_token(
        fresh,
        session,
        grant_type="authorization_code",
        code=code,
        client_id=org.client_id,
        client_secret=org.client_secret,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    ).json()
    assert tokens["refresh_token"]
    assert tokens["access_token"]
    reused = post_token(
        fresh,
        session,
        grant_type="authorization_code",
        code=code,
        client_id=org.client_id,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert reused.json()["error"] == "invalid_grant"

    refreshed = post_token(
        fresh,
        session,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=org.client_id,
        client_secret=org.client_secret,
    ).json()
    assert refreshed["access_token"] != tokens["access_token"]
    assert "refresh_token" not in refreshed
    revoked = session.post(
        f"{fresh.base_url}/services/oauth2/revoke",
        data={"token": tokens["refresh_token"]},
    )
    assert revoked.status_code == 200
    again = post_token(
        fresh,
        session,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=org.client_id,
    )
    assert again.json()["error"] == "invalid_grant"


def test_authorize_deny_auto_approve_and_bad_client(
    fresh: Emulator, session: requests.Session
) -> None:
    org = fresh.org("target")
    params = _authorize_params(org.client_id, _pkce()[1])
    denied = session.post(
        f"{fresh.base_url}/services/oauth2/authorize",
        data={**params, "action": "deny"},
        allow_redirects=False,
    )
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["error"] == [
        "access_denied"
    ]
    org.auto_approve = True
    direct = session.get(
        f"{fresh.base_url}/services/oauth2/authorize",
        params=params,
        allow_redirects=False,
    )
    assert direct.status_code == 302
    assert "code=" in direct.headers["Location"]
    bad = session.get(
        f"{fresh.base_url}/services/oauth2/authorize",
        params={**params, "client_id": "nope"},
    )
    assert bad.status_code == 400
    org.redirect_uris = ["https://other.example.com/cb"]
    mismatch = session.get(f"{fresh.base_url}/services/oauth2/authorize", params=params)
    assert mismatch.status_code == 400
    assert "redirect_uri_mismatch" in mismatch.text


def _key_and_certificate() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwt test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def test_jwt_bearer_through_simple_salesforce(
    fresh: Emulator, login_session: requests.Session
) -> None:
    org = fresh.org("target")
    key_pem, cert_pem = _key_and_certificate()
    username = f"grace.hopper@example.com.{org.name}"
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(
            username=username,
            consumer_key=org.client_id,
            privatekey=key_pem.decode(),
            session=login_session,
        )
    org.register_jwt_key(cert_pem)
    sf: Any = Salesforce(
        username=username,
        consumer_key=org.client_id,
        privatekey=key_pem.decode(),
        session=login_session,
    )
    assert sf.sf_instance == f"localhost:{fresh.port}"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    user_id = sf.query("SELECT Id FROM User WHERE Username = '" + username + "'")[
        "records"
    ]
    assert sf.Account.create({"Name": "By Grace"})["success"]
    assert org.records("Account")[0]["CreatedById"] == user_id[0]["Id"]


def test_password_grant_through_simple_salesforce(
    fresh: Emulator, login_session: requests.Session
) -> None:
    org = fresh.org("target")
    info = org.info()
    sf = Salesforce(
        username=info["username"],
        password=info["password"],
        consumer_key=org.client_id,
        consumer_secret=org.client_secret,
        session=login_session,
    )
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] >= 4


def test_401_is_a_json_list_and_direct_mode_raises(
    fresh: Emulator, session: requests.Session, sf: Any, data_url: str
) -> None:
    response = session.get(
        f"{data_url}/limits", headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    fresh.org("target").expire_tokens()
    with pytest.raises(SalesforceExpiredSession):
        sf.limits()


def test_client_credentials_client_refreshes_after_401(
    fresh: Emulator, login_session: requests.Session
) -> None:
    org = fresh.org("target")
    sf = Salesforce(
        consumer_key=org.client_id,
        consumer_secret=org.client_secret,
        domain="emulator.my",
        session=login_session,
    )
    first_token = sf.session_id
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    org.faults.update(expire_tokens=True)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert sf.session_id != first_token


def test_token_lifetime(
    fresh: Emulator, session: requests.Session, data_url: str
) -> None:
    org = fresh.org("target")
    org.faults.update(token_lifetime=1)
    token = org.issue_token()
    headers = {"Authorization": f"Bearer {token}"}
    assert session.get(f"{data_url}/limits", headers=headers).status_code == 200
    time.sleep(1.05)
    assert session.get(f"{data_url}/limits", headers=headers).status_code == 401


def test_revoke_access_token(
    fresh: Emulator, session: requests.Session, data_url: str, token: str
) -> None:
    assert (
        session.post(
            f"{fresh.base_url}/services/oauth2/revoke", data={"token": token}
        ).status_code
        == 200
    )
    response = session.get(
        f"{data_url}/limits", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    unknown = session.post(
        f"{fresh.base_url}/services/oauth2/revoke", data={"token": "x"}
    )
    assert unknown.status_code == 400


def test_identity_userinfo_introspect(
    fresh: Emulator, session: requests.Session, token: str
) -> None:
    org = fresh.org("target")
    headers = {"Authorization": f"Bearer {token}"}
    identity_url = (
        f"{fresh.base_url}/id/{org.organization_id}/{org.integration_user_id}"
    )
    identity = session.get(identity_url, headers=headers).json()
    assert identity["organization_id"] == org.organization_id
    assert identity["user_id"] == org.integration_user_id
    assert identity["username"] == f"integration@{org.name}.example.com"
    assert identity["urls"]["rest"] == f"{fresh.base_url}/services/data/v{{version}}/"
    assert (
        session.get(identity_url, headers={"Authorization": "Bearer x"}).status_code
        == 403
    )
    info = session.get(
        f"{fresh.base_url}/services/oauth2/userinfo", headers=headers
    ).json()
    assert info["organization_id"] == org.organization_id
    assert info["user_id"]
    active = session.post(
        f"{fresh.base_url}/services/oauth2/introspect",
        data={"token": token},
        auth=(org.client_id, org.client_secret),
    ).json()
    assert active["active"] is True
    assert active["exp"] > time.time()
    other = fresh.org("source")
    foreign = session.post(
        f"{fresh.base_url}/services/oauth2/introspect",
        data={"token": token},
        auth=(other.client_id, other.client_secret),
    )
    assert foreign.json() == {"active": False}


def test_tokens_select_the_org(
    fresh: Emulator, session: requests.Session, data_url: str
) -> None:
    source, target = fresh.org("source"), fresh.org("target")
    source.insert("Account", {"Name": "Only in source"})
    for org, expected in ((source, 1), (target, 0)):
        headers = {"Authorization": f"Bearer {org.issue_token()}"}
        result = session.get(
            f"{data_url}/query",
            params={"q": "SELECT COUNT() FROM Account"},
            headers=headers,
        ).json()
        assert result["totalSize"] == expected
