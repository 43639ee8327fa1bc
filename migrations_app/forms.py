"""Dashboard forms: parse and normalise input; the rules live in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from migrations_app.models import IssueKind, Org, Run, Strategy, Template
from migrations_app.services.runs import run_launch_problems

STRATEGY_HELP = {
    Strategy.NONE: "Insert every selected record; keeps no mappings (a one-off copy).",
    Strategy.VEID: "Insert records never migrated before and update the ones already "
    "mapped, through the mapping table.",
    Strategy.VEID_MATCH: "Like VEID, but a record that already exists in the target "
    "(same match key) is adopted instead of inserted again.",
}


class OrgChoiceField(forms.ModelChoiceField[Org]):
    def label_from_instance(self, obj: Org) -> str:
        return f"{obj.name} ({obj.get_environment_display().lower()})"


def production_confirmation() -> forms.CharField:
    """Where a user types the target org's name to write into a production org."""
    return forms.CharField(
        required=False,
        max_length=100,
        label="Production confirmation",
        help_text="Only for a production target: type the target org's name.",
    )


class RunLaunchForm(forms.Form):
    template = forms.ModelChoiceField(queryset=Template.objects.order_by("name"))
    source_org = OrgChoiceField(queryset=Org.objects.order_by("name"))
    target_org = OrgChoiceField(queryset=Org.objects.order_by("name"))
    strategy = forms.ChoiceField(
        choices=[
            (value, f"{value}: {STRATEGY_HELP[Strategy(value)]}")
            for value in Strategy.values
        ],
        initial=Strategy.VEID_MATCH,
        widget=forms.RadioSelect,
    )
    full = forms.BooleanField(
        required=False,
        label="Full run",
        help_text="Read every selected source record. Without it, a repeat run reads "
        "only records changed since this pair's last successful run of the same "
        "template (everything when the template changed or that run is over 30 days "
        "old).",
    )
    resend_unchanged = forms.BooleanField(
        required=False,
        help_text="Send records even when their values did not change since the "
        "last run.",
    )
    fallback_owner = forms.CharField(
        required=False,
        max_length=255,
        help_text="Target username or email that owns records whose owner has no "
        "match in the target.",
    )
    confirm_target = production_confirmation()
    # Issue 14: the values updates replace, kept so that the run can be rolled back.
    keep_before_images = forms.ChoiceField(
        choices=[
            ("", "default: only for a production target"),
            ("yes", "keep them"),
            ("no", "do not keep them"),
        ],
        required=False,
        label="Before-images for a rollback",
        help_text="The target values this run's updates replace, kept "
        "(compressed, for a limited time) so that the run can be rolled back.",
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        problems = run_launch_problems(
            template=data["template"],
            source_org=data["source_org"],
            target_org=data["target_org"],
            user=self.user,
            confirmation=data.get("confirm_target", ""),
            dry_run=self.is_dry_run,
        )
        if problems:
            raise ValidationError(dict(problems))
        return data

    @property
    def is_dry_run(self) -> bool:
        return "dry_run" in self.data

    def launch_arguments(self) -> dict[str, Any]:
        """What run_launch takes, from the cleaned form."""
        data = self.cleaned_data
        return {
            "template": data["template"],
            "source_org": data["source_org"],
            "target_org": data["target_org"],
            "strategy": data["strategy"],
            "dry_run": self.is_dry_run,
            "options": {
                "full": data["full"],
                "only_changed": not data["resend_unchanged"],
                "fallback_owner": data["fallback_owner"].strip(),
                **(
                    {"keep_before_images": data["keep_before_images"] == "yes"}
                    if data.get("keep_before_images")
                    else {}
                ),
            },
        }


class RunFilterForm(forms.Form):
    """The runs list's filters; an invalid value is ignored, never a 500."""

    source_org = forms.ModelChoiceField(
        queryset=Org.objects.order_by("name"), required=False
    )
    target_org = forms.ModelChoiceField(
        queryset=Org.objects.order_by("name"), required=False
    )
    template = forms.ModelChoiceField(
        queryset=Template.objects.order_by("name"), required=False
    )
    status = forms.ChoiceField(
        choices=[("", "any status"), *Run.Status.choices], required=False
    )
    since = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "source_org": data["source_org"].pk if data["source_org"] else None,
            "target_org": data["target_org"].pk if data["target_org"] else None,
            "template": data["template"].pk if data["template"] else None,
            "status": data["status"] or None,
            "since": data["since"],
            "until": data["until"],
        }


class IssueFilterForm(forms.Form):
    sobject = forms.CharField(required=False, max_length=100, label="Object")
    kind = forms.ChoiceField(
        choices=[("", "any kind"), *IssueKind.choices], required=False
    )
    error_code = forms.CharField(required=False, max_length=100, label="Error code")
    search = forms.CharField(required=False, max_length=100, label="Id or text")

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {}
        return {name: value.strip() for name, value in self.cleaned_data.items()}
