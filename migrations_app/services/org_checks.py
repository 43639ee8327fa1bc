"""Checks of an org's settings, each naming the field it refuses and what to do.

``org_settings_validate`` needs no network; ``org_identity_validate`` and
``org_version_validate`` judge what a connection found.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from django.core.exceptions import ValidationError

from migrations_app.models import Org

# Hosts where plain http is allowed: the local emulator, or a tunnel to it.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
API_VERSION = re.compile(r"\d{2,3}\.0")
CA_FILE_MAX_BYTES = 1024 * 1024


def org_settings_validate(*, org: Org) -> None:
    """Refuse a login URL, CA file or API version that cannot work, field by field."""
    errors: dict[str, str] = {}
    for field, check in (
        ("login_url", _login_url_problem),
        ("ca_file", _ca_file_problem),
        ("api_version", _api_version_problem),
    ):
        problem = check(str(getattr(org, field) or ""))
        if problem:
            errors[field] = problem
    if errors:
        raise ValidationError(errors)


def org_version_validate(*, org: Org, offered: list[str]) -> None:
    """Refuse an API version the org does not offer (from its versions list)."""
    if not offered or org.api_version in offered:
        return
    raise ValidationError(
        {
            "api_version": f"The org does not offer API version {org.api_version}; "
            f"choose one from {offered[0]} to {offered[-1]} "
            f"(the newest is {offered[-1]})."
        }
    )


def org_identity_validate(*, org: Org, organization_id: str) -> None:
    """Refuse a second row for an org that already has one (DESIGN invariant 2)."""
    existing = (
        Org.objects.filter(organization_id=organization_id).exclude(pk=org.pk).first()
    )
    if existing is None:
        return
    raise ValidationError(
        f"These settings log in to org {organization_id}, which the org "
        f"“{existing.name}” already is. Use that org, or connect this one to a "
        "different org: one org, one row, or repeat runs would duplicate records."
    )


def is_local_host(host: str) -> bool:
    host = host.lower().strip("[]")
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _login_url_problem(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        return "This is not a URL; enter the org's login host, e.g. https://login.salesforce.com."
    if not host:
        return "Enter the org's login host, e.g. https://login.salesforce.com."
    if parts.scheme == "https":
        return ""
    if parts.scheme == "http" and is_local_host(host):
        return ""
    return (
        "The login URL must start with https:// (plain http is allowed only for a "
        "local emulator on localhost); use e.g. https://login.salesforce.com, "
        "https://test.salesforce.com or your My Domain URL."
    )


def _ca_file_problem(path_text: str) -> str:
    if not path_text:
        return ""
    if "\x00" in path_text:
        return "The CA file path contains a NUL character; enter a file path."
    path = Path(path_text)
    try:
        if not path.is_file():
            return f"There is no file at {path_text}; enter the path of a PEM file, or leave it blank."
        if path.stat().st_size > CA_FILE_MAX_BYTES:
            return "The CA file is larger than 1 MB; enter the path of a PEM certificate file."
        data = path.read_bytes()
    except OSError as exc:
        return f"The CA file cannot be read ({exc.strerror or 'error'}); check its path and permissions."
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        certificates = []
    if not certificates:
        return "The CA file holds no PEM certificate; enter the path of the CA's certificate (BEGIN CERTIFICATE)."
    return ""


def _api_version_problem(version: str) -> str:
    if API_VERSION.fullmatch(version):
        return ""
    return f"“{version[:20]}” is not an API version; enter one like 59.0."
