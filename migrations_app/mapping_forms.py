"""Input of the mapping pages: list filters and repair forms. Validation only."""

from __future__ import annotations

from typing import Any

from django import forms

from migrations_app.engine.ids import to_18
from migrations_app.models import MappingStatus, Org, OutdatedReason, Template
from migrations_app.services.mapping_list import MappingFilters


def _id_field(label: str) -> forms.CharField:
    return forms.CharField(label=label, max_length=18, min_length=15, strip=True)


def _clean_id(value: str) -> str:
    record_id = to_18(value)
    if record_id is None:
        raise forms.ValidationError("Enter a 15- or 18-character Salesforce id.")
    return record_id


class MappingFilterForm(forms.Form):
    """The mapping list's filters; an invalid value is ignored, never a 500."""

    source_org = forms.ModelChoiceField(
        queryset=Org.objects.order_by("name"), required=False
    )
    target_org = forms.ModelChoiceField(
        queryset=Org.objects.order_by("name"), required=False
    )
    sobject = forms.CharField(label="Object", max_length=100, required=False)
    status = forms.ChoiceField(
        choices=[("", "any status"), *MappingStatus.choices], required=False
    )
    reason = forms.ChoiceField(
        label="Outdated because",
        choices=[("", "any reason"), *OutdatedReason.choices],
        required=False,
    )
    run = forms.IntegerField(
        label="Run", min_value=1, required=False, help_text="created or last wrote"
    )
    drifted = forms.BooleanField(label="Drifted only", required=False)
    q = forms.CharField(label="Record id", max_length=40, required=False)

    def filters(self) -> MappingFilters:
        if not self.is_valid():
            return MappingFilters(search=(self.data.get("q") or "")[:40])
        data = self.cleaned_data
        return MappingFilters(
            source_org=data["source_org"].pk if data["source_org"] else None,
            target_org=data["target_org"].pk if data["target_org"] else None,
            sobject=data["sobject"].strip(),
            status=data["status"],
            reason=data["reason"],
            run=data["run"],
            drifted=data["drifted"],
            search=data["q"].strip(),
        )


class RelinkForm(forms.Form):
    target_id = _id_field("New target record id")

    def clean_target_id(self) -> str:
        return _clean_id(self.cleaned_data["target_id"])


class DeleteDuplicateForm(forms.Form):
    survivor_id = _id_field("Record to keep")
    confirmation = forms.CharField(
        label="Type the id of the record to delete", max_length=18
    )

    def clean_survivor_id(self) -> str:
        return _clean_id(self.cleaned_data["survivor_id"])


class PreflightForm(forms.Form):
    """The launch form's fields the pre-flight needs."""

    template = forms.ModelChoiceField(queryset=Template.objects.all())
    source_org = forms.ModelChoiceField(queryset=Org.objects.all())
    target_org = forms.ModelChoiceField(queryset=Org.objects.all())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("source_org") and data.get("source_org") == data.get("target_org"):
            raise forms.ValidationError("The source and target org must differ.")
        return data


class AdoptTwinsForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=Template.objects.order_by("name"), help_text="Its match keys"
    )
    sobject = forms.CharField(label="Only object", max_length=100, required=False)


class AuditForm(forms.Form):
    sobject = forms.CharField(label="Only object", max_length=100, required=False)
    template = forms.ModelChoiceField(
        queryset=Template.objects.order_by("name"),
        required=False,
        help_text="Its match keys find duplicates (default: the latest run's).",
    )
