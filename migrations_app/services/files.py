"""Files and attachments that follow their records (template option ``include_files``),
and Documents (template object ``Document``).

After an object's records are migrated, the files linked to them (ContentDocument,
through ContentDocumentLink) and their attachments (Attachment.ParentId) are copied
with their content. A template object ``Document`` is copied here, not by the record
path: each selected Document with its Body, into the target folder of the same
DeveloperName (or Name), or the mapped user's personal folder. The engine
(engine/files.py) decides per file; this module reads, transfers and records:

- content streams from the source (``/sobjects/ContentVersion/{id}/VersionData``) to
  the target: base64 in JSON up to FILES_INLINE_MAX_BYTES, a streamed multipart body
  above, so memory stays bounded whatever the size; a file over FILES_MAX_BYTES fails
  alone with an issue;
- a document maps to a target document (sObject "ContentDocument" in the mapping
  table, the content's MD5 as its values hash): unchanged content is not sent again,
  changed content becomes a new version of the mapped document;
- links are recreated through the mapping table with their ShareType and Visibility;
  a link to a record outside the run follows the object's missing-parent policy;
- attachments and documents map like records (sObject "Attachment", "Document"),
  their size and SystemModstamp as their values hash: an unchanged one is not sent
  again, a changed one is updated in place; a document over 5 MB, or whose folder the
  target lacks, fails alone with an issue.

Idempotency: a new document is journaled before it is sent, so a crash in between is
reconciled like any insert; a version or a link already in the target is recognised
(by checksum, by document and record) and not sent twice.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from migrations_app.engine import soql
from migrations_app.engine.files import (
    DOCUMENT_MAX_BYTES,
    DOCUMENT_OBJECT,
    DOCUMENT_READ_FIELDS,
    FILE_OBJECT,
    FileAction,
    FileDecision,
    FileLimits,
    SourceDocument,
    SourceFile,
    SourceLink,
    body_stamp,
    decide_body,
    decide_file,
    document_too_large_message,
    document_values,
    folder_missing_message,
    map_folders,
    plan_links,
    target_folder,
    too_large_message,
)
from migrations_app.engine.planning import ObjectPlan
from migrations_app.engine.strategy import Strategy
from migrations_app.models import (
    IssueKind,
    MissingParentPolicy,
    RecordIssue,
    RecordMapping,
    RecordResult,
    RunObjectStat,
    WriteJournal,
)
from migrations_app.salesforce.blobs import (
    blob_chunks,
    insert_inline,
    insert_multipart,
)
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services.context import RunContext, chunked
from migrations_app.services.journal import journal_close
from migrations_app.services.rows import mappings_insert

logger = logging.getLogger(__name__)

ATTACHMENT_OBJECT = "Attachment"
ID_BATCH = 200
LINK_FIELDS = ["ContentDocumentId", "LinkedEntityId", "ShareType", "Visibility"]
VERSION_FIELDS = [
    "Id",
    "ContentDocumentId",
    "Title",
    "PathOnClient",
    "Checksum",
    "ContentSize",
    "Description",
    "VersionData",
]
ATTACHMENT_FIELDS = [
    "Id",
    "ParentId",
    "Name",
    "ContentType",
    "Description",
    "IsPrivate",
    "BodyLength",
    "Body",
    "SystemModstamp",
]
ATTACHMENT_MAX_BYTES = 25 * 1024**2


def files_own_records(plan: ObjectPlan) -> bool:
    """Whether this module copies the object's records itself (Document, with its
    Body), instead of the record path."""
    return plan.sobject == DOCUMENT_OBJECT


def files_migrate(context: RunContext, plan: ObjectPlan) -> None:
    """Copy the files and attachments of the object's selected records, or the
    selected Documents of a template object Document."""
    if files_own_records(plan):
        documents_migrate(context, plan)
        return
    if not plan.include_files:
        return
    limits = FileLimits(
        max_bytes=settings.FILES_MAX_BYTES,
        inline_max_bytes=settings.FILES_INLINE_MAX_BYTES,
    )
    query = soql.select(
        plan.sobject, ["Id"], [plan.spec.filter, plan.condition], order_by="Id"
    )
    ids = (record["Id"] for record in context.source.query(query))
    for record_ids in chunked(ids, ID_BATCH):
        context.check_cancel()
        _documents_of(context, plan, record_ids, limits)
        _attachments_of(context, plan, record_ids, limits)


# -- Files -----------------------------------------------------------------------------


def _documents_of(
    context: RunContext, plan: ObjectPlan, record_ids: list[str], limits: FileLimits
) -> None:
    source = context.source
    linked = source.query(
        soql.select(
            "ContentDocumentLink",
            ["ContentDocumentId"],
            [soql.in_list("LinkedEntityId", record_ids)],
        )
    )
    document_ids = sorted({row["ContentDocumentId"] for row in linked})
    for batch in chunked(document_ids, ID_BATCH):
        documents = _copy_documents(context, plan, batch, limits)
        _copy_links(context, plan, batch, documents)


def _copy_documents(
    context: RunContext, plan: ObjectPlan, document_ids: list[str], limits: FileLimits
) -> dict[str, str]:
    """Copy the latest version of each document; source → target document ids."""
    versions = context.source.query(
        soql.select(
            "ContentVersion",
            VERSION_FIELDS,
            [soql.in_list("ContentDocumentId", document_ids), "IsLatest = true"],
        )
    )
    mappings = _mappings(context, FILE_OBJECT, document_ids)
    done = _done_in_this_run(context, FILE_OBJECT, document_ids)
    documents: dict[str, str] = {}
    for row in versions:
        source_file = SourceFile.from_version(row)
        mapping = mappings.get(source_file.document_id)
        if source_file.document_id in done and mapping is not None:
            documents[source_file.document_id] = mapping.target_id
            continue  # another object of this run already copied it
        target = _copy_file(context, plan, source_file, mapping, limits)
        if target:
            documents[source_file.document_id] = target
    return documents


def _copy_file(
    context: RunContext,
    plan: ObjectPlan,
    source_file: SourceFile,
    mapping: RecordMapping | None,
    limits: FileLimits,
) -> str | None:
    """Copy one file as decided; the target document id, or None if it failed."""
    decision = decide_file(
        source_file,
        target_document_id=mapping.target_id if mapping else None,
        recorded_checksum=mapping.values_hash if mapping else None,
        limits=limits,
    )
    if decision.action is FileAction.VERSION and _target_has(
        context.target, decision, source_file.checksum
    ):
        decision = FileDecision(FileAction.UNCHANGED, decision.target_document_id)
    if decision.action is FileAction.TOO_LARGE:
        _record_failure(
            context,
            plan,
            FILE_OBJECT,
            source_file.document_id,
            "FILE_TOO_LARGE",
            too_large_message(source_file, limits),
        )
        return None
    if context.run.dry_run or decision.action is FileAction.UNCHANGED:
        _record_file(context, plan, source_file, decision, mapping, sent=0)
        return decision.target_document_id
    return _send_file(context, plan, source_file, decision, mapping)


def _target_has(
    target: SalesforceClient, decision: FileDecision, checksum: str
) -> bool:
    """Whether the mapped target document's latest version already has this content
    (a version sent by a run that stopped before recording it)."""
    rows = target.query(
        soql.select(
            "ContentVersion",
            ["Checksum"],
            [
                f"ContentDocumentId = {soql.quote(decision.target_document_id)}",
                "IsLatest = true",
            ],
        )
    )
    return any(row.get("Checksum") == checksum for row in rows)


def _send_file(
    context: RunContext,
    plan: ObjectPlan,
    source_file: SourceFile,
    decision: FileDecision,
    mapping: RecordMapping | None,
) -> str | None:
    entry = None
    if decision.action is FileAction.UPLOAD:
        entry = _journal_new_document(context, source_file)
    try:
        version_id = _transfer(context, source_file, decision)
        document_id = decision.target_document_id or _document_of(
            context.target, version_id
        )
    except SalesforceError as exc:
        if not exc.permanent:
            raise  # the run stops; its journal entry is reconciled on resume
        _record_failure(
            context,
            plan,
            FILE_OBJECT,
            source_file.document_id,
            exc.code,
            exc.message,
            target_id=decision.target_document_id or "",
            entry=entry,
        )
        return None
    decision = FileDecision(decision.action, document_id, decision.inline)
    _record_file(
        context,
        plan,
        source_file,
        decision,
        mapping,
        sent=source_file.size,
        entry=entry,
    )
    return document_id


def _transfer(
    context: RunContext, source_file: SourceFile, decision: FileDecision
) -> str:
    """Stream the content from the source into a new target ContentVersion."""

    def content() -> Iterator[bytes]:
        return blob_chunks(context.source, source_file.data_path)

    fields = source_file.version_fields(decision.target_document_id)
    if decision.inline:
        return insert_inline(
            context.target, "ContentVersion", fields, "VersionData", content
        )
    return insert_multipart(
        context.target,
        "ContentVersion",
        fields,
        "VersionData",
        content,
        source_file.size,
    )


def _document_of(target: SalesforceClient, version_id: str) -> str:
    rows = list(
        target.query(
            soql.select(
                "ContentVersion",
                ["ContentDocumentId"],
                [f"Id = {soql.quote(version_id)}"],
            )
        )
    )
    return str(rows[0]["ContentDocumentId"])


def _journal_new_document(
    context: RunContext, source_file: SourceFile
) -> WriteJournal | None:
    """Journal a new document before it is sent (DESIGN invariant 3): reconciling finds
    it in the target by its title and size."""
    if not context.writes_mappings:
        return None
    return WriteJournal.objects.create(
        run=context.run,
        sobject=FILE_OBJECT,
        operation=WriteJournal.Operation.INSERT,
        entries=[
            {
                "source_id": source_file.document_id,
                "values": {"Title": source_file.title, "ContentSize": source_file.size},
            }
        ],
    )


def _record_file(
    context: RunContext,
    plan: ObjectPlan,
    source_file: SourceFile,
    decision: FileDecision,
    mapping: RecordMapping | None,
    *,
    sent: int,
    entry: WriteJournal | None = None,
) -> None:
    _record_written(
        context,
        plan,
        FILE_OBJECT,
        source_file.document_id,
        decision.target_document_id or "",
        stamp=source_file.checksum,
        action=decision.action,
        mapping=mapping,
        sent=sent,
        entry=entry,
    )


def _copy_links(
    context: RunContext,
    plan: ObjectPlan,
    document_ids: list[str],
    documents: Mapping[str, str],
) -> None:
    """Recreate the documents' links to records the run has in the target."""
    if not documents or context.run.dry_run:
        return
    links = [
        SourceLink.from_row(row)
        for row in context.source.query(
            soql.select(
                "ContentDocumentLink",
                LINK_FIELDS,
                [soql.in_list("ContentDocumentId", document_ids)],
            )
        )
    ]
    entities = _target_ids(context, {link.entity_id for link in links})
    existing = {
        (row["ContentDocumentId"], row["LinkedEntityId"])
        for row in context.target.query(
            soql.select(
                "ContentDocumentLink",
                ["ContentDocumentId", "LinkedEntityId"],
                [soql.in_list("ContentDocumentId", sorted(set(documents.values())))],
            )
        )
    }
    planned = plan_links(
        links,
        documents=documents,
        entities=entities,
        existing=existing,
        later_prefixes=_later_prefixes(context, plan),
    )
    _create_links(context, plan, planned.create)
    _report_missing(context, plan, planned.missing)


