"""Control endpoint actions for the clock, the recycle bin and sandboxes (see app.py).

``GET  /__emulator__/clock``                        ``{"now", "offset_seconds"}``
``POST /__emulator__/clock``                        ``{"advance_seconds": 3600}`` or
                                                    ``{"offset_seconds": 0}``
``POST /__emulator__/orgs``                         ``{"name": "uat", "sandbox_of":
                                                    "source"}`` creates a sandbox copy
``POST /__emulator__/orgs/<name>/refresh``          refresh a sandbox; optional
                                                    ``{"source": "other"}``
``POST /__emulator__/orgs/<name>/empty-recycle-bin``  optional ``{"ids": [...]}``
``POST /__emulator__/orgs/<name>/undelete``         ``{"ids": [...]}``

Errors answer ``{"error": message}`` with status 400 (as the other control actions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from salesforce_emulator.errors import RecordFailure
from salesforce_emulator.org import Org
from salesforce_emulator.transport import Request, Response
from salesforce_emulator.values import format_datetime

if TYPE_CHECKING:
    from salesforce_emulator.emulator import Emulator

ORG_ACTIONS = ("refresh", "empty-recycle-bin", "undelete")


def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent, or {} when the body is empty."""
    if not request.body:
        return {}
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _ids(body: dict[str, Any]) -> list[str] | None:
    ids = body.get("ids")
    if ids is None:
        return None
    if not isinstance(ids, list):
        raise ValueError('"ids" must be a list of record ids')
    return [str(i) for i in ids]


def clock(emulator: Emulator, request: Request) -> Response:
    if request.method == "POST":
        body = _body(request)
        if "advance_seconds" in body:
            emulator.advance_clock(float(body["advance_seconds"]))
        elif "offset_seconds" in body:
            emulator.set_clock_offset(float(body["offset_seconds"]))
        else:
            raise ValueError('send {"advance_seconds": n} or {"offset_seconds": n}')
    return Response.json(
        {
            "now": format_datetime(emulator.now()),
            "offset_seconds": emulator.clock_offset,
        }
    )


def create_org(emulator: Emulator, body: dict[str, Any]) -> Org:
    """``POST /__emulator__/orgs``: a new org, or a sandbox copy with ``sandbox_of``."""
    name = str(body["name"])
    source = body.get("sandbox_of")
    if source:
        return emulator.create_sandbox(name, str(source))
    return emulator.add_org(name)


def org_action(emulator: Emulator, org: Org, action: str, request: Request) -> Response:
    body = _body(request)
    try:
        if action == "refresh":
            source = body.get("source")
            refreshed = emulator.refresh_sandbox(
                org.name, str(source) if source else None
            )
            return Response.json(refreshed.info())
        if action == "empty-recycle-bin":
            purged = org.empty_recycle_bin(_ids(body))
            return Response.json({"purged": len(purged), "ids": purged})
        ids = _ids(body)
        if not ids:
            raise ValueError('send {"ids": [...]} to undelete')
        restored = org.undelete(ids)
        return Response.json({"undeleted": len(restored), "ids": restored})
    except RecordFailure as failure:
        return Response.json({"error": str(failure), "errorCode": failure.code}, 400)
