"""Django's admin app, installed with the site of ``migrations_app.admin_site``."""

from django.contrib.admin.apps import AdminConfig


class DataMigratorAdminConfig(AdminConfig):
    default_site = "migrations_app.admin_site.DataMigratorAdminSite"