def _create_links(
    context: RunContext, plan: ObjectPlan, links: list[dict[str, str]]
) -> None:
    for batch in chunked(links, ID_BATCH):
        results = context.target.create("ContentDocumentLink", batch)
        issues = [
            _issue(
                context,
                IssueKind.FAILED,
                "ContentDocumentLink",
                link["ContentDocumentId"],
                saved.error_code,
                f"Link to {link['LinkedEntityId']} not created: {saved.error_message}",
            )
            for link, saved in zip(batch, results, strict=True)
            if not saved.success
        ]
        with transaction.atomic():
            RecordIssue.objects.bulk_create(issues)
            _add_file_counts(
                context, plan, {"links": sum(1 for r in results if r.success)}
            )


def _report_missing(
    context: RunContext, plan: ObjectPlan, missing: Sequence[SourceLink]
) -> None:
    """A link to a record outside the run follows the missing-parent policy: a
    warning (the file is copied without it) or a failure."""
    if not missing:
        return
    fails = plan.spec.missing_parent_policy == MissingParentPolicy.FAIL_RECORD
    RecordIssue.objects.bulk_create(
        _issue(
            context,
            IssueKind.FAILED if fails else IssueKind.WARNING,
            "ContentDocumentLink",
            link.document_id,
            "LINKED_RECORD_NOT_MIGRATED",
            f"The file is also linked to {link.entity_id}, which this run did not "
            "migrate; that link was not created",
        )
        for link in missing
    )


