"""Keep NUL characters away from forms and queries.

No field of the app accepts one, PostgreSQL cannot store one in text, and an admin
lookup holding one fails deep inside the database driver.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict

NUL = "\x00"


class RefuseNulCharactersMiddleware:
    """Drop NUL characters from query strings; answer 400 to a form holding one.

    A query string only filters and searches, so a NUL there is dropped and the page
    shows what the rest asks for. A submitted form with a NUL is refused.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path:
            return _refuse()
        if _has_nul(request.GET):
            request.GET = _without_nul(request.GET)  # type: ignore[assignment]
        if request.method == "POST" and _has_nul(request.POST):
            return _refuse()
        return self.get_response(request)


def _has_nul(data: QueryDict) -> bool:
    return any(
        NUL in key or any(NUL in value for value in values)
        for key, values in data.lists()
    )


def _without_nul(data: QueryDict) -> QueryDict:
    cleaned = QueryDict(mutable=True)
    for key, values in data.lists():
        cleaned.setlist(key.replace(NUL, ""), [v.replace(NUL, "") for v in values])
    cleaned._mutable = False
    return cleaned


def _refuse() -> HttpResponse:
    return HttpResponseBadRequest(
        "The form holds a NUL character, which no field accepts.",
        content_type="text/plain; charset=utf-8",
    )
