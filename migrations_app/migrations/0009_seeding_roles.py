"""Schedules and before-images (0008) in the admin: the admins role manages schedules
and reads before-images (the dashboard's schedule pages take view_run/launch_run)."""

from django.db import migrations

APP = "migrations_app"
ADMINS = "admins"
CODENAMES = ("view_schedule", "add_schedule", "change_schedule", "view_beforeimage")


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(
        content_type__app_label=APP, codename__in=CODENAMES
    )
    for group in Group.objects.filter(name=ADMINS):
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(
        content_type__app_label=APP, codename__in=CODENAMES
    )
    for group in Group.objects.filter(name=ADMINS):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [(APP, "0008_seeding")]

    operations = [migrations.RunPython(grant, revoke)]