# -- Attachments -----------------------------------------------------------------------


def _attachments_of(
    context: RunContext, plan: ObjectPlan, record_ids: list[str], limits: FileLimits
) -> None:
    rows = list(
        context.source.query(
            soql.select(
                ATTACHMENT_OBJECT,
                ATTACHMENT_FIELDS,
                [soql.in_list("ParentId", record_ids)],
            )
        )
    )
    if not rows:
        return
    mappings = _mappings(context, ATTACHMENT_OBJECT, [row["Id"] for row in rows])
    parents = _target_ids(context, {row["ParentId"] for row in rows})
    for row in rows:
        _copy_attachment(
            context,
            plan,
            row,
            mappings.get(row["Id"]),
            parents.get(row["ParentId"]),
            limits,
        )


def _copy_attachment(
    context: RunContext,
    plan: ObjectPlan,
    row: Mapping[str, Any],
    mapping: RecordMapping | None,
    parent: str | None,
    limits: FileLimits,
) -> None:
    size, stamp = int(row.get("BodyLength") or 0), body_stamp(row)
    if size > min(limits.max_bytes, ATTACHMENT_MAX_BYTES):
        message = f"Attachment {row['Name']!r} is {size} bytes; the maximum is 25 MB"
        _record_failure(
            context, plan, ATTACHMENT_OBJECT, row["Id"], "FILE_TOO_LARGE", message
        )
        return
    if mapping is not None and mapping.values_hash == stamp:
        _record_attachment(
            context, plan, row, mapping.target_id, FileAction.UNCHANGED, mapping, 0
        )
        return
    if parent is None or context.run.dry_run:
        return  # its record was not migrated (reported with the record)
    try:
        target_id = _send_attachment(context, row, mapping, parent, limits)
    except SalesforceError as exc:
        if not exc.permanent:
            raise
        _record_failure(
            context, plan, ATTACHMENT_OBJECT, row["Id"], exc.code, exc.message
        )
        return
    action = FileAction.VERSION if mapping else FileAction.UPLOAD
    _record_attachment(context, plan, row, target_id, action, mapping, size)


