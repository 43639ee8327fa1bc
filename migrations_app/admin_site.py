"""The admin site: Django's, with a "view on site" link that cannot fail.

``/admin/r/<content type>/<id>/`` looks up any content type; for one whose model has
no table (django-rq's dashboard) Django's view would fail in the database. Here that
is a 404, like every other object the link cannot show.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.contenttypes import views as contenttype_views
from django.contrib.contenttypes.models import ContentType
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver


class DataMigratorAdminSite(admin.AdminSite):
    site_header = "Data Migrator"
    site_title = "Data Migrator"
    index_title = "Orgs, templates, runs and mappings"

    def get_urls(self) -> list[URLResolver | URLPattern]:
        urls = super().get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern) and pattern.name == "view_on_site":
                pattern.callback = self.admin_view(view_on_site, cacheable=True)
        return urls


def view_on_site(
    request: HttpRequest, content_type_id: str, object_id: str
) -> HttpResponse:
    if not content_type_id.isdigit():
        raise Http404("There is no such object.")
    content_type = ContentType.objects.filter(pk=int(content_type_id)).first()
    model = content_type.model_class() if content_type else None
    if model is None or not model._meta.managed:
        raise Http404("This object has no page.")
    return contenttype_views.shortcut(request, content_type_id, object_id)
