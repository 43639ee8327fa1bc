"""SOAP partner API: simple-salesforce's own username/password/security-token login,
the loginResponse, getUserInfo and the SOAP faults Salesforce answers."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from salesforce_emulator import Emulator, Org

from .conftest import API_VERSION

SOAP_ENV = "{http://schemas.xmlsoap.org/soap/envelope/}"
PARTNER = "{urn:partner.soap.sforce.com}"
FAULT = "{urn:fault.partner.soap.sforce.com}"


def integration_login(org: Org) -> tuple[str, str, str]:
    info = org.info()
    return info["username"], org.password, info["security_token"]


def soap_post(
    session: requests.Session, url: str, body: str, action: str
) -> requests.Response:
    return session.post(
        url,
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": action},
    )


def envelope(body: str, header: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com">'
        f"<soapenv:Header>{header}</soapenv:Header>"
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )


def login_body(username: str, password: str) -> str:
    return envelope(
        f"<urn:login><urn:username>{username}</urn:username>"
        f"<urn:password>{password}</urn:password></urn:login>"
    )


def fault_of(response: requests.Response) -> dict[str, str | None]:
    fault = ElementTree.fromstring(response.content).find(
        f"{SOAP_ENV}Body/{SOAP_ENV}Fault"
    )
    assert fault is not None, response.text
    return {
        "faultcode": fault.findtext("faultcode"),
        "faultstring": fault.findtext("faultstring"),
        "exceptionCode": fault.findtext(f"detail/*/{FAULT}exceptionCode"),
        "exceptionMessage": fault.findtext(f"detail/*/{FAULT}exceptionMessage"),
    }


def test_simple_salesforce_logs_in_with_password_and_security_token(
    fresh: Emulator, session: requests.Session, org: Org
) -> None:
    username, password, token = integration_login(org)

    session_id, instance = SalesforceLogin(
        username=username,
        password=password,
        security_token=token,
        sf_version=API_VERSION,
        session=session,
        scratch_url=fresh.base_url,
    )

    assert instance == f"localhost:{fresh.port}"
    sf = Salesforce(
        session_id=session_id, instance=instance, session=session, version=API_VERSION
    )
    org.insert("Account", {"Name": "Reached through SOAP login"})
    records = sf.query("SELECT Name FROM Account")["records"]
    assert [r["Name"] for r in records] == ["Reached through SOAP login"]


def test_each_user_has_their_own_security_token(
    fresh: Emulator, session: requests.Session, org: Org
) -> None:
    tokens = org.info()["security_tokens"]
    username, _, integration_token = integration_login(org)
    demo = next(name for name in tokens if name != username)
    assert len(set(tokens.values())) == len(tokens)

    session_id, _ = SalesforceLogin(
        username=demo,
        password=org.password,
        security_token=tokens[demo],
        sf_version=API_VERSION,
        session=session,
        scratch_url=fresh.base_url,
    )
    user = org.user_by_username(demo)
    assert user is not None
    assert org.tokens.user_for(session_id) == user["Id"]
    with pytest.raises(SalesforceAuthenticationFailed):
        SalesforceLogin(
            username=demo,
            password=org.password,
            security_token=integration_token,
            sf_version=API_VERSION,
            session=session,
            scratch_url=fresh.base_url,
        )


@pytest.mark.parametrize("wrong", ["password", "token", "username"])
def test_a_wrong_credential_is_invalid_login(
    fresh: Emulator, session: requests.Session, org: Org, wrong: str
) -> None:
    username, password, token = integration_login(org)
    credentials = {"username": username, "password": password, "security_token": token}
    credentials[{"token": "security_token"}.get(wrong, wrong)] = "nope"

    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        SalesforceLogin(
            username=credentials["username"],
            password=credentials["password"],
            security_token=credentials["security_token"],
            sf_version=API_VERSION,
            session=session,
            scratch_url=fresh.base_url,
        )

    assert caught.value.code == "INVALID_LOGIN"
    assert caught.value.auth_message == (
        "Invalid username, password, security token; or user locked out."
    )


def test_invalid_login_is_the_documented_soap_fault(
    fresh: Emulator, session: requests.Session, org: Org
) -> None:
    response = soap_post(
        session,
        f"{fresh.base_url}/services/Soap/u/{API_VERSION}",
        login_body(org.info()["username"], "wrong"),
        "login",
    )

    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/xml")
    assert fault_of(response) == {
        "faultcode": "sf:INVALID_LOGIN",
        "faultstring": "INVALID_LOGIN: Invalid username, password, security token; "
        "or user locked out.",
        "exceptionCode": "INVALID_LOGIN",
        "exceptionMessage": "Invalid username, password, security token; "
        "or user locked out.",
    }


def test_login_response_has_server_url_user_id_and_user_info(
    fresh: Emulator, session: requests.Session, org: Org
) -> None:
    username, password, token = integration_login(org)

    response = soap_post(
        session,
        f"{fresh.base_url}/services/Soap/u/{API_VERSION}",
        login_body(username, password + token),
        "login",
    )

    assert response.status_code == 200
    result = ElementTree.fromstring(response.content).find(
        f"{SOAP_ENV}Body/{PARTNER}loginResponse/{PARTNER}result"
    )
    assert result is not None
    org_id15 = org.organization_id[:15]
    assert result.findtext(f"{PARTNER}serverUrl") == (
        f"{fresh.base_url}/services/Soap/u/{API_VERSION}/{org_id15}"
    )
    assert result.findtext(f"{PARTNER}userId") == org.integration_user_id
    assert result.findtext(f"{PARTNER}sandbox") == "false"
    assert result.findtext(f"{PARTNER}passwordExpired") == "false"
    info = result.find(f"{PARTNER}userInfo")
    assert info is not None
    assert info.findtext(f"{PARTNER}organizationId") == org.organization_id
    assert info.findtext(f"{PARTNER}userName") == username
    assert info.findtext(f"{PARTNER}organizationName") == "target org"


def get_user_info(
    fresh: Emulator, session: requests.Session, session_id: str
) -> requests.Response:
    return soap_post(
        session,
        f"{fresh.base_url}/services/Soap/u/{API_VERSION}",
        envelope(
            "<urn:getUserInfo/>",
            header=f"<urn:SessionHeader><urn:sessionId>{session_id}</urn:sessionId>"
            "</urn:SessionHeader>",
        ),
        "getUserInfo",
    )


def test_get_user_info_answers_for_the_session(
    fresh: Emulator, session: requests.Session, org: Org
) -> None:
    response = get_user_info(fresh, session, org.issue_token())

    assert response.status_code == 200
    result = ElementTree.fromstring(response.content).find(
        f"{SOAP_ENV}Body/{PARTNER}getUserInfoResponse/{PARTNER}result"
    )
    assert result is not None
    assert result.findtext(f"{PARTNER}userId") == org.integration_user_id
    assert result.findtext(f"{PARTNER}userName") == org.info()["username"]


def test_get_user_info_with_a_bad_session_is_invalid_session_id(
    fresh: Emulator, session: requests.Session
) -> None:
    response = get_user_info(fresh, session, "00Dnope!nope")

    assert response.status_code == 500
    assert fault_of(response) == {
        "faultcode": "sf:INVALID_SESSION_ID",
        "faultstring": "INVALID_SESSION_ID: Invalid Session ID found in "
        "SessionHeader: Illegal Session",
        "exceptionCode": "INVALID_SESSION_ID",
        "exceptionMessage": "Invalid Session ID found in SessionHeader: "
        "Illegal Session",
    }


def test_an_operation_the_wsdl_lacks_is_a_client_fault(
    fresh: Emulator, session: requests.Session
) -> None:
    response = soap_post(
        session,
        f"{fresh.base_url}/services/Soap/u/{API_VERSION}",
        envelope("<urn:convertLead/>"),
        "convertLead",
    )

    assert response.status_code == 500
    fault = fault_of(response)
    assert fault["faultcode"] == "soapenv:Client"
    assert fault["faultstring"] == (
        "No operation available for request {urn:partner.soap.sforce.com}"
        "convertLead, please check the WSDL for the service."
    )


def test_a_sandbox_login_says_sandbox(session: requests.Session) -> None:
    with Emulator(orgs=["prod"]) as emulator:
        emulator.create_sandbox("uat", "prod")
        sandbox = emulator.org("uat")
        http = emulator.session()
        username = str(sandbox.info()["username"])
        response = soap_post(
            http,
            f"{emulator.base_url}/services/Soap/u/{API_VERSION}",
            login_body(username, sandbox.password + sandbox.info()["security_token"]),
            "login",
        )
        http.close()

    assert response.status_code == 200
    assert (
        ElementTree.fromstring(response.content).findtext(
            f"{SOAP_ENV}Body/{PARTNER}loginResponse/{PARTNER}result/{PARTNER}sandbox"
        )
        == "true"
    )
