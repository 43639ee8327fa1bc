"""SOAP partner API: ``POST /services/Soap/u/XX.X[/orgId]``, calls ``login`` and
``getUserInfo``.

``login`` takes a username and the password with the user's security token appended
(the emulator prints each user's token at start; see ``Org.security_tokens``). The org
is the one that has that username: every org's usernames are distinct. The answer is
the partner WSDL's ``loginResponse``: session id (an access token the REST, Bulk and
SOAP APIs all accept), ``serverUrl`` on this host and port, ``userId``, ``sandbox``
and ``userInfo``. A wrong username or password is the ``INVALID_LOGIN`` SOAP fault
(HTTP 500), as Salesforce answers.

``getUserInfo`` reads the session from the ``SessionHeader``; a bad one is the
``INVALID_SESSION_ID`` fault. Any other call is refused as Salesforce refuses an
operation its WSDL does not have.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from salesforce_emulator import resources
from salesforce_emulator.org import Org
from salesforce_emulator.store import Record
from salesforce_emulator.transport import Request, Response

SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER: Final = "urn:partner.soap.sforce.com"
XML_TYPE: Final = "text/xml;charset=UTF-8"
INVALID_LOGIN: Final = "Invalid username, password, security token; or user locked out."
INVALID_SESSION: Final = "Invalid Session ID found in SessionHeader: Illegal Session"
SESSION_SECONDS_VALID: Final = 7200


class Registry(Protocol):
    def all_orgs(self) -> list[Org]: ...

    def org_by_token(self, token: str) -> Org | None: ...


class SoapFault(Exception):
    """A SOAP fault: ``faultcode``, ``faultstring`` and the ``sf:`` detail."""

    def __init__(self, code: str, message: str, detail_type: str | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # None for faults raised by the SOAP layer itself (soapenv:Client).
        self.detail_type = detail_type

    def envelope(self) -> bytes:
        if self.detail_type is None:
            fault_code, fault_string, detail = f"soapenv:{self.code}", self.message, ""
        else:
            fault_code = f"sf:{self.code}"
            fault_string = f"{self.code}: {self.message}"
            detail = (
                f'<detail><sf:{self.detail_type} xsi:type="sf:{self.detail_type}">'
                f"<sf:exceptionCode>{self.code}</sf:exceptionCode>"
                f"<sf:exceptionMessage>{escape(self.message)}</sf:exceptionMessage>"
                f"</sf:{self.detail_type}></detail>"
            )
        return _envelope(
            f"<soapenv:Fault><faultcode>{fault_code}</faultcode>"
            f"<faultstring>{escape(fault_string)}</faultstring>{detail}"
            "</soapenv:Fault>",
            'xmlns:sf="urn:fault.partner.soap.sforce.com"',
        )


def handle(registry: Registry, request: Request) -> Response:
    """``/services/Soap/u/{version}[/{orgId}]``."""
    segments = request.segments
    try:
        version = _version(segments)
        call, header, arguments = _parse(request.body)
        handler = _CALLS.get(call)
        if handler is None:
            raise SoapFault(
                "Client",
                f"No operation available for request {{{PARTNER}}}{call}, please "
                "check the WSDL for the service.",
                None,
            )
        return _xml(handler(registry, request, version, header, arguments), 200)
    except SoapFault as fault:
        return _xml(fault.envelope(), 500)


def _version(segments: list[str]) -> str:
    """The API version of ``/services/Soap/u/{version}[/{orgId}]``."""
    if len(segments) in (4, 5) and segments[2] == "u":
        version = segments[3]
        if resources.is_served(version):
            return version
    raise SoapFault(
        "UNSUPPORTED_API_VERSION", "Invalid Api version", "UnexpectedErrorFault"
    )


# -- request parsing -------------------------------------------------------------------


def _parse(body: bytes) -> tuple[str, dict[str, str], dict[str, str]]:
    """The call name, the header values and the call's arguments (local names)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise SoapFault("Client", "Could not parse request body as XML", None) from None
    envelope_body = root.find(f"{{{SOAP_ENV}}}Body")
    if envelope_body is None or len(envelope_body) == 0:
        raise SoapFault("Client", "Missing SOAP body", None)
    call = envelope_body[0]
    header = root.find(f"{{{SOAP_ENV}}}Header")
    header_values = _leaves(header) if header is not None else {}
    return _local(call.tag), header_values, _leaves(call)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _leaves(element: Iterable[ElementTree.Element]) -> dict[str, str]:
    """Text of every leaf below ``element`` by local name (headers nest one level)."""
    values: dict[str, str] = {}
    for child in element:
        if len(child):
            values.update(_leaves(child))
        else:
            values[_local(child.tag)] = child.text or ""
    return values


