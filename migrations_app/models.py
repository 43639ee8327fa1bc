"""Orgs, templates, runs and the VEID mapping table.

Models hold fields, constraints and single-row invariants only. Everything that writes
across models or talks to Salesforce lives in ``migrations_app.services``.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.utils import timezone

from migrations_app.crypto import decrypt_json, encrypt_json
from migrations_app.engine.strategy import Strategy

SALESFORCE_ID_LENGTH = 18

# Lets check constraints say `source_id__length=18`.
models.CharField.register_lookup(Length)


class OrgEnvironment(models.TextChoices):
    PRODUCTION = "production", "Production"
    SANDBOX = "sandbox", "Sandbox"
    OTHER = "other", "Other"


class AuthMethod(models.TextChoices):
    CLIENT_CREDENTIALS = "client_credentials", "OAuth client credentials"
    WEB_SERVER = "web_server", "OAuth web-server flow (Connect org)"
    JWT_BEARER = "jwt_bearer", "OAuth JWT bearer"
    ACCESS_TOKEN = "access_token", "Access token"


class ConnectionStatus(models.TextChoices):
    NEVER_CHECKED = "never_checked", "Never checked"
    CONNECTED = "connected", "Connected"
    FAILED = "failed", "Failed"


class MissingParentPolicy(models.TextChoices):
    LEAVE_EMPTY = "leave_empty", "Leave the lookup empty and warn"
    FAIL_RECORD = "fail_record", "Fail the record"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"
    # Paused before it would spend an org's last API calls; not a writer, so it does
    # not hold its org pair (the one-writer constraint is on ``running`` only).
    WAITING = "waiting", "Waiting for API allowance"


class InterruptCause(models.TextChoices):
    """Why a run was interrupted; the transient ones are resumed automatically."""

    LEASE_EXPIRED = "lease_expired", "Worker lost (lease expired)"
    RETRY_BUDGET = "retry_budget", "Retry budget spent on transient faults"
    TRANSIENT = "transient", "Transient fault"
    DATABASE = "database", "Database connection lost"
    UNEXPECTED = "unexpected", "Unexpected error"


class MappingStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    OUTDATED = "outdated", "Outdated"


class OutdatedReason(models.TextChoices):
    TARGET_DELETED = "target_deleted", "Target record deleted for good"
    TARGET_IN_RECYCLE_BIN = "target_in_recycle_bin", "Target record in the recycle bin"
    SOURCE_DELETED = "source_deleted", "Source record deleted for good"
    SOURCE_IN_RECYCLE_BIN = "source_in_recycle_bin", "Source record in the recycle bin"
    TARGET_ORG_CHANGED = "target_org_changed", "Target org refreshed or replaced"
    SOURCE_ORG_CHANGED = "source_org_changed", "Source org refreshed or replaced"


class AuditStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class IssueKind(models.TextChoices):
    FAILED = "failed", "Failed"
    AMBIGUOUS = "ambiguous", "Ambiguous match"
    WARNING = "warning", "Warning"


class JournalState(models.TextChoices):
    IN_DOUBT = "in_doubt", "In doubt"
    DONE = "done", "Done"
    RECONCILED = "reconciled", "Reconciled"


class JournalOperation(models.TextChoices):
    INSERT = "insert", "Insert"
    UPDATE = "update", "Update"
    # A rollback's deletes: settled by reading which records still exist.
    DELETE = "delete", "Delete"


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class RunOrderIndex(models.Index):
    """An index on a run column of rows written in run order: a block range index
    (BRIN) on PostgreSQL, a B-tree elsewhere.

    A run writes its rows one after the other, so the rows of a run lie together in
    the table and a BRIN, which keeps the smallest and largest run of each range of
    blocks, finds them. Unlike a B-tree it costs almost nothing per row written,
    and a first run writes a row per record.
    """

    def create_sql(
        self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any
    ) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        _, expressions, options = self.deconstruct()
        # Autovacuum summarizes each range of blocks once it is full, so lookups
        # need not scan the ranges written since the table was last vacuumed.
        brin = BrinIndex(*expressions, **options, autosummarize=True)
        return brin.create_sql(model, schema_editor, **kwargs)


def status_constraint(
    model_name: str, field: str, choices: type[models.TextChoices] | type[Strategy]
) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": choices.values}),
        name=f"{model_name}_{field}_valid",
    )


class Org(TimestampedModel):
    """A Salesforce org the app can log in to."""

    Environment = OrgEnvironment

    AuthMethod = AuthMethod

    ConnectionStatus = ConnectionStatus

    name = models.CharField(max_length=100, unique=True)
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.SANDBOX
    )
    login_url = models.URLField(
        help_text="Login host, e.g. https://login.salesforce.com, "
        "https://test.salesforce.com, a My Domain URL, or the local emulator."
    )
    instance_url = models.URLField(blank=True)
    auth_method = models.CharField(
        max_length=30, choices=AuthMethod.choices, default=AuthMethod.CLIENT_CREDENTIALS
    )
    client_id = models.CharField(max_length=255, blank=True)
    username = models.CharField(
        max_length=255, blank=True, help_text="User the app last connected as."
    )
    # Client secret, tokens and private key, as one Fernet-encrypted JSON document.
    # Never rendered back: the admin excludes it and offers write-only inputs.
    credentials_encrypted = models.TextField(blank=True, editable=False)
    ca_file = models.CharField(
        max_length=500,
        blank=True,
        help_text="PEM file of a private CA to trust (the local emulator's ca_file).",
    )
    organization_id = models.CharField(
        max_length=SALESFORCE_ID_LENGTH,
        blank=True,
        help_text="Salesforce Organization Id (00D...) read at the last connection.",
    )
    api_version = models.CharField(max_length=10, default="59.0")
    connection_status = models.CharField(
        max_length=20,
        choices=ConnectionStatus.choices,
        default=ConnectionStatus.NEVER_CHECKED,
    )
    connection_error = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # Share of the daily API allowance runs leave to the org's other integrations
    # (issue 11, item 2). Lowering it lets a run waiting for calls go on at once.
    api_reserve_percent = models.PositiveSmallIntegerField(
        "API reserve (% of the daily allowance)",
        default=10,
        validators=[MaxValueValidator(90)],
        help_text="Runs pause rather than spend this share of the org's daily API "
        "allowance; lower it to let a waiting run go on now.",
    )
    # The allowance window as runs saw it: when its usage was first seen after the
    # counter started over, and the usage last seen (to notice the next start-over).
    api_window_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    api_used_seen = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # Empty on both means anyone with launch_run may write into this org; otherwise
    # only the users named, and the members of the groups named (issue 9, item 4).
    target_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        verbose_name="only these users may launch runs into it",
    )
    target_groups = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="+",
        verbose_name="only these groups may launch runs into it",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            status_constraint("org", "environment", OrgEnvironment),
            status_constraint("org", "auth_method", AuthMethod),
            status_constraint("org", "connection_status", ConnectionStatus),
            # DESIGN invariant 2: one org, one row. Two rows for one org would keep
            # two mapping tables for the same records, and the second would duplicate.
            models.UniqueConstraint(
                fields=["organization_id"],
                condition=~Q(organization_id=""),
                name="org_one_row_per_organization_id",
                violation_error_message="Another org row already has this "
                "Organization Id.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def credentials(self) -> dict[str, Any]:
        return (
            decrypt_json(self.credentials_encrypted)
            if self.credentials_encrypted
            else {}
        )

    def set_credentials(self, values: dict[str, Any]) -> None:
        """Replace the stored secrets; empty values are dropped."""
        kept = {key: value for key, value in values.items() if value}
        self.credentials_encrypted = encrypt_json(kept) if kept else ""

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_encrypted)


class Template(TimestampedModel):
    """A reusable, ordered set of objects to migrate."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TemplateObject(models.Model):
    """One sObject of a template: what to read, which fields, how to match."""

    MissingParentPolicy = MissingParentPolicy

    template = models.ForeignKey(
        Template, on_delete=models.CASCADE, related_name="template_objects"
    )
    position = models.PositiveIntegerField(default=0)
    sobject = models.CharField("sObject", max_length=100)
    fields = models.JSONField(
        default=list, help_text="API names of the fields to copy."
    )
    filter = models.TextField(
        blank=True, help_text="SOQL WHERE condition, without WHERE."
    )
    match_key = models.JSONField(
        default=list, blank=True, help_text="Fields that identify the same record."
    )
    missing_parent_policy = models.CharField(
        max_length=20,
        choices=MissingParentPolicy.choices,
        default=MissingParentPolicy.LEAVE_EMPTY,
    )
    options = models.JSONField(default=dict, blank=True)
    # What is written instead of a field's source value: {"Email": "mask", "Phone":
    # "empty", "LastName": {"prefix": "T-"}}; a field not listed is kept (issue 14).
    transforms = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["template", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "sobject"], name="templateobject_unique_sobject"
            ),
            status_constraint(
                "templateobject", "missing_parent_policy", MissingParentPolicy
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.name}: {self.sobject}"


