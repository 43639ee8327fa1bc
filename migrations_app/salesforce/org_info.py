"""What a connection test reads from an org besides who we are: versions, sandbox,
API allowance. Each answer comes from the org itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from migrations_app.salesforce.auth import transport_error
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.salesforce.errors import SalesforceError, error_from_content


@dataclass(frozen=True)
class ApiAllowance:
    remaining: int
    maximum: int


def api_versions(client: SalesforceClient) -> list[str]:
    """The API versions the org offers, oldest first (``GET /services/data/``)."""
    body = _get_json(client, "/services/data/")
    if not isinstance(body, list):
        return []
    return [
        str(item["version"])
        for item in body
        if isinstance(item, dict) and isinstance(item.get("version"), str)
    ]


def is_sandbox(client: SalesforceClient) -> bool | None:
    """``Organization.IsSandbox``, or None when the org does not say."""
    try:
        rows = list(client.query("SELECT IsSandbox FROM Organization"))
    except SalesforceError as exc:
        if exc.code in ("INVALID_TYPE", "INSUFFICIENT_ACCESS", "NOT_FOUND"):
            return None
        raise
    if rows and isinstance(rows[0].get("IsSandbox"), bool):
        return bool(rows[0]["IsSandbox"])
    return None


def daily_api_allowance(client: SalesforceClient) -> ApiAllowance | None:
    """Daily API requests left and allowed, from the org's limits resource."""
    body = _get_json(client, f"/services/data/v{client.api_version}/limits/")
    daily = body.get("DailyApiRequests") if isinstance(body, dict) else None
    if not isinstance(daily, dict):
        return None
    remaining, maximum = daily.get("Remaining"), daily.get("Max")
    if not isinstance(remaining, int) or not isinstance(maximum, int):
        return None
    return ApiAllowance(remaining=remaining, maximum=maximum)


def _get_json(client: SalesforceClient, path: str) -> Any:
    url = client.token.instance_url + path
    try:
        response = client.session.get(
            url, headers={"Authorization": f"Bearer {client.token.access_token}"}
        )
    except OSError as exc:
        raise transport_error(exc, client.token.instance_url) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != requests.codes.ok:
        if body is None:
            body = f"HTTP {response.status_code} from {path}"
        raise error_from_content(response.status_code, body)
    return body
