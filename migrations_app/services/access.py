"""Who may do what: the checks every view, action and command shares.

Roles are Django groups created by a migration (``viewers``, ``operators``, ``admins``);
these checks read permissions, never group names, so a site may grant the same
permissions in its own way.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, PermissionsMixin

from migrations_app.models import Org

User = AbstractBaseUser | AnonymousUser

LAUNCH_PERMISSION = "migrations_app.launch_run"
QUEUE_ADMIN_PERMISSION = "django_rq.admin"


def can_launch_into(*, user: User, org: Org) -> bool:
    """Whether ``user`` may launch, cancel or resume runs that write into ``org``.

    It takes the launch permission and, when the org is restricted as a target, being
    one of its named users or a member of one of its named groups. Superusers may
    always.
    """
    if not user.is_active or not has_perm(user, LAUNCH_PERMISSION):
        return False
    if getattr(user, "is_superuser", False):
        return True
    return org_target_allows(org=org, user=user)


def org_target_allows(*, org: Org, user: User) -> bool:
    """Whether the org's target restriction, if any, names ``user`` or their group."""
    if org.pk is None:
        return True
    users = org.target_users.all()
    groups = org.target_groups.all()
    if not users.exists() and not groups.exists():
        return True
    if not user.is_authenticated:
        return False
    return users.filter(pk=user.pk).exists() or groups.filter(user__pk=user.pk).exists()


def can_manage_queues(*, user: User) -> bool:
    """Whether ``user`` may see and act on the job queues (django-rq's pages)."""
    return bool(
        user.is_active
        and getattr(user, "is_staff", False)
        and has_perm(user, QUEUE_ADMIN_PERMISSION)
    )


def has_perm(user: User, permission: str) -> bool:
    if isinstance(user, PermissionsMixin | AnonymousUser):
        return bool(user.has_perm(permission))
    return False