class OutcomeCounts(models.Model):
    """What happened to the selected source records, by outcome."""

    selected = models.PositiveIntegerField(default=0)
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    adopted = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    ambiguous = models.PositiveIntegerField(default=0)
    # A rollback's own outcomes (issue 14): records it deleted, records it restored.
    deleted = models.PositiveIntegerField(default=0)
    restored = models.PositiveIntegerField(default=0)

    OUTCOMES = (
        "selected",
        "inserted",
        "updated",
        "adopted",
        "unchanged",
        "failed",
        "ambiguous",
    )

    class Meta:
        abstract = True

    def outcome_counts(self) -> dict[str, int]:
        return {outcome: getattr(self, outcome) for outcome in self.OUTCOMES}


class Run(TimestampedModel, OutcomeCounts):
    """One execution of a template from a source org to a target org."""

    Status = RunStatus

    template = models.ForeignKey(
        Template, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    # The template as it was launched: editing the template later never rewrites it.
    template_snapshot = models.JSONField()
    source_org = models.ForeignKey(
        Org, on_delete=models.PROTECT, related_name="runs_as_source"
    )
    target_org = models.ForeignKey(
        Org, on_delete=models.PROTECT, related_name="runs_as_target"
    )
    strategy = models.CharField(max_length=20, choices=Strategy.choices)
    dry_run = models.BooleanField(default=False)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=30, choices=Status.choices, default=Status.QUEUED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # What the pre-flight found: dropped fields, warnings, blocking problems.
    report = models.JSONField(default=dict, blank=True)
    source_organization_id = models.CharField(
        max_length=SALESFORCE_ID_LENGTH, blank=True
    )
    target_organization_id = models.CharField(
        max_length=SALESFORCE_ID_LENGTH, blank=True
    )
    source_api_calls = models.PositiveIntegerField(default=0)
    target_api_calls = models.PositiveIntegerField(default=0)
    target_api_remaining = models.PositiveIntegerField(null=True, blank=True)
    source_api_remaining = models.PositiveIntegerField(null=True, blank=True)
    # The lease (DESIGN invariant 5): a running run renews it; once it is older than
    # RUN_LEASE_SECONDS the run is taken as dead and interrupted by whoever notices.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # A queued run whose pair another run is writing to waits for that run.
    waiting_for = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # How many times a worker has claimed the run: more than one means it resumed.
    attempts = models.PositiveIntegerField(default=0)
    # Self-healing (issue 11): transient faults retried in place, over all attempts.
    retries_spent = models.PositiveIntegerField(default=0)
    interrupt_cause = models.CharField(
        max_length=20, choices=InterruptCause.choices, blank=True
    )
    auto_resumes = models.PositiveIntegerField(default=0)
    # What the next attempt is: shown in its RunAttempt row ("resumed automatically
    # after ...", "resumed by ...", "API allowance free again").
    resume_note = models.CharField(max_length=300, blank=True)
    # A waiting run: when the allowance should allow it to go on, and what it waits
    # for ({"org_id", "org", "needed", "left", "reserve", "reserve_percent"}).
    resume_at = models.DateTimeField(null=True, blank=True)
    pause = models.JSONField(default=dict, blank=True)
    # A rollback is a run of its own on the same pair, undoing this run (issue 14).
    rollback_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rollbacks",
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [("launch_run", "Can launch, cancel and resume runs")]
        indexes = [
            models.Index(
                fields=["source_org", "target_org", "status"], name="run_pair_status"
            )
        ]
        constraints = [
            status_constraint("run", "status", RunStatus),
            status_constraint("run", "strategy", Strategy),
            models.CheckConstraint(
                condition=~Q(source_org=models.F("target_org")),
                name="run_source_differs_from_target",
            ),
            # DESIGN invariant 4: one writer per org pair, enforced by the database.
            models.UniqueConstraint(
                fields=["source_org", "target_org"],
                condition=Q(status="running", dry_run=False),
                name="run_one_writer_per_org_pair",
                violation_error_message="Another run is already writing to this org pair.",
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} {self.source_org} → {self.target_org}"

    def get_absolute_url(self) -> str:
        """The live run page (the admin's "View on site" link points there)."""
        from django.urls import reverse

        return reverse("migrations_app:run-detail", args=[self.pk])


class RunAttempt(models.Model):
    """One claim of a run by a worker: how it started and how it ended (history)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    # "Launched", "Resumed automatically (1 of 5) after: worker lost", ...
    started_because = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=30, choices=RunStatus.choices, blank=True)
    outcome_note = models.TextField(blank=True)
    retries = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "number"], name="runattempt_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.run_id} attempt {self.number}"


class RunObjectStat(OutcomeCounts):
    """Per-run, per-sObject outcome counts."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="object_stats")
    position = models.PositiveIntegerField(default=0)
    sobject = models.CharField("sObject", max_length=100)
    # Recorded after a Salesforce write: dropped fields, warnings.
    notes = models.JSONField(default=dict, blank=True)
    # Where a resumed run goes on: {"level": n, "after_id": id} of the last page
    # whose every record was recorded; completed_at once the object is done.
    checkpoint = models.JSONField(default=dict, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # How many source records the run selected for this object (its progress bar's
    # end), counted before the first page is read.
    expected = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "sobject"], name="runobjectstat_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.sobject}"


class RecordMapping(TimestampedModel):
    """A VEID row: this source record is that target record, for one org pair."""

    Status = MappingStatus

    # A run writes a mapping row per record, so every index and check on this table
    # is paid once per record. The pair's own indexes are the unique constraints
    # below, which lead with (source_org, target_org): no index of its own per org,
    # and none on created_at, which nothing searches or sorts mappings by.
    created_at = models.DateTimeField(default=timezone.now)
    # The orgs are protected by Django (PROTECT: an org with mappings cannot be
    # deleted), not by database constraints: on PostgreSQL each row's two deferred
    # key checks cost a first run a third of the server's work, at every commit.
    source_org = models.ForeignKey(
        Org,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    target_org = models.ForeignKey(
        Org,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    sobject = models.CharField("sObject", max_length=100)
    source_id = models.CharField(max_length=SALESFORCE_ID_LENGTH)
    target_id = models.CharField(max_length=SALESFORCE_ID_LENGTH)
    # The target's Organization Id when the mapping was written: a sandbox refresh
    # changes it, and mappings into the old org must not be trusted.
    target_organization_id = models.CharField(
        max_length=SALESFORCE_ID_LENGTH, blank=True
    )
    # Which runs wrote the mapping: provenance, not ownership. Runs are never deleted
    # (run history is kept), so no database constraint is checked for them: on
    # PostgreSQL those two checks per row cost a first run as much as the inserts.
    created_by_run = models.ForeignKey(
        Run,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # RunOrderIndex below
        db_constraint=False,
    )
    last_written_by_run = models.ForeignKey(
        Run,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # RunOrderIndex below
        db_constraint=False,
    )
    # Hash of the values last sent, so unchanged records are not sent again.
    values_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    # What made the mapping outdated (outdated_reason_code) and in words, with when.
    outdated_reason = models.TextField(blank=True)
    outdated_reason_code = models.CharField(
        max_length=30, choices=OutdatedReason.choices, blank=True
    )
    outdated_at = models.DateTimeField(null=True, blank=True)
    # The source's Organization Id when the mapping was written (like the target's).
    source_organization_id = models.CharField(
        max_length=SALESFORCE_ID_LENGTH, blank=True
    )
    # When an audit last found both records where the mapping says they are.
    last_verified_at = models.DateTimeField(null=True, blank=True)
    # Drift: someone other than the integration user changed the target record since
    # this app last wrote it. Shown, not outdated: the next update would overwrite it.
    drift_found_at = models.DateTimeField(null=True, blank=True)
    drift_modified_by = models.CharField(max_length=SALESFORCE_ID_LENGTH, blank=True)
    drift_modified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("audit_mappings", "Can run mapping audits"),
            ("repair_mapping", "Can repair mappings"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_org", "target_org", "sobject", "source_id"],
                name="mapping_one_target_per_source_record",
            ),
            models.UniqueConstraint(
                fields=["source_org", "target_org", "target_id"],
                name="mapping_one_source_per_target_record",
            ),
            models.CheckConstraint(
                condition=Q(source_id__length=SALESFORCE_ID_LENGTH)
                & Q(target_id__length=SALESFORCE_ID_LENGTH),
                name="mapping_ids_are_18_characters",
            ),
            status_constraint("recordmapping", "status", MappingStatus),
            models.CheckConstraint(
                condition=Q(outdated_reason_code__in=[*OutdatedReason.values, ""]),
                name="recordmapping_outdated_reason_code_valid",
            ),
        ]
        indexes = [
            # Only the mappings that need attention: a run writes active ones by the
            # thousand, and lists of active mappings read the pair's unique index.
            models.Index(
                fields=["source_org", "target_org", "sobject", "status"],
                name="mapping_pair_object_status",
                condition=~Q(status=MappingStatus.ACTIVE),
            ),
            RunOrderIndex(fields=["created_by_run"], name="mapping_created_by_run"),
            RunOrderIndex(
                fields=["last_written_by_run"], name="mapping_last_written_by_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sobject} {self.source_id} → {self.target_id}"


class RecordIssue(models.Model):
    """A source record that a run could not migrate, or migrated with a warning."""

    Kind = IssueKind

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="issues")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FAILED)
    sobject = models.CharField("sObject", max_length=100)
    source_id = models.CharField(max_length=SALESFORCE_ID_LENGTH, blank=True)
    target_id = models.CharField(max_length=SALESFORCE_ID_LENGTH, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    message = models.TextField()
    fields = models.JSONField(default=list, blank=True)
    # The values sent to the target for a record that failed there (errors.csv).
    values = models.JSONField(default=dict, blank=True)
    # How many records one grouped warning stands for (an unmatched owner, say).
    count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "id"]
        constraints = [status_constraint("recordissue", "kind", IssueKind)]
        indexes = [
            models.Index(fields=["run", "sobject"], name="issue_run_sobject"),
            # A warning already reported for a record is not repeated by later runs.
            models.Index(fields=["sobject", "source_id"], name="issue_sobject_source"),
        ]

    def __str__(self) -> str:
        return f"{self.sobject} {self.source_id}: {self.error_code}"


class RecordAction(models.TextChoices):
    INSERTED = "inserted", "Inserted"
    UPDATED = "updated", "Updated"
    ADOPTED = "adopted", "Adopted"
    # Files (sObject ContentDocument, Attachment, Document): what happened to the content.
    UPLOADED = "uploaded", "Uploaded"
    VERSIONED = "versioned", "New version"
    UNCHANGED = "unchanged", "Unchanged"
    # What a rollback did to a record the rolled-back run wrote.
    DELETED = "deleted", "Deleted"
    RESTORED = "restored", "Restored"


class RecordResult(models.Model):
    """A record a run wrote to the target: one row of its success file.

    Kept apart from the mapping, which later runs overwrite: this is what this run
    did, and stays so.
    """

    Action = RecordAction

    # One row per record written: the run is protected by Django (PROTECT), and runs
    # are never deleted, so no database check is paid per row (as for mappings).
    run = models.ForeignKey(
        Run,
        on_delete=models.PROTECT,
        related_name="results",
        db_index=False,  # RunOrderIndex below
        db_constraint=False,
    )
    sobject = models.CharField("sObject", max_length=100)
    source_id = models.CharField(max_length=SALESFORCE_ID_LENGTH)
    target_id = models.CharField(max_length=SALESFORCE_ID_LENGTH)
    action = models.CharField(max_length=10, choices=Action.choices)

    class Meta:
        ordering = ["run", "id"]
        constraints = [status_constraint("recordresult", "action", RecordAction)]
        indexes = [RunOrderIndex(fields=["run"], name="result_run")]

    def __str__(self) -> str:
        return f"{self.action} {self.sobject} {self.source_id} → {self.target_id}"


class EncodedList(list[Any]):
    """A list that brings its own JSON text, saved as is by ``EncodedListEncoder``."""

    def __init__(self, items: list[Any], json_text: str) -> None:
        super().__init__(items)
        self.json_text = json_text


class EncodedListEncoder(json.JSONEncoder):
    """Writes an ``EncodedList`` as the text it brings, anything else as usual.

    A journal entry holds the values of up to 200 records that were already encoded
    once, to be hashed: its text is put together from those encodings rather than
    encoding every record a second time while the run waits.
    """

    def encode(self, o: Any) -> str:
        if isinstance(o, EncodedList):
            return o.json_text
        return super().encode(o)


class JSONTextField(models.JSONField):
    """JSON kept as the text it was encoded to, on every database.

    A journal entry's tens of kilobytes are written while the calls wait to be sent,
    and read only to reconcile or roll back. As ``jsonb``, PostgreSQL would parse each
    entry into its binary form on the way in; SQLite's JSONField checks each with
    ``json_valid()``. Nothing queries inside the JSON, so it is stored as text.
    """

    def get_internal_type(self) -> str:
        return "TextField"

    def get_db_prep_value(
        self, value: Any, connection: Any, prepared: bool = False
    ) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        return json.dumps(value, cls=self.encoder)


class WriteJournal(TimestampedModel):
    """A batch of target writes in flight (DESIGN invariant 3).

    Committed before the batch is sent; settled after the response is recorded. An
    entry still ``in_doubt`` when a run resumes is reconciled against the target before
    anything is inserted again.
    """

    State = JournalState

    Operation = JournalOperation

    # PROTECT: crash recovery needs the entries of an interrupted run (invariant 11).
    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="journal")
    sobject = models.CharField("sObject", max_length=100)
    operation = models.CharField(max_length=10, choices=Operation.choices)
    # [{"source_id": ..., "values": {field: value}}] for each record sent.
    entries = JSONTextField(default=list, encoder=EncodedListEncoder)
    bulk_job_id = models.CharField(max_length=SALESFORCE_ID_LENGTH, blank=True)
    state = models.CharField(
        max_length=20, choices=State.choices, default=State.IN_DOUBT
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            status_constraint("writejournal", "state", JournalState),
            status_constraint("writejournal", "operation", JournalOperation),
        ]
        indexes = [models.Index(fields=["run", "state"], name="journal_run_state")]

    def __str__(self) -> str:
        return f"{self.operation} {self.sobject} ({self.state})"


class AuditEvent(models.Model):
    """Who did what to orgs, runs and mappings outside of a run's own writes."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    action = models.CharField(max_length=100)
    org = models.ForeignKey(Org, on_delete=models.SET_NULL, null=True, blank=True)
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"


class MappingAudit(TimestampedModel):
    """One audit of an org pair's mappings (all objects, or one), run by an RQ job.

    ``results`` has the shape `audit_mappings --json` prints; ``duplicate_groups`` the
    groups of target records sharing a match key, per object, for the dashboard.
    """

    Status = AuditStatus

    source_org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    target_org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    sobject = models.CharField(
        "sObject", max_length=100, blank=True, help_text="Empty: every mapped object."
    )
    template = models.ForeignKey(
        Template, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=200, blank=True)
    results = models.JSONField(default=dict, blank=True)
    duplicate_groups = models.JSONField(default=dict, blank=True)
    # How each object was checked: replication resources or mapped ids in bulk.
    methods = models.JSONField(default=dict, blank=True)
    source_api_calls = models.PositiveIntegerField(default=0)
    target_api_calls = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            status_constraint("mappingaudit", "status", AuditStatus),
            # One audit at a time per org pair: a second click joins the first.
            models.UniqueConstraint(
                fields=["source_org", "target_org"],
                condition=Q(status__in=["queued", "running"]),
                name="mappingaudit_one_active_per_pair",
            ),
        ]
        indexes = [
            models.Index(
                fields=["source_org", "target_org", "status"],
                name="mappingaudit_pair_status",
            )
        ]

    def __str__(self) -> str:
        return f"Audit {self.pk} {self.source_org} → {self.target_org}"

    @property
    def is_done(self) -> bool:
        return self.status in (AuditStatus.SUCCEEDED, AuditStatus.FAILED)


class BeforeImage(models.Model):
    """The target values one chunk of a run's updates replaced, kept for a rollback.

    Written (compressed) before the chunk is sent; the run's RecordResults say which
    records the update reached. ``data`` is zlib-compressed JSON:
    ``{target_id: {"before": {field: value}, "after": {field: value}}}``.
    """

    # PROTECT: a run whose before-images are kept cannot vanish under its rollback.
    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="before_images")
    sobject = models.CharField("sObject", max_length=100)
    data = models.BinaryField()
    records = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["run", "id"]
        indexes = [
            models.Index(fields=["run", "sobject"], name="beforeimage_run_sobject")
        ]

    def __str__(self) -> str:
        return f"Run {self.run_id} {self.sobject}: {self.records} before-images"


class ScheduleKind(models.TextChoices):
    RUN = "run", "Migration run"
    AUDIT = "audit", "Mapping audit"


class Schedule(TimestampedModel):
    """A template on an org pair (or the pair's mapping audit) launched on a schedule.

    The database holds the truth (``next_launch_at``); RQ's scheduler holds one job
    for that instant, registered again if Redis lost it.
    """

    Kind = ScheduleKind

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.RUN)
    template = models.ForeignKey(
        Template, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source_org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    target_org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    strategy = models.CharField(
        max_length=20, choices=Strategy.choices, default=Strategy.VEID_MATCH
    )
    options = models.JSONField(default=dict, blank=True)
    cron = models.CharField(
        "cron expression",
        max_length=100,
        blank=True,
        help_text="Five fields, in UTC: minute hour day month weekday, "
        "e.g. 0 2 * * 1-5.",
    )
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Or launch every this many seconds."
    )
    enabled = models.BooleanField(default=True)
    next_launch_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            status_constraint("schedule", "kind", ScheduleKind),
            status_constraint("schedule", "strategy", Strategy),
            models.CheckConstraint(
                condition=(Q(cron="") & Q(interval_seconds__isnull=False))
                | (~Q(cron="") & Q(interval_seconds__isnull=True)),
                name="schedule_cron_or_interval",
            ),
            models.CheckConstraint(
                condition=~Q(source_org=models.F("target_org")),
                name="schedule_source_differs_from_target",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def timing(self) -> str:
        if self.cron:
            return f"cron {self.cron} (UTC)"
        return f"every {self.interval_seconds} s"


class ScheduleOutcome(models.TextChoices):
    LAUNCHED = "launched", "Launched"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed to launch"


class ScheduleLaunch(models.Model):
    """One planned launch of a schedule: what it launched, or why it did not."""

    Outcome = ScheduleOutcome

    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="launches"
    )
    planned_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    run = models.ForeignKey(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    audit = models.ForeignKey(
        MappingAudit, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-planned_at"]
        constraints = [
            status_constraint("schedulelaunch", "outcome", ScheduleOutcome),
            # A job run twice for one instant launches once.
            models.UniqueConstraint(
                fields=["schedule", "planned_at"], name="schedulelaunch_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule} at {self.planned_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"