def _send_attachment(
    context: RunContext,
    row: Mapping[str, Any],
    mapping: RecordMapping | None,
    parent: str,
    limits: FileLimits,
) -> str:
    def content() -> Iterator[bytes]:
        return blob_chunks(context.source, row["Body"])

    fields = {
        "Name": row["Name"],
        "ContentType": row.get("ContentType"),
        "Description": row.get("Description"),
        "IsPrivate": bool(row.get("IsPrivate")),
    }
    if mapping is not None:
        # An attachment's body is updated in place; at most 25 MB, within JSON's limit.
        _update_body(context, ATTACHMENT_OBJECT, mapping.target_id, fields, content)
        return mapping.target_id
    fields["ParentId"] = parent
    size = int(row.get("BodyLength") or 0)
    if size <= limits.inline_max_bytes:
        return insert_inline(context.target, ATTACHMENT_OBJECT, fields, "Body", content)
    return insert_multipart(
        context.target, ATTACHMENT_OBJECT, fields, "Body", content, size
    )


def _record_attachment(
    context: RunContext,
    plan: ObjectPlan,
    row: Mapping[str, Any],
    target_id: str,
    action: FileAction,
    mapping: RecordMapping | None,
    sent: int,
) -> None:
    _record_written(
        context,
        plan,
        ATTACHMENT_OBJECT,
        row["Id"],
        target_id,
        stamp=body_stamp(row),
        action=action,
        mapping=mapping,
        sent=sent,
    )


