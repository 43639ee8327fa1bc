"""The admin site: Django's, with a "view on site" link that cannot fail.

``/admin/r/<content type>/<id>/`` looks up any content type; for one whose model has
no table (django-rq's dashboard) Django's view fails in the database. Here that is a
404, like every other object the link cannot show.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.contenttypes import views as contenttype_views
from django.db import DatabaseError
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
    try:
        return contenttype_views.shortcut(request, content_type_id, object_id)
    except DatabaseError:
        raise Http404("This object has no page.") from None
