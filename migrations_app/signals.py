"""Signal receivers: only for what no service call can see, such as a failed login."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from migrations_app.services.events import event_record


@receiver(user_login_failed, dispatch_uid="migrations_app.login_failed")
def record_login_failure(
    sender: object,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    """Record who tried to log in, and from where; the password is never recorded."""
    details = {"username": str(credentials.get("username", ""))}
    if request is not None:
        details["ip_address"] = str(request.META.get("REMOTE_ADDR", ""))
        details["path"] = request.path
    event_record(actor=None, action="login_failed", details=details)
