"""Roles, per-org target restriction, one row per org, journal entries outlive runs.

The three roles are Django groups. Their permissions are listed here, frozen, rather
than imported from the app: a migration must mean the same thing forever.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

APP = "migrations_app"

VIEWER_PERMISSIONS = [
    (APP, "view_org"),
    (APP, "view_template"),
    (APP, "view_templateobject"),
    (APP, "view_run"),
    (APP, "view_runobjectstat"),
    (APP, "view_recordmapping"),
    (APP, "view_recordissue"),
    (APP, "view_writejournal"),
    (APP, "view_recordresult"),
]
OPERATOR_PERMISSIONS = [
    *VIEWER_PERMISSIONS,
    (APP, "launch_run"),
    (APP, "audit_mappings"),
]
ADMIN_PERMISSIONS = [
    *OPERATOR_PERMISSIONS,
    *[
        (APP, f"{action}_{model}")
        for model in ("org", "template", "templateobject")
        for action in ("add", "change", "delete")
    ],
    (APP, "repair_mapping"),
    (APP, "view_auditevent"),
    ("django_rq", "admin"),
]
ROLES = {
    "viewers": VIEWER_PERMISSIONS,
    "operators": OPERATOR_PERMISSIONS,
    "admins": ADMIN_PERMISSIONS,
}


def _ensure_permissions(apps):
    """Permissions are normally created after all migrations; the roles need them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def create_roles(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in wanted:
            group.permissions.add(
                Permission.objects.get(
                    content_type__app_label=app_label, codename=codename
                )
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


def unlink_duplicate_org_rows(apps, schema_editor):
    """Before one row per org is enforced, later rows of one org forget its id.

    The oldest row keeps the Organization Id; the others must be connected again,
    which then names the row that already holds that org.
    """
    Org = apps.get_model(APP, "Org")
    seen = set()
    for org in Org.objects.exclude(organization_id="").order_by("created_at", "pk"):
        if org.organization_id in seen:
            Org.objects.filter(pk=org.pk).update(
                organization_id="",
                connection_status="never_checked",
                connection_error=(
                    f"Another org row is already org {org.organization_id}; "
                    "connect this one to a different org or delete it."
                ),
            )
        seen.add(org.organization_id)


class Migration(migrations.Migration):
    dependencies = [
        (APP, "0002_run_dashboard"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_rq", "0003_alter_dashboard_permission_names"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="org",
            name="target_groups",
            field=models.ManyToManyField(
                blank=True,
                related_name="+",
                to="auth.group",
                verbose_name="only these groups may launch runs into it",
            ),
        ),
        migrations.AddField(
            model_name="org",
            name="target_users",
            field=models.ManyToManyField(
                blank=True,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="only these users may launch runs into it",
            ),
        ),
        migrations.AlterField(
            model_name="writejournal",
            name="run",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="journal",
                to="migrations_app.run",
            ),
        ),
        migrations.RunPython(unlink_duplicate_org_rows, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="org",
            constraint=models.UniqueConstraint(
                condition=models.Q(("organization_id", ""), _negated=True),
                fields=("organization_id",),
                name="org_one_row_per_organization_id",
                violation_error_message="Another org row already has this Organization Id.",
            ),
        ),
        migrations.RunPython(create_roles, remove_roles),
    ]
