"""Salesforce failures, classified by what retrying can do about them."""

from __future__ import annotations

from typing import Any

# Codes where waiting and trying again can succeed; everything else is permanent.
TRANSIENT_CODES = frozenset(
    {
        "REQUEST_LIMIT_EXCEEDED",
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "TRANSPORT",
        "TIMEOUT",
    }
)


# Transient faults a run retries in place, with backoff (issue 11). Not
# REQUEST_LIMIT_EXCEEDED: an exhausted allowance is waited out, not hammered.
RETRYABLE_CODES = frozenset(
    {
        "UNKNOWN_EXCEPTION",
        "SERVER_UNAVAILABLE",
        "UNABLE_TO_LOCK_ROW",
        "TRANSPORT",
        "TIMEOUT",
    }
)
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
# A Bulk API job reports why it failed only in its errorMessage text; these codes in
# it mean the same job sent again can succeed.
TRANSIENT_BULK_MARKERS = (
    "UNABLE_TO_LOCK_ROW",
    "SERVER_UNAVAILABLE",
    "UNKNOWN_EXCEPTION",
    "InternalServerError",
    "Job timeout",
)


class SalesforceError(Exception):
    """A call to Salesforce failed.

    ``code`` is Salesforce's error code (or a transport category), ``permanent`` says
    whether the same call can succeed later.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        permanent: bool,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.permanent = permanent


class AuthenticationError(SalesforceError):
    """The org refused our credentials; nothing will work until they change."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message, code=code, permanent=True)


def error_from_content(status: int, content: Any) -> SalesforceError:
    """Build an error from a REST error body (a JSON list of {errorCode, message})."""
    code, message = "", str(content)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code = str(content[0].get("errorCode") or content[0].get("statusCode") or "")
        message = str(content[0].get("message", message))
    transient = code in TRANSIENT_CODES or status >= 500
    return SalesforceError(
        f"{code or status}: {message}",
        code=code,
        status=status,
        permanent=not transient,
    )


def is_retryable(error: SalesforceError) -> bool:
    """Whether the same call, sent again a little later, can succeed."""
    if error.permanent or error.code == "REQUEST_LIMIT_EXCEEDED":
        return False
    return error.code in RETRYABLE_CODES or error.status in RETRYABLE_STATUSES


def bulk_failure_is_transient(message: str) -> bool:
    return any(marker in message for marker in TRANSIENT_BULK_MARKERS)
