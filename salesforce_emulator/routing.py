"""A tiny path router: segment patterns with ``{name}`` placeholders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from salesforce_emulator.errors import ApiError, not_found
from salesforce_emulator.transport import Request, Response

RouteHandler = Callable[..., Response]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[tuple[str, ...], dict[str, RouteHandler]]] = []

    def add(self, pattern: str, **methods: RouteHandler) -> None:
        """``add("sobjects/{sobject}", GET=..., POST=...)``; first match wins."""
        parts = tuple(p for p in pattern.split("/") if p)
        self._routes.append((parts, {m.upper(): h for m, h in methods.items()}))

    def dispatch(
        self, request: Request, segments: Sequence[str], raw: Sequence[str]
    ) -> Response:
        for parts, methods in self._routes:
            params = _match(parts, segments, raw)
            if params is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                allowed = ",".join(sorted(methods))
                raise ApiError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{request.method}' not allowed. Allowed are "
                    f"{allowed}",
                )
            return handler(request, **params)
        raise not_found()


def _match(
    parts: tuple[str, ...], segments: Sequence[str], raw: Sequence[str]
) -> dict[str, Any] | None:
    if len(parts) != len(segments):
        return None
    params: dict[str, Any] = {}
    for part, segment, raw_segment in zip(parts, segments, raw, strict=True):
        if part.startswith("{"):
            name = part[1:-1]
            params[name] = segment
            params[f"{name}_raw"] = raw_segment
        elif part.lower() != segment.lower():
            return None
    return params