# -- Documents -------------------------------------------------------------------------


def documents_migrate(context: RunContext, plan: ObjectPlan) -> None:
    """Copy the selected source Documents with their Body (template object Document)."""
    limits = FileLimits(
        max_bytes=min(settings.FILES_MAX_BYTES, DOCUMENT_MAX_BYTES),
        inline_max_bytes=settings.FILES_INLINE_MAX_BYTES,
    )
    selection = [plan.spec.filter, plan.condition]
    RunObjectStat.objects.filter(run=context.run, sobject=plan.sobject).update(
        expected=context.source.count(DOCUMENT_OBJECT, soql.conjunction(selection))
    )
    folders = _FolderMap.load(context)
    fields = list(dict.fromkeys((*DOCUMENT_READ_FIELDS, *plan.read_fields)))
    query = soql.select(DOCUMENT_OBJECT, fields, selection, order_by="Id")
    for page in chunked(context.source.query(query), ID_BATCH):
        context.check_cancel()
        ids = [row["Id"] for row in page]
        mappings = _mappings(context, DOCUMENT_OBJECT, ids)
        done = _done_in_this_run(context, DOCUMENT_OBJECT, ids)  # before a resume
        for row in page:
            if row["Id"] not in done:
                mapping = mappings.get(row["Id"])
                _copy_document(context, plan, row, mapping, folders, limits)
        if context.progress:
            context.progress(plan.sobject, len(page))


class _FolderMap:
    """Source folders and their target folders (Type Document), read once a run."""

    def __init__(
        self, context: RunContext, names: dict[str, str], targets: dict[str, str]
    ) -> None:
        self.names = names
        self.targets = targets
        self.users = context.users
        self.fallback_user = context.fallback_owner

    @classmethod
    def load(cls, context: RunContext) -> _FolderMap:
        query = soql.select(
            "Folder", ["Id", "Name", "DeveloperName"], ["Type = 'Document'"]
        )
        source = list(context.source.query(query))
        names = {row["Id"]: row.get("DeveloperName") or row["Name"] for row in source}
        return cls(context, names, map_folders(source, context.target.query(query)))

    def target_of(self, document: SourceDocument) -> str | None:
        return target_folder(
            document.folder_id,
            folders=self.targets,
            users=self.users,
            fallback_user=self.fallback_user,
        )

    def name_of(self, document: SourceDocument) -> str:
        return self.names.get(document.folder_id, document.folder_id)


def _copy_document(
    context: RunContext,
    plan: ObjectPlan,
    row: Mapping[str, Any],
    mapping: RecordMapping | None,
    folders: _FolderMap,
    limits: FileLimits,
) -> None:
    """Copy one Document as decided; a failure is that document's alone."""
    document = SourceDocument.from_row(row)
    decision = decide_body(
        document.size,
        document.stamp,
        target_id=mapping.target_id if mapping else None,
        recorded_stamp=mapping.values_hash if mapping else None,
        limits=limits,
    )
    if decision.action is FileAction.TOO_LARGE:
        message = document_too_large_message(document, limits)
        _record_failure(
            context, plan, DOCUMENT_OBJECT, document.id, "FILE_TOO_LARGE", message
        )
        return
    if decision.action is FileAction.UNCHANGED or context.run.dry_run:
        _record_document(context, plan, document, decision, mapping, sent=0)
        return
    folder = folders.target_of(document)
    if folder is None:
        message = folder_missing_message(document, folders.name_of(document))
        _record_failure(
            context, plan, DOCUMENT_OBJECT, document.id, "FOLDER_NOT_FOUND", message
        )
        return
    values = plan.transformed(
        {**document_values(row, plan.insert_fields), "FolderId": folder},
        source_id=document.id,
        secret=context.masking_key,
    )
    _send_document(context, plan, document, decision, mapping, values)


