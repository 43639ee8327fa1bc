"""Connect org: the OAuth 2.0 web-server flow, with ``state`` and PKCE (S256).

``org_connect_begin`` remembers what the callback needs in the user's session (a
mapping passed in), and returns the org's authorize URL. ``org_connect_complete``
checks the answer against it, trades the code for tokens, tests the org with them,
and only then stores the refresh token, encrypted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from migrations_app.models import AuthMethod, Org
from migrations_app.salesforce import auth
from migrations_app.salesforce.client import ApiUsage, build_session
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import org_checks
from migrations_app.services.errors import MigrationError
from migrations_app.services.events import Actor, event_record, org_state
from migrations_app.services.orgs import (
    OrgReport,
    org_inspect,
    org_record_identity,
    salesforce_timeout,
)

SESSION_KEY = "migrations_app.org_connect"
# A user may have a few Connect org tabs open; each answer is good for ten minutes.
MAX_PENDING = 5
PENDING_SECONDS = 600


def org_connect_begin(
    *, org: Org, redirect_uri: str, session: MutableMapping[str, Any]
) -> str:
    """Return the URL of the org's authorize page and remember the attempt."""
    if org.auth_method != AuthMethod.WEB_SERVER:
        raise MigrationError(
            f"{org.name}: Connect org is for the “OAuth web-server flow” method; "
            "choose it and save the org first."
        )
    if not org.client_id:
        raise MigrationError(
            f"{org.name}: enter the connected app's consumer key (client id) first."
        )
    try:
        org_checks.org_settings_validate(org=org)
    except ValidationError as exc:
        raise MigrationError(f"{org.name}: {' '.join(exc.messages)}") from exc
    request = auth.authorization_request(
        login_url=org.login_url,
        client_id=org.client_id,
        redirect_uri=redirect_uri,
        login_hint=org.username,
    )
    pending = _live(session.get(SESSION_KEY))
    pending[request.state] = {
        "org": org.pk,
        "verifier": request.code_verifier,
        "redirect_uri": redirect_uri,
        "started": time.time(),
    }
    newest = sorted(pending.items(), key=lambda item: item[1]["started"])
    session[SESSION_KEY] = dict(newest[-MAX_PENDING:])
    return request.url


def org_connect_complete(
    *, params: Mapping[str, str], session: MutableMapping[str, Any], actor: Actor
) -> tuple[Org, OrgReport]:
    """Finish Connect org with the authorize page's answer (``code``, ``state``).

    Raises MigrationError with a sentence for the user when anything is wrong; then
    nothing is stored.
    """
    attempt = _take_attempt(params.get("state", ""), session)
    org = Org.objects.filter(pk=attempt["org"]).first()
    if org is None:
        raise MigrationError("The org being connected was deleted meanwhile.")
    try:
        token = _trade_code(org, params, attempt)
        report = _test_with(org, token)
    except MigrationError as exc:
        event_record(
            actor=actor,
            action="org_connect_failed",
            org=org,
            details={"error": exc.message},
        )
        raise
    _store(org, token, report, actor)
    return org, report


def _take_attempt(state: str, session: MutableMapping[str, Any]) -> dict[str, Any]:
    pending = _live(session.get(SESSION_KEY))
    attempt = pending.pop(state, None) if state else None
    session[SESSION_KEY] = pending
    if attempt is None:
        raise MigrationError(
            "This answer does not belong to a Connect org started from this browser "
            "in the last 10 minutes; start Connect org again."
        )
    return attempt


def _live(value: object) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        return {}
    oldest = time.time() - PENDING_SECONDS
    return {
        state: attempt
        for state, attempt in value.items()
        if isinstance(attempt, dict) and attempt.get("started", 0) >= oldest
    }


def _trade_code(
    org: Org, params: Mapping[str, str], attempt: dict[str, Any]
) -> auth.Token:
    if params.get("error"):
        description = " ".join(str(params.get("error_description", "")).split())[:200]
        raise MigrationError(
            f"{org.name}: the org did not grant access ({params['error'][:100]}"
            + (f": {description}" if description else "")
            + ")."
        )
    code = params.get("code", "")
    if not code:
        raise MigrationError(f"{org.name}: the org answered without a code; try again.")
    form = auth.authorization_code_form(
        client_id=org.client_id,
        client_secret=str(org.credentials.get("client_secret", "")),
        code=code,
        redirect_uri=attempt["redirect_uri"],
        code_verifier=attempt["verifier"],
    )
    timeout = salesforce_timeout()
    session = build_session(ca_file=org.ca_file, usage=ApiUsage(), timeout=timeout)
    try:
        token = auth.request_token(session, org.login_url, form, timeout=timeout)
    except SalesforceError as exc:
        raise MigrationError(f"{org.name}: {exc.message}") from exc
    if not token.refresh_token:
        raise MigrationError(
            f"{org.name}: the org gave no refresh token; give the connected app the "
            "“Perform requests at any time (refresh_token)” scope."
        )
    return token


def _test_with(org: Org, token: auth.Token) -> OrgReport:
    """Test the org with the new refresh token, without saving anything yet."""
    org.set_credentials({**org.credentials, "refresh_token": token.refresh_token})
    org.instance_url = token.instance_url
    try:
        return org_inspect(org=org)
    except ValidationError as exc:
        raise MigrationError(f"{org.name}: {' '.join(exc.messages)}") from exc


@transaction.atomic
def _store(org: Org, token: auth.Token, report: OrgReport, actor: Actor) -> None:
    before = org_state(Org.objects.get(pk=org.pk))
    org.save(update_fields=["credentials_encrypted", "instance_url", "updated_at"])
    org_record_identity(org, report.identity, report.instance_url)
    event_record(
        actor=actor,
        action="org_connected",
        org=org,
        details={"result": report.summary()},
        before=before,
        after=org_state(org),
    )
