"""Everything `make run` registers so a new user can run a first migration at once."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from migrations_app.models import Org, Template
from migrations_app.services.orgs import org_add
from migrations_app.services.templates import template_import

DEMO_TEMPLATE = (
    Path(__file__).resolve().parent.parent / "fixtures" / "demo_template.json"
)
ADMIN_USERNAME = "admin"


def demo_admin_password() -> str:
    """The demo admin's password: generated once, kept in var/, set on every start."""
    path = Path(settings.VAR_DIR) / "demo-admin-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    password = path.read_text().strip()
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is None:
        User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", password)
    elif not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return password


def demo_register_orgs(*, org_infos: list[dict[str, Any]]) -> list[Org]:
    """Register (or refresh) one Org per emulated org, through the real login flow."""
    return [
        org_add(
            name=info["org"],
            login_url=info["login_url"],
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            ca_file=info["ca_file"],
            environment=Org.Environment.OTHER,
        )
        for info in org_infos
    ]


def demo_template() -> Template:
    data = json.loads(DEMO_TEMPLATE.read_text())
    existing = Template.objects.filter(name=data["name"]).first()
    return existing or template_import(data=data)