def _send_document(
    context: RunContext,
    plan: ObjectPlan,
    document: SourceDocument,
    decision: FileDecision,
    mapping: RecordMapping | None,
    values: dict[str, Any],
) -> None:
    entry = None
    if decision.action is FileAction.UPLOAD:
        entry = _journal_new_record(context, DOCUMENT_OBJECT, document.id, values)
    try:
        target_id = _transfer_document(context, document, decision, values)
    except SalesforceError as exc:
        if not exc.permanent:
            raise  # the run stops; its journal entry is reconciled on resume
        _record_failure(
            context,
            plan,
            DOCUMENT_OBJECT,
            document.id,
            exc.code,
            exc.message,
            target_id=decision.target_document_id or "",
            entry=entry,
        )
        return
    decision = FileDecision(decision.action, target_id, decision.inline)
    _record_document(
        context, plan, document, decision, mapping, sent=document.size, entry=entry
    )


def _transfer_document(
    context: RunContext,
    document: SourceDocument,
    decision: FileDecision,
    values: dict[str, Any],
) -> str:
    """Stream the Body from the source into a new target Document, or update the
    mapped one in place; the target document's id."""

    def content() -> Iterator[bytes]:
        return blob_chunks(context.source, document.body_path)

    if decision.target_document_id:
        _update_body(
            context, DOCUMENT_OBJECT, decision.target_document_id, values, content
        )
        return decision.target_document_id
    if decision.inline:
        return insert_inline(context.target, DOCUMENT_OBJECT, values, "Body", content)
    return insert_multipart(
        context.target, DOCUMENT_OBJECT, values, "Body", content, document.size
    )


def _record_document(
    context: RunContext,
    plan: ObjectPlan,
    document: SourceDocument,
    decision: FileDecision,
    mapping: RecordMapping | None,
    *,
    sent: int,
    entry: WriteJournal | None = None,
) -> None:
    _record_written(
        context,
        plan,
        DOCUMENT_OBJECT,
        document.id,
        decision.target_document_id or "",
        stamp=document.stamp,
        action=decision.action,
        mapping=mapping,
        sent=sent,
        entry=entry,
    )


# -- shared ----------------------------------------------------------------------------


def _mappings(
    context: RunContext, sobject: str, source_ids: Sequence[str]
) -> dict[str, RecordMapping]:
    if context.strategy is Strategy.NONE:
        return {}
    rows = RecordMapping.objects.filter(
        source_org=context.run.source_org_id,
        target_org=context.run.target_org_id,
        sobject=sobject,
        source_id__in=source_ids,
        status=RecordMapping.Status.ACTIVE,
    )
    return {row.source_id: row for row in rows}


def _done_in_this_run(
    context: RunContext, sobject: str, source_ids: Sequence[str]
) -> set[str]:
    return set(
        RecordResult.objects.filter(
            run=context.run, sobject=sobject, source_id__in=source_ids
        ).values_list("source_id", flat=True)
    )


def _target_ids(context: RunContext, source_ids: set[str]) -> dict[str, str]:
    """Target ids of migrated records: the mapping table, then the run's own inserts."""
    found = {
        source_id: context.run_inserts[source_id]
        for source_id in source_ids
        if source_id in context.run_inserts
    }
    if context.strategy is not Strategy.NONE:
        rows = RecordMapping.objects.filter(
            source_org=context.run.source_org_id,
            target_org=context.run.target_org_id,
            source_id__in=source_ids,
            status=RecordMapping.Status.ACTIVE,
        ).values_list("source_id", "target_id")
        found.update(dict(rows))
    return found


def _later_prefixes(context: RunContext, plan: ObjectPlan) -> frozenset[str]:
    """Id prefixes of the objects with files that the run migrates after this one."""
    order = [p.sobject for p in context.plan.objects]
    later = order[order.index(plan.sobject) + 1 :]
    return frozenset(
        str(context.source.describe(sobject).get("keyPrefix") or "")
        for sobject in later
    )