# -- calls -------------------------------------------------------------------------------

Call = Callable[[Registry, Request, str, dict[str, str], dict[str, str]], bytes]


def _login(
    registry: Registry,
    request: Request,
    version: str,
    header: dict[str, str],
    arguments: dict[str, str],
) -> bytes:
    username = arguments.get("username", "")
    password = arguments.get("password", "")
    for org in registry.all_orgs():
        user = org.user_by_username(username)
        if user is None:
            continue
        expected = org.password + org.security_token_for(user["Id"])
        if not user["IsDeleted"] and user["IsActive"] and _same(password, expected):
            return _login_response(org, user, version)
        break
    raise SoapFault("INVALID_LOGIN", INVALID_LOGIN, "LoginFault")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _login_response(org: Org, user: Record, version: str) -> bytes:
    session_id = org.issue_token(user["Id"])
    org_id15 = org.organization_id[:15]
    result = _elements(
        {
            "metadataServerUrl": f"{org.base_url}/services/Soap/m/{version}/{org_id15}",
            "passwordExpired": False,
            "sandbox": org.is_sandbox,
            "serverUrl": f"{org.base_url}/services/Soap/u/{version}/{org_id15}",
            "sessionId": session_id,
            "userId": user["Id"],
        }
    )
    user_info = _elements(_user_info(org, user))
    return _envelope(
        f'<loginResponse xmlns="{PARTNER}"><result>{result}'
        f"<userInfo>{user_info}</userInfo></result></loginResponse>"
    )


def _get_user_info(
    registry: Registry,
    request: Request,
    version: str,
    header: dict[str, str],
    arguments: dict[str, str],
) -> bytes:
    token = header.get("sessionId", "")
    org = registry.org_by_token(token)
    user_id = org.tokens.user_for(token) if org is not None else None
    user = org.user(user_id) if org is not None and user_id else None
    if org is None or user is None:
        raise SoapFault("INVALID_SESSION_ID", INVALID_SESSION, "UnexpectedErrorFault")
    org.count_api_call()
    result = _elements(_user_info(org, user))
    return _envelope(
        f'<getUserInfoResponse xmlns="{PARTNER}"><result>{result}</result>'
        "</getUserInfoResponse>"
    )


_CALLS: Final[dict[str, Call]] = {"login": _login, "getUserInfo": _get_user_info}


def _user_info(org: Org, user: Record) -> dict[str, Any]:
    """The partner WSDL's GetUserInfoResult, in its element order."""
    organization = org.user(org.integration_user_id) or {}
    return {
        "accessibilityMode": False,
        "chatterExternal": False,
        "currencySymbol": "$",
        "orgAttachmentFileSizeLimit": 5242880,
        "orgDefaultCurrencyIsoCode": "USD",
        "orgDefaultCurrencyLocale": "en_US",
        "orgDisallowHtmlAttachments": False,
        "orgHasPersonAccounts": False,
        "organizationId": org.organization_id,
        "organizationMultiCurrency": False,
        "organizationName": organization.get("CompanyName") or f"{org.name} org",
        "profileId": None,
        "roleId": None,
        "sessionSecondsValid": SESSION_SECONDS_VALID,
        "userDefaultCurrencyIsoCode": None,
        "userEmail": user.get("Email"),
        "userFullName": user.get("Name"),
        "userId": user["Id"],
        "userLanguage": user.get("LanguageLocaleKey") or "en_US",
        "userLocale": user.get("LocaleSidKey") or "en_US",
        "userName": user.get("Username"),
        "userTimeZone": user.get("TimeZoneSidKey") or "GMT",
        "userType": "Standard",
        "userUiSkin": "Theme3",
    }


# -- XML output ---------------------------------------------------------------------------


def _elements(values: dict[str, Any]) -> str:
    parts = []
    for name, value in values.items():
        if value is None:
            parts.append(f'<{name} xsi:nil="true"/>')
        elif isinstance(value, bool):
            parts.append(f"<{name}>{'true' if value else 'false'}</{name}>")
        else:
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
    return "".join(parts)


def _envelope(body: str, extra_namespaces: str = "") -> bytes:
    namespaces = (
        f'xmlns:soapenv="{SOAP_ENV}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    )
    if extra_namespaces:
        namespaces += f" {extra_namespaces}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<soapenv:Envelope {namespaces}><soapenv:Body>{body}</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def _xml(body: bytes, status: int) -> Response:
    return Response(status, body, XML_TYPE)
