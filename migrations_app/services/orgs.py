"""Org connections: log in, learn which org we reached, keep secrets encrypted."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from migrations_app.crypto import rotate
from migrations_app.models import (
    AuditEvent,
    AuthMethod,
    MappingStatus,
    Org,
    RecordMapping,
)
from migrations_app.salesforce import auth
from migrations_app.salesforce.client import (
    ApiUsage,
    Identity,
    SalesforceClient,
    build_session,
)
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services.errors import MigrationError


def org_token(org: Org) -> auth.Token:
    """Log in to ``org`` with its authentication method and stored secrets."""
    secrets = org.credentials
    timeout = settings.SALESFORCE_TIMEOUT_SECONDS
    session = build_session(ca_file=org.ca_file, usage=ApiUsage())
    method = org.auth_method
    if method == AuthMethod.ACCESS_TOKEN:
        if not secrets.get("access_token") or not org.instance_url:
            raise MigrationError(
                f"{org.name}: the access-token method needs a token and an instance URL"
            )
        return auth.Token(
            access_token=secrets["access_token"], instance_url=org.instance_url
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


def org_client(org: Org) -> SalesforceClient:
    """A logged-in client for ``org`` that logs in again when its session expires."""
    try:
        token = org_token(org)
        return SalesforceClient(
            token=token,
            api_version=org.api_version or settings.SALESFORCE_API_VERSION,
            ca_file=org.ca_file,
            timeout=settings.SALESFORCE_TIMEOUT_SECONDS,
            reauthenticate=lambda: org_token(org),
            label=org.name,
        )
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
    The failure, if any, is recorded on the org and raised as a MigrationError.
    """
    try:
        client = org_client(org)
        identity = client.identity()
    except (MigrationError, SalesforceError) as exc:
        message = exc.message
        Org.objects.filter(pk=org.pk).update(
            connection_status=Org.ConnectionStatus.FAILED,
            connection_error=message,
            last_checked_at=timezone.now(),
        )
        # org_client's errors and the client's own already name the org.
        raise MigrationError(message, permanent=exc.permanent) from exc
    _record_identity(org, identity, client.token.instance_url)
    return client, identity


@transaction.atomic
def _record_identity(org: Org, identity: Identity, instance_url: str) -> None:
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
    count = (
        RecordMapping.objects.filter(Q(target_org=org) | Q(source_org=org))
        .filter(status=MappingStatus.ACTIVE)
        .update(status=MappingStatus.OUTDATED, outdated_reason=reason)
    )
    AuditEvent.objects.create(
        action="org_identity_changed",
        org=org,
        details={
            "old_organization_id": old_id,
            "new_organization_id": new_id,
            "mappings_outdated": count,
        },
    )


def org_add(
    *,
    name: str,
    login_url: str,
    client_id: str,
    client_secret: str,
    ca_file: str = "",
    environment: str = Org.Environment.SANDBOX,
) -> Org:
    """Connect with the client-credentials flow and save the org only if that works.

    Running it again with the same name updates the stored org (idempotent).
    """
    org = Org.objects.filter(name=name).first() or Org(name=name)
    org.login_url = login_url.rstrip("/")
    org.client_id = client_id
    org.ca_file = ca_file
    org.environment = environment
    org.auth_method = AuthMethod.CLIENT_CREDENTIALS
    org.set_credentials({"client_secret": client_secret})
    org.full_clean(exclude=["instance_url"])
    identity = _connect_unsaved(org)
    with transaction.atomic():
        org.save()
        _record_identity(org, identity, org.instance_url)
        AuditEvent.objects.create(
            action="org_added",
            org=org,
            details={"organization_id": identity.organization_id},
        )
    return org


def _connect_unsaved(org: Org) -> Identity:
    try:
        client = org_client(org)
        identity = client.identity()
    except SalesforceError as exc:
        raise MigrationError(exc.message) from exc  # the client names the org
    org.instance_url = client.token.instance_url
    return identity


def org_rotate_credentials() -> int:
    """Re-encrypt every org's secrets with the first encryption key; return how many."""
    count = 0
    with transaction.atomic():
        for org in Org.objects.select_for_update().exclude(credentials_encrypted=""):
            org.credentials_encrypted = rotate(org.credentials_encrypted)
            org.save(update_fields=["credentials_encrypted", "updated_at"])
            count += 1
    return count
