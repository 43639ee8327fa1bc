"""Org connections: log in, learn which org we reached, keep secrets encrypted.

Every way an org is saved (admin form, ``org_add``, the Connect org callback) tests
it first: its settings (``org_checks``), the login, the API version it offers, and
that no other row is the same org.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from migrations_app.crypto import rotate
from migrations_app.models import (
    AuthMethod,
    MappingStatus,
    Org,
    OutdatedReason,
    RecordMapping,
)
from migrations_app.salesforce import auth, org_info
from migrations_app.salesforce.client import (
    ApiUsage,
    Identity,
    SalesforceClient,
    build_session,
)
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import org_checks
from migrations_app.services.errors import MigrationError
from migrations_app.services.events import Actor, event_record, org_state

# Which field can fix a refused login, and what to do about it, by error code.
FIELD_FOR_CODE: dict[str, tuple[str, str]] = {
    auth.TLS_ERROR: ("ca_file", "Set the CA file that signed the org's certificate."),
    "TRANSPORT": ("login_url", "Check the login URL and that the host is up."),
    auth.NOT_A_LOGIN_ENDPOINT: ("login_url", "Use the org's login host."),
    "invalid_client_id": (
        "client_id",
        "Check the consumer key of the connected app.",
    ),
    "invalid_client": (
        "client_secret",
        "Check the consumer secret of the connected app.",
    ),
    "inactive_user": ("username", "Use an active user."),
    auth.BAD_PRIVATE_KEY: ("private_key", "Paste the PEM private key again."),
}


@dataclass(frozen=True)
class OrgReport:
    """What a connection test found, read from the org itself."""

    identity: Identity
    instance_url: str
    api_version: str
    api_versions: list[str]
    is_sandbox: bool | None
    allowance: org_info.ApiAllowance | None

    def summary(self) -> str:
        sandbox = {True: "a sandbox", False: "not a sandbox", None: "sandbox unknown"}
        calls = (
            f"{self.allowance.remaining:,} of {self.allowance.maximum:,} API calls "
            "left today"
            if self.allowance
            else "API calls left unknown"
        )
        return (
            f"{self.identity.organization_id} as {self.identity.username}, "
            f"{sandbox[self.is_sandbox]}, API version {self.api_version}, {calls}"
        )


def salesforce_timeout() -> tuple[float, float]:
    """(connect, read) seconds for every call to Salesforce, from settings."""
    return (
        float(settings.SALESFORCE_CONNECT_TIMEOUT_SECONDS),
        float(settings.SALESFORCE_TIMEOUT_SECONDS),
    )


def org_token(org: Org) -> auth.Token:
    """Log in to ``org`` with its authentication method and stored secrets."""
    secrets = org.credentials
    timeout = salesforce_timeout()
    _check_ca_file(org)
    session = build_session(ca_file=org.ca_file, usage=ApiUsage(), timeout=timeout)
    method = org.auth_method
    if method == AuthMethod.ACCESS_TOKEN:
        if not secrets.get("access_token"):
            raise MigrationError(f"{org.name}: the access-token method needs a token")
        return auth.Token(
            access_token=secrets["access_token"],
            # A raw token comes with no instance URL; the login host is the instance.
            instance_url=(org.instance_url or org.login_url).rstrip("/"),
        )
    if method == AuthMethod.CLIENT_CREDENTIALS:
        form = auth.client_credentials_form(
            org.client_id, secrets.get("client_secret", "")
        )
    elif method == AuthMethod.WEB_SERVER:
        if not secrets.get("refresh_token"):
            raise MigrationError(
                f"{org.name}: not connected yet; use Connect org first"
            )
        form = auth.refresh_token_form(
            org.client_id, secrets.get("client_secret", ""), secrets["refresh_token"]
        )
    else:
        form = auth.jwt_bearer_form(
            client_id=org.client_id,
            username=org.username,
            private_key=secrets.get("private_key", ""),
            audience=org.login_url.rstrip("/"),
        )
    return auth.request_token(session, org.login_url, form, timeout=timeout)


def _check_ca_file(org: Org) -> None:
    # A CA file deleted after the org was saved would fail deep inside requests.
    try:
        org_checks.org_settings_validate(org=org)
    except ValidationError as exc:
        if "ca_file" in exc.message_dict:
            raise MigrationError(
                f"{org.name}: {exc.message_dict['ca_file'][0]}"
            ) from None


def _client(org: Org, token: auth.Token) -> SalesforceClient:
    return SalesforceClient(
        token=token,
        api_version=org.api_version or settings.SALESFORCE_API_VERSION,
        ca_file=org.ca_file,
        timeout=salesforce_timeout(),
        reauthenticate=lambda: org_token(org),
        label=org.name,
    )


def org_client(org: Org) -> SalesforceClient:
    """A logged-in client for ``org`` that logs in again when its session expires."""
    try:
        return _client(org, org_token(org))
    except SalesforceError as exc:
        raise MigrationError(
            f"{org.name}: {exc.message}", permanent=exc.permanent
        ) from exc


def org_check_connection(*, org: Org) -> Identity:
    """Connect to ``org`` and record who and where we are (see org_connect)."""
    return org_connect(org=org)[1]


def org_connect(*, org: Org) -> tuple[SalesforceClient, Identity]:
    """Log in to ``org``, record who and where we are, and flag a refreshed org.

    If the Organization Id differs from the one recorded before (a sandbox refresh),
    the mappings that point into the old org are marked outdated (DESIGN invariant 2).
    If another row already is that org, nothing is recorded and the connection fails.
    The failure, if any, is recorded on the org and raised as a MigrationError.
    """
    try:
        client = org_client(org)
        identity = client.identity()
        org_checks.org_identity_validate(
            org=org, organization_id=identity.organization_id
        )
    except (MigrationError, SalesforceError) as exc:
        _record_failure(org, exc.message)
        raise MigrationError(exc.message, permanent=exc.permanent) from exc
    except ValidationError as exc:
        message = f"{org.name}: {' '.join(exc.messages)}"
        _record_failure(org, message)
        raise MigrationError(message) from exc
    org_record_identity(org, identity, client.token.instance_url)
    return client, identity


def _record_failure(org: Org, message: str) -> None:
    if org.pk:
        Org.objects.filter(pk=org.pk).update(
            connection_status=Org.ConnectionStatus.FAILED,
            connection_error=message,
            last_checked_at=timezone.now(),
        )


def org_inspect(*, org: Org) -> OrgReport:
    """Log in to ``org`` (saved or not) and read what a connection test shows.

    Raises ValidationError naming the field that can fix a refusal.
    """
    org_checks.org_settings_validate(org=org)
    try:
        client = _client(org, org_token(org))
        identity = client.identity()
        versions = org_info.api_versions(client)
        org_checks.org_version_validate(org=org, offered=versions)
        report = OrgReport(
            identity=identity,
            instance_url=client.token.instance_url,
            api_version=org.api_version,
            api_versions=versions,
            is_sandbox=org_info.is_sandbox(client),
            allowance=org_info.daily_api_allowance(client),
        )
    except SalesforceError as exc:
        raise _field_error(exc) from exc
    except MigrationError as exc:
        raise ValidationError(exc.message) from exc
    org_checks.org_identity_validate(org=org, organization_id=identity.organization_id)
    return report


def _field_error(exc: SalesforceError) -> ValidationError:
    field, hint = FIELD_FOR_CODE.get(exc.code, (NON_FIELD_ERRORS, ""))
    return ValidationError({field: f"{exc.message}. {hint}".strip()})


def org_test(*, org: Org, actor: Actor) -> OrgReport:
    """Test a saved org's connection, record the outcome on it and in the audit log.

    Raises MigrationError (naming the org) when the test fails.
    """
    try:
        report = org_inspect(org=org)
    except ValidationError as exc:
        message = f"{org.name}: {' '.join(exc.messages)}"
        _record_failure(org, message)
        event_record(
            actor=actor, action="org_tested", org=org, details={"error": message}
        )
        raise MigrationError(message) from exc
    org_record_identity(org, report.identity, report.instance_url)
    event_record(
        actor=actor,
        action="org_tested",
        org=org,
        details={"result": report.summary()},
    )
    return report


@transaction.atomic
def org_save(*, org: Org, report: OrgReport | None) -> None:
    """Save an org changed by hand; ``report`` is its test when it could be tested.

    The audit event is recorded by ``org_record_saved`` once related rows (its target
    restriction) are saved too.
    """
    org.save()
    if report is not None:
        org_record_identity(org, report.identity, report.instance_url)


def org_record_saved(
    *, org: Org, actor: Actor, before: dict[str, object], created: bool
) -> None:
    """Record that ``org`` was added or changed, with what changed."""
    event_record(
        actor=actor,
        action="org_added" if created else "org_changed",
        org=org,
        before=before,
        after=org_state(org),
    )


@transaction.atomic
def org_delete(*, org: Org, actor: Actor) -> None:
    """Delete an org no run or mapping refers to (those rows PROTECT it)."""
    event_record(actor=actor, action="org_deleted", org=org, before=org_state(org))
    org.delete()


@transaction.atomic
def org_record_identity(org: Org, identity: Identity, instance_url: str) -> None:
    previous = org.organization_id
    org.organization_id = identity.organization_id
    org.username = identity.username or org.username
    org.instance_url = instance_url
    org.connection_status = Org.ConnectionStatus.CONNECTED
    org.connection_error = ""
    org.last_checked_at = timezone.now()
    if org.pk:
        org.save(
            update_fields=[
                "organization_id",
                "username",
                "instance_url",
                "connection_status",
                "connection_error",
                "last_checked_at",
                "updated_at",
            ]
        )
    if previous and previous != identity.organization_id:
        _outdate_mappings_after_refresh(org, previous, identity.organization_id)


def _outdate_mappings_after_refresh(org: Org, old_id: str, new_id: str) -> None:
    reason = f"{org.name} is now org {new_id}, no longer {old_id} (sandbox refresh?)"
    now = timezone.now()
    active = RecordMapping.objects.filter(status=MappingStatus.ACTIVE)
    count = sum(
        active.filter(**{side: org}).update(
            status=MappingStatus.OUTDATED,
            outdated_reason=reason,
            outdated_reason_code=code,
            outdated_at=now,
        )
        for side, code in (
            ("target_org", OutdatedReason.TARGET_ORG_CHANGED),
            ("source_org", OutdatedReason.SOURCE_ORG_CHANGED),
        )
    )
    event_record(
        actor=None,
        action="org_identity_changed",
        org=org,
        details={"mappings_outdated": count},
        before={"organization_id": old_id},
        after={"organization_id": new_id},
    )


def org_add(
    *,
    name: str,
    login_url: str,
    client_id: str,
    client_secret: str,
    ca_file: str = "",
    environment: str = Org.Environment.SANDBOX,
    actor: Actor = None,
) -> Org:
    """Connect with the client-credentials flow and save the org only if that works.

    Running it again with the same name updates the stored org (idempotent). Raises
    ValidationError naming the field at fault.
    """
    org = Org.objects.filter(name=name).first() or Org(name=name)
    before = org_state(org) if org.pk else {}
    org.login_url = login_url.rstrip("/")
    org.client_id = client_id
    org.ca_file = ca_file
    org.environment = environment
    org.auth_method = AuthMethod.CLIENT_CREDENTIALS
    org.set_credentials({"client_secret": client_secret})
    org.full_clean(exclude=["instance_url", "organization_id"])
    report = org_inspect(org=org)
    created = org.pk is None
    with transaction.atomic():
        org_save(org=org, report=report)
        org_record_saved(org=org, actor=actor, before=before, created=created)
    return org


def org_rotate_credentials() -> int:
    """Re-encrypt every org's secrets with the first encryption key; return how many."""
    count = 0
    with transaction.atomic():
        for org in Org.objects.select_for_update().exclude(credentials_encrypted=""):
            org.credentials_encrypted = rotate(org.credentials_encrypted)
            org.save(update_fields=["credentials_encrypted", "updated_at"])
            count += 1
    return count
