"""The audit log: who did what, when, and for changes what it was before and after.

Events are only ever appended. Secrets never reach the log: every value recorded goes
through ``without_secrets``, whatever the caller passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from migrations_app.models import AuditEvent, Org, Run

# Keys whose values are never recorded, at any depth.
SECRET_KEYS = frozenset(
    {
        "client_secret",
        "private_key",
        "access_token",
        "refresh_token",
        "credentials",
        "credentials_encrypted",
        "password",
        "code_verifier",
        "assertion",
        "token",
    }
)
REDACTED = "(secret, not recorded)"
# Longer strings are cut: a log line must stay readable, and input can be hostile.
MAX_TEXT = 500

# The org fields an org event records before and after a change.
ORG_FIELDS = (
    "name",
    "environment",
    "login_url",
    "instance_url",
    "auth_method",
    "client_id",
    "username",
    "ca_file",
    "organization_id",
    "api_version",
)

Actor = AbstractBaseUser | AnonymousUser | None


def event_record(
    *,
    actor: Actor,
    action: str,
    org: Org | None = None,
    run: Run | None = None,
    details: Mapping[str, Any] | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event; the log is never edited afterwards.

    For a change, pass ``before`` and ``after``: only the keys whose values differ are
    kept. The actor's username and the org's name are copied into the details so the
    event still says who and what after either is deleted.
    """
    event = event_build(
        actor=actor,
        action=action,
        org=org,
        run=run,
        details=details,
        before=before,
        after=after,
    )
    event.save(force_insert=True)
    return event


def event_build(
    *,
    actor: Actor,
    action: str,
    org: Org | None = None,
    run: Run | None = None,
    details: Mapping[str, Any] | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """The event ``event_record`` appends, not saved yet: for callers that append
    many at once (``AuditEvent.objects.bulk_create``)."""
    recorded: dict[str, Any] = dict(without_secrets(details or {}))
    if before is not None or after is not None:
        recorded.update(changes(before or {}, after or {}))
    user: Any = actor if actor is not None and actor.is_authenticated else None
    if user is not None:
        recorded.setdefault("actor", _clean_text(user.get_username()))
    if org is not None:
        recorded.setdefault("org_name", org.name)
    return AuditEvent(
        actor=user,
        action=action,
        org=org if org is not None and org.pk else None,
        run=run,
        details=recorded,
    )


def changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """``{"before": {...}, "after": {...}}`` holding only the keys that changed."""
    keys = [key for key in {**before, **after} if before.get(key) != after.get(key)]
    return {
        "before": without_secrets({key: before.get(key) for key in keys}),
        "after": without_secrets({key: after.get(key) for key in keys}),
    }


def org_state(org: Org | None) -> dict[str, Any]:
    """What an org event records of an org: its settings, never its secrets."""
    if org is None:
        return {}
    state = {name: getattr(org, name) for name in ORG_FIELDS}
    state["has_credentials"] = org.has_credentials
    if org.pk:
        state["target_users"] = sorted(
            str(name) for name in org.target_users.values_list("username", flat=True)
        )
        state["target_groups"] = sorted(
            str(name) for name in org.target_groups.values_list("name", flat=True)
        )
    return state


def without_secrets(value: Any) -> Any:
    """``value`` with every secret-named key redacted and long text cut, recursively."""
    if isinstance(value, Mapping):
        return {
            str(key): REDACTED
            if str(key).lower() in SECRET_KEYS
            else without_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [without_secrets(item) for item in value]
    if isinstance(value, str):
        return _clean_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, models.Model):
        return str(value)
    return _clean_text(str(value))


def _clean_text(text: str) -> str:
    # PostgreSQL's jsonb refuses NUL characters.
    cleaned = text.replace("\x00", "")
    return cleaned if len(cleaned) <= MAX_TEXT else cleaned[:MAX_TEXT] + "…"
