"""Org settings checks and login error reading, without a network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from django.core.exceptions import ValidationError

from migrations_app.models import Org
from migrations_app.salesforce import auth
from migrations_app.salesforce.errors import AuthenticationError, SalesforceError
from migrations_app.services.org_checks import org_settings_validate


def settings_errors(**fields: str) -> dict[str, list[str]]:
    org = Org(name="x", **{"login_url": "https://login.salesforce.com", **fields})
    try:
        org_settings_validate(org=org)
    except ValidationError as exc:
        return exc.message_dict
    return {}


@pytest.mark.parametrize(
    "url",
    [
        "https://login.salesforce.com",
        "https://acme.my.salesforce.com",
        "http://localhost:8443",
        "http://127.0.0.1:9000",
        "http://[::1]:9000",
    ],
)
def test_https_and_local_http_login_urls_are_accepted(url: str) -> None:
    assert settings_errors(login_url=url) == {}


@pytest.mark.parametrize(
    "url",
    ["http://login.salesforce.com", "ftp://login.salesforce.com", "login", "https://"],
)
def test_other_login_urls_are_refused_saying_what_to_use(url: str) -> None:
    assert (
        "https://login.salesforce.com" in settings_errors(login_url=url)["login_url"][0]
    )


def test_a_ca_file_must_be_a_pem_certificate(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))
    directory = tmp_path / "dir"
    directory.mkdir()

    assert settings_errors(ca_file=str(pem)) == {}
    assert "There is no file" in settings_errors(ca_file=str(directory))["ca_file"][0]
    assert "no PEM certificate" in settings_errors(ca_file=__file__)["ca_file"][0]


@pytest.mark.parametrize("version", ["abc", "59", "59.1", "", "1e3"])
def test_api_versions_look_like_versions(version: str) -> None:
    assert (
        "enter one like 59.0" in settings_errors(api_version=version)["api_version"][0]
    )


class Answer:
    def __init__(self, status: int, body: Any, text: str = "") -> None:
        self.status_code = status
        self._body = body
        self.text = text

    def json(self) -> Any:
        if self._body is None:
            raise ValueError("not JSON")
        return self._body


class Session:
    def __init__(self, answer: Answer | Exception) -> None:
        self.answer = answer

    def post(self, *args: Any, **kwargs: Any) -> Answer:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def token(answer: Answer | Exception) -> auth.Token:
    return auth.request_token(
        Session(answer),  # type: ignore[arg-type]
        "https://login.example.com",
        {},
        timeout=1,
    )


@pytest.mark.parametrize(
    ("answer", "says", "code"),
    [
        (
            Answer(400, {"error": "invalid_client", "error_description": "bad"}),
            "refused the login: invalid_client: bad",
            "invalid_client",
        ),
        (
            Answer(500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}]),
            "refused the login: UNKNOWN_EXCEPTION: boom",
            "UNKNOWN_EXCEPTION",
        ),
        (
            Answer(404, None, "<html><body>Not Found</body></html>"),
            "answered HTTP 404 without an OAuth error",
            auth.NOT_A_LOGIN_ENDPOINT,
        ),
        (Answer(400, ["odd"]), "without an OAuth error", auth.NOT_A_LOGIN_ENDPOINT),
        (Answer(200, {"access_token": 5}), "without an access token", ""),
    ],
)
def test_any_error_shape_is_one_short_sentence(
    answer: Answer, says: str, code: str
) -> None:
    with pytest.raises(AuthenticationError) as caught:
        token(answer)
    assert says in caught.value.message
    assert "<" not in caught.value.message
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            requests.exceptions.SSLError(
                "[SSL: CERTIFICATE_VERIFY_FAILED] urllib3 noise"
            ),
            "TLS certificate is not trusted",
        ),
        (
            requests.exceptions.ConnectionError(
                "HTTPSConnectionPool(host=...) Max retries"
            ),
            "connection was refused or the host is unknown",
        ),
        (
            requests.exceptions.ReadTimeout("urllib3 read timed out"),
            "no answer in time",
        ),
        (
            OSError("Could not find a suitable TLS CA certificate bundle"),
            "the CA file cannot be read",
        ),
    ],
)
def test_connection_errors_are_short_sentences(error: Exception, says: str) -> None:
    with pytest.raises(SalesforceError) as caught:
        token(error)
    assert caught.value.message.startswith("Cannot reach https://login.example.com: ")
    assert says in caught.value.message
    assert "urllib3" not in caught.value.message
