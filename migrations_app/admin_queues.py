"""django-rq's queue pages in the admin, for admins only, and calm when Redis is down.

django-rq lets any staff user see and empty the queues. Here every queue page takes
``can_manage_queues`` (the admins role, or a superuser), and a Redis that cannot be
reached is a 503 page saying so rather than an error page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django_rq import admin as rq_admin
from django_rq import models as rq_models
from django_rq import stats_views
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError

from migrations_app.services.access import can_manage_queues

View = Callable[..., HttpResponse]


class QueueAdmin(rq_admin.QueueAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_manage_queues(user=request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage_queues(user=request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage_queues(user=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        """django-rq's pages, each behind the admin login and ``can_manage_queues``.

        The model's own add, change and delete pages are left out: the model has no
        table, so they could only fail.
        """
        api = get_api_urlpatterns(name_prefix="django_rq_")
        for pattern in api:
            pattern.callback = self._guard(pattern.callback)
        pages = get_admin_urlpatterns(
            name_prefix="django_rq_", view_wrapper=self._guard
        )
        info = (self.opts.app_label, self.opts.model_name)
        index = path(
            "",
            self._guard(stats_views.stats),
            name="{}_{}_changelist".format(*info),
        )
        return [*api, *pages, index]

    def _guard(self, view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            request.current_app = self.admin_site.name
            if not can_manage_queues(user=request.user):
                raise PermissionDenied
            try:
                return view(request, *args, **kwargs)
            except RedisError:
                return self._redis_down(request)
            except (LookupError, ValueError, NoSuchJobError, ImproperlyConfigured):
                # django-rq fails this way on a queue, job, worker or scheduler
                # that does not exist (or no longer does), and on the scheduler
                # pages without rq-scheduler.
                raise Http404("There is no such queue, job or worker.") from None

        return self.admin_site.admin_view(guarded)

    def _redis_down(self, request: HttpRequest) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Job queues unavailable",
        }
        return TemplateResponse(
            request,
            "admin/migrations_app/queues_unavailable.html",
            context,
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )


if admin.site.is_registered(rq_models.Dashboard):
    admin.site.unregister(rq_models.Dashboard)
admin.site.register(rq_models.Dashboard, QueueAdmin)
