"""Forms of the schedules pages and the launch form's seeding notes (issue 14)."""

from __future__ import annotations

from typing import Any

from django import forms

from migrations_app.forms import OrgChoiceField, production_confirmation
from migrations_app.models import Org, Schedule, Strategy, Template
from migrations_app.services.access import can_launch_into
from migrations_app.services.runs import run_launch_problems
from migrations_app.services.schedules import schedule_problems

# Shortest interval a user may ask for: more often is a loop, not a schedule. (The
# service itself takes any, which the tests' fast schedules use.)
MIN_INTERVAL_SECONDS = 60


class SeedingNotesForm(forms.Form):
    """The launch form's choices, as its seeding-notes fragment receives them."""

    template = forms.ModelChoiceField(queryset=Template.objects.all())
    source_org = forms.ModelChoiceField(queryset=Org.objects.all())
    target_org = forms.ModelChoiceField(queryset=Org.objects.all())
    strategy = forms.ChoiceField(choices=Strategy.choices, required=False)


def schedule_data_problems(data: dict[str, Any]) -> dict[str, str]:
    """The service's checks of a schedule form's cleaned data (dashboard and admin),
    by field, so that bad timing is a form error rather than a failed save."""
    problems = schedule_problems(
        cron=" ".join((data.get("cron") or "").split()),
        interval_seconds=data.get("interval_seconds"),
        kind=data.get("kind") or "",
        has_template=data.get("template") is not None,
    )
    interval = data.get("interval_seconds")
    if interval is not None and interval < MIN_INTERVAL_SECONDS:
        problems.setdefault(
            "interval_seconds",
            f"At least {MIN_INTERVAL_SECONDS} seconds between launches.",
        )
    return problems


class ScheduleForm(forms.ModelForm[Schedule]):
    source_org = OrgChoiceField(queryset=Org.objects.order_by("name"))
    target_org = OrgChoiceField(queryset=Org.objects.order_by("name"))
    full = forms.BooleanField(
        required=False,
        label="Full runs",
        help_text="Read every selected source record on each run. By default a run "
        "reads only records changed since the pair's last successful run of the "
        "template.",
    )
    confirm_target = production_confirmation()

    class Meta:
        model = Schedule
        fields = (
            "name",
            "kind",
            "template",
            "source_org",
            "target_org",
            "strategy",
            "cron",
            "interval_seconds",
            "enabled",
        )
        widgets = {"kind": forms.RadioSelect, "strategy": forms.RadioSelect}

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["template"].required = False
        self.fields["template"].queryset = Template.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["interval_seconds"].widget.attrs["min"] = MIN_INTERVAL_SECONDS
        options = (
            self.instance.options if isinstance(self.instance.options, dict) else {}
        )
        self.fields["full"].initial = bool(options.get("full"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for field, message in schedule_data_problems(data).items():
            self.add_error(field, message)
        if data.get("kind") == Schedule.Kind.AUDIT:
            self._check_audit_rights(data)
        if (
            self.errors
            or data.get("kind") != Schedule.Kind.RUN
            or not data.get("template")
        ):
            return data
        problems = run_launch_problems(
            template=data["template"],
            source_org=data["source_org"],
            target_org=data["target_org"],
            user=self.user,
            confirmation=data.get("confirm_target", ""),
        )
        for field, message in problems.items():
            self.add_error(field if field in self.fields else None, message)
        return data

    def _check_audit_rights(self, data: dict[str, Any]) -> None:
        """A scheduled audit asks what launching one from the pair's page asks, and
        its schedule is the user's to edit later (a target they may launch into)."""
        if self.user is None:
            return
        if not self.user.has_perm("migrations_app.audit_mappings"):
            self.add_error("kind", "You may not run mapping audits.")
        target = data.get("target_org")
        if target is not None and not can_launch_into(user=self.user, org=target):
            self.add_error(
                "target_org", f"You may not launch runs that write into {target.name}."
            )

    def save(self, commit: bool = True) -> Schedule:
        schedule = super().save(commit=False)
        schedule.options = {
            **(schedule.options or {}),
            "full": self.cleaned_data.get("full", False),
        }
        return schedule