def _update_body(
    context: RunContext,
    sobject: str,
    target_id: str,
    fields: Mapping[str, Any],
    content: Callable[[], Iterator[bytes]],
) -> None:
    """Update a Body record in place, its new Body as base64 in JSON (attachments are
    at most 25 MB and documents 5 MB, within JSON's 37.5 MB)."""
    body = base64.b64encode(b"".join(content())).decode("ascii")
    saved = context.target.update(sobject, [{"Id": target_id, **fields, "Body": body}])[
        0
    ]
    if not saved.success:
        raise SalesforceError(
            f"{saved.error_code}: {saved.error_message}",
            code=saved.error_code,
            permanent=True,
        )


def _journal_new_record(
    context: RunContext, sobject: str, source_id: str, values: Mapping[str, Any]
) -> WriteJournal | None:
    """Journal a new Body record before it is sent (DESIGN invariant 3): reconciling
    finds it in the target by its unique DeveloperName."""
    if not context.writes_mappings:
        return None
    return WriteJournal.objects.create(
        run=context.run,
        sobject=sobject,
        operation=WriteJournal.Operation.INSERT,
        entries=[
            {
                "source_id": source_id,
                "values": {"DeveloperName": values.get("DeveloperName")},
            }
        ],
    )


def _save_mapping(
    context: RunContext,
    sobject: str,
    source_id: str,
    target_id: str,
    hash_: str,
    mapping: RecordMapping | None,
) -> None:
    if not context.writes_mappings or not target_id:
        return
    if mapping is None:
        mappings_insert(context.run, [(sobject, source_id, target_id, hash_)])
        return
    mapping.values_hash = hash_
    mapping.last_written_by_run = context.run
    mapping.save(update_fields=["values_hash", "last_written_by_run", "updated_at"])


def _add_file_counts(
    context: RunContext, plan: ObjectPlan, counts: Mapping[str, int]
) -> None:
    """Add to the object's file counts (its stat's notes; one writer per run)."""
    stat = RunObjectStat.objects.select_for_update().get(
        run=context.run, sobject=plan.sobject
    )
    files = Counter(stat.notes.get("files", {}))
    files.update({name: value for name, value in counts.items() if value})
    stat.notes = {**stat.notes, "files": dict(files)}
    stat.save(update_fields=["notes"])


def _issue(
    context: RunContext,
    kind: str,
    sobject: str,
    source_id: str,
    code: str,
    message: str,
    target_id: str = "",
) -> RecordIssue:
    return RecordIssue(
        run=context.run,
        kind=kind,
        sobject=sobject,
        source_id=source_id,
        target_id=target_id,
        error_code=code,
        message=message,
    )


def _record_written(
    context: RunContext,
    plan: ObjectPlan,
    sobject: str,
    source_id: str,
    target_id: str,
    *,
    stamp: str,
    action: FileAction,
    mapping: RecordMapping | None,
    sent: int,
    entry: WriteJournal | None = None,
) -> None:
    """Save what happened to one file, attachment or document, in one transaction:
    its mapping, its result row, the counts, and its journal entry settled."""
    with transaction.atomic():
        if not context.run.dry_run:
            _save_mapping(context, sobject, source_id, target_id, stamp, mapping)
            RecordResult.objects.create(
                run=context.run,
                sobject=sobject,
                source_id=source_id,
                target_id=target_id,
                action=action.value,
            )
        _add_file_counts(context, plan, {action.value: 1, "bytes": sent})
        if entry is not None:
            journal_close(entry)


def _record_failure(
    context: RunContext,
    plan: ObjectPlan,
    sobject: str,
    source_id: str,
    code: str,
    message: str,
    *,
    target_id: str = "",
    entry: WriteJournal | None = None,
) -> None:
    """One file failed; the others and the run go on."""
    with transaction.atomic():
        _issue(
            context, IssueKind.FAILED, sobject, source_id, code, message, target_id
        ).save()
        _add_file_counts(context, plan, {"failed": 1})
        if entry is not None:
            journal_close(entry)
    logger.info("run %s: %s %s failed: %s", context.run.pk, sobject, source_id, code)
