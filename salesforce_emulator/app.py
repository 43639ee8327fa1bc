"""Top-level request dispatch: data API (auth, faults, counting), OAuth, control endpoint.

Control endpoint (JSON, no authentication; the server listens on loopback):

``GET  /__emulator__/orgs``                     info of every org
``POST /__emulator__/orgs``                     ``{"name": "x"}`` adds an org
``GET  /__emulator__/orgs/<name>``              info + faults + api_calls
``GET  /__emulator__/orgs/<name>/faults``       current faults
``POST /__emulator__/orgs/<name>/faults``       change faults (keys: see ``faults.py``),
                                                e.g. ``{"latency_ms": 200}``,
                                                ``{"expire_tokens": true}``
``POST /__emulator__/orgs/<name>/jwt-keys``     ``{"pem": "-----BEGIN CERTIFICATE..."}``
``POST /__emulator__/orgs/<name>/reset``        delete data (users stay), reset faults
``GET  /__emulator__/orgs/<name>/write-log``    the org's write calls (``write_log.py``);
                                                POST ``{"clear": true}`` empties it

Clock, recycle bin and sandbox actions are listed in ``control.py``.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from salesforce_emulator import bulk_v1, control, oauth, resources, rest, soap
from salesforce_emulator.errors import ApiError, RecordFailure
from salesforce_emulator.org import Org
from salesforce_emulator.transport import Request, Response

if TYPE_CHECKING:
    from salesforce_emulator.emulator import Emulator

_VERSION = re.compile(r"v(\d{1,3}\.\d)\Z")
INVALID_SESSION = [
    {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
]


class App:
    """Callable request handler shared by all connections."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.router = rest.build_router()

    def __call__(self, request: Request) -> Response:
        segments = request.raw_segments
        if segments[:2] == ["services", "data"]:
            return self._data(request)
        if segments[:2] == ["services", "Soap"]:
            return soap.handle(self.emulator, request)
        if segments[:2] == ["services", "async"]:
            return bulk_v1.handle(self.emulator, request)
        if segments[:2] == ["services", "oauth2"] or segments[:1] == ["id"]:
            return oauth.handle(self.emulator, request)
        if segments[:1] == ["__emulator__"] and self.emulator.control:
            return self._control(request, request.segments[1:])
        return Response.error(
            ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        )

    # -- data API ---------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Org | None:
        token = request.bearer() or ""
        org = self.emulator.org_by_token(token)
        user_id = org.tokens.user_for(token) if org is not None else None
        if org is None or user_id is None:
            return None
        request.org, request.user_id = org, user_id
        return org

    def _data(self, request: Request) -> Response:
        raw = request.raw_segments
        if len(raw) == 2:
            return Response.json(rest.api_versions())
        match = _VERSION.match(raw[2])
        # A version GET /services/data/ does not list is not served, as in real orgs.
        if match is None or not resources.is_served(match.group(1)):
            return Response.error(
                ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            )
        request.version = match.group(1)
        org = self._authenticate(request)
        if org is None:
            return Response.json(INVALID_SESSION, 401)
        faults = org.faults
        latency = faults.draw_latency()
        if latency:
            time.sleep(latency)
        failure = faults.draw_failure()
        if failure == "drop":
            return Response.dropped()
        if failure == "503":
            return Response.json(
                [
                    {
                        "errorCode": "SERVER_UNAVAILABLE",
                        "message": "Server temporarily unavailable",
                    }
                ],
                503,
            )
        started = time.time()
        response = self._counted(request, org)
        if request.wrote:
            org.write_log.record(request, started=started, applied=time.time())
        response.headers.append(("Sforce-Limit-Info", org.limit_info()))
        if request.wrote and faults.count_write():
            if faults.fail_mode == "exit":
                return Response(0, exit_process=True)
            return Response.dropped()
        return response

    def _counted(self, request: Request, org: Org) -> Response:
        if not org.count_api_call():
            return Response.error(
                ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            )
        try:
            return self.router.dispatch(
                request, request.segments[3:], request.raw_segments[3:]
            )
        except ApiError as error:
            return Response.error(error)
        except RecordFailure as failure:
            return Response.error(ApiError.from_failure(failure))

    # -- control endpoint ------------------------------------------------------------------

    def _control(self, request: Request, segments: list[str]) -> Response:
        try:
            return self._control_route(request, segments)
        except (ValueError, KeyError, TypeError) as exc:
            return Response.json({"error": str(exc)}, 400)
        except ApiError as error:
            return Response.json({"error": error.message}, error.status)

    def _control_route(self, request: Request, segments: list[str]) -> Response:
        emulator = self.emulator
        if segments == ["clock"]:
            return control.clock(emulator, request)
        if segments == ["orgs"]:
            if request.method == "POST":
                org = control.create_org(emulator, _json_body(request))
                return Response.json(org.info(), 201)
            return Response.json([org.info() for org in emulator.all_orgs()])
        if (
            len(segments) < 2
            or segments[0] != "orgs"
            or segments[1] not in emulator.orgs
        ):
            return Response.json({"error": "no such org"}, 404)
        org = emulator.orgs[segments[1]]
        action = segments[2] if len(segments) > 2 else ""
        if action == "" and request.method == "GET":
            return Response.json(
                {
                    **org.info(),
                    "faults": org.faults.as_dict(),
                    "api_calls": org.api_calls,
                }
            )
        if action == "faults":
            if request.method == "POST":
                org.faults.update(**_json_body(request))
            return Response.json(org.faults.as_dict())
        if action == "write-log":
            if request.method == "POST" and _json_body(request).get("clear"):
                org.write_log.clear()
            return Response.json(org.write_log.as_dicts())
        if action == "jwt-keys" and request.method == "POST":
            org.register_jwt_key(str(_json_body(request)["pem"]))
            return Response.json({"jwt_keys": len(org.jwt_keys)})
        if action == "reset" and request.method == "POST":
            org.reset_data()
            return Response.json({"reset": True})
        if action in control.ORG_ACTIONS and request.method == "POST":
            return control.org_action(emulator, org, action, request)
        return Response.json({"error": "unknown control action"}, 404)


def _json_body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body
