"""Files that follow their records, and Documents: what to do with each one. Pure,
no I/O.

A source file is the latest ContentVersion of a ContentDocument. Its document maps to
a target document through the mapping table (sObject "ContentDocument"), whose
values hash holds the checksum (MD5) of the content last sent. So a repeat run
uploads nothing for an unchanged file, and a changed one becomes a new version of the
mapped target document instead of a second document.

A Document (the older kind, in a folder) maps through the mapping table too (sObject
"Document"); having no checksum, its size and SystemModstamp tell a change, and a
changed one is updated in place. Its folder maps to the target folder of the same
DeveloperName (or Name); a user's personal folder (a user id) to the mapped user.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

FILE_OBJECT = "ContentDocument"
DOCUMENT_OBJECT = "Document"
USER_PREFIX = "005"
# A Document's Body is at most 5 MB through the API.
DOCUMENT_MAX_BYTES = 5 * 1024**2
# Salesforce's limits: a ContentVersion takes up to 2 GB through a multipart insert,
# and a JSON (base64) insert at most 37.5 MB of content.
CONTENT_VERSION_MAX_BYTES = 2 * 1024**3
JSON_BASE64_MAX_BYTES = 37 * 1024**2 + 512 * 1024


class FileAction(StrEnum):
    UPLOAD = "uploaded"  # a new target document
    VERSION = "versioned"  # a new version of the mapped target document
    UNCHANGED = "unchanged"
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class SourceFile:
    """The latest version of a source document, as the source org describes it."""

    document_id: str
    version_id: str
    title: str
    path_on_client: str
    checksum: str
    size: int
    data_path: str
    description: str | None = None

    @classmethod
    def from_version(cls, row: Mapping[str, Any]) -> SourceFile:
        return cls(
            document_id=row["ContentDocumentId"],
            version_id=row["Id"],
            title=row.get("Title") or "",
            path_on_client=row.get("PathOnClient") or row.get("Title") or "file",
            checksum=row.get("Checksum") or "",
            size=int(row.get("ContentSize") or 0),
            data_path=row.get("VersionData") or "",
            description=row.get("Description"),
        )

    def version_fields(self, target_document_id: str | None) -> dict[str, Any]:
        """The fields of the target ContentVersion, without its content."""
        fields: dict[str, Any] = {
            "Title": self.title,
            "PathOnClient": self.path_on_client,
        }
        if self.description:
            fields["Description"] = self.description
        if target_document_id:
            fields["ContentDocumentId"] = target_document_id
        return fields


@dataclass(frozen=True)
class FileLimits:
    max_bytes: int = CONTENT_VERSION_MAX_BYTES
    # Content up to this size goes as base64 in JSON (held in memory); larger content
    # is streamed in a multipart body.
    inline_max_bytes: int = 5 * 1024**2


@dataclass(frozen=True)
class FileDecision:
    action: FileAction
    target_document_id: str | None = None
    inline: bool = False


def decide_file(
    source: SourceFile,
    *,
    target_document_id: str | None,
    recorded_checksum: str | None,
    limits: FileLimits,
) -> FileDecision:
    """Upload, version, leave alone, or refuse one file."""
    if source.size > limits.max_bytes:
        return FileDecision(FileAction.TOO_LARGE, target_document_id)
    inline = source.size <= min(limits.inline_max_bytes, JSON_BASE64_MAX_BYTES)
    if target_document_id is None:
        return FileDecision(FileAction.UPLOAD, None, inline)
    if recorded_checksum == source.checksum:
        return FileDecision(FileAction.UNCHANGED, target_document_id)
    return FileDecision(FileAction.VERSION, target_document_id, inline)


def too_large_message(source: SourceFile, limits: FileLimits) -> str:
    return (
        f"File {source.path_on_client!r} is {source.size} bytes; Salesforce takes "
        f"files of at most {limits.max_bytes} bytes, so it was not copied"
    )


@dataclass(frozen=True)
class SourceLink:
    document_id: str
    entity_id: str
    share_type: str
    visibility: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SourceLink:
        return cls(
            document_id=row["ContentDocumentId"],
            entity_id=row["LinkedEntityId"],
            share_type=row.get("ShareType") or "V",
            visibility=row.get("Visibility") or "AllUsers",
        )


@dataclass(frozen=True)
class LinkPlan:
    """Links to create in the target, and source links whose record is not there."""

    create: list[dict[str, str]]
    missing: list[SourceLink]


def plan_links(
    links: Iterable[SourceLink],
    *,
    documents: Mapping[str, str],
    entities: Mapping[str, str],
    existing: set[tuple[str, str]],
    later_prefixes: frozenset[str] = frozenset(),
) -> LinkPlan:
    """The target links that recreate ``links``.

    Links to users are skipped: each target document already has its owner's link.
    A link whose record has no target is missing, unless that record's object comes
    later in the run (``later_prefixes``), which then links it.
    """
    create: list[dict[str, str]] = []
    missing: list[SourceLink] = []
    wanted = set(existing)
    for link in links:
        target_document = documents.get(link.document_id)
        if target_document is None or link.entity_id.startswith(USER_PREFIX):
            continue
        target_entity = entities.get(link.entity_id)
        if target_entity is None:
            if link.entity_id[:3] not in later_prefixes:
                missing.append(link)
            continue
        if (target_document, target_entity) in wanted:
            continue
        wanted.add((target_document, target_entity))
        create.append(
            {
                "ContentDocumentId": target_document,
                "LinkedEntityId": target_entity,
                "ShareType": link.share_type,
                "Visibility": link.visibility,
            }
        )
    return LinkPlan(create, missing)


# -- Documents -------------------------------------------------------------------------

# Fields a Document migration always reads, besides the template's.
DOCUMENT_READ_FIELDS = (
    "Id",
    "Name",
    "DeveloperName",
    "FolderId",
    "Body",
    "BodyLength",
    "SystemModstamp",
)
# Fields sent apart from the template's plain values: the content and the folder.
DOCUMENT_SPECIAL_FIELDS = frozenset({"id", "body", "bodylength", "folderid"})


def body_stamp(row: Mapping[str, Any]) -> str:
    """What changes when a Body record (Attachment, Document) changes: it has no
    checksum of its own, so its size and SystemModstamp."""
    text = f"{row.get('BodyLength')}:{row.get('SystemModstamp')}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class SourceDocument:
    """A source Document: where its Body is, its folder and the values to copy."""

    id: str
    name: str
    developer_name: str
    folder_id: str
    size: int
    stamp: str
    body_path: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SourceDocument:
        return cls(
            id=row["Id"],
            name=row.get("Name") or "",
            developer_name=row.get("DeveloperName") or "",
            folder_id=row.get("FolderId") or "",
            size=int(row.get("BodyLength") or 0),
            stamp=body_stamp(row),
            body_path=row.get("Body") or "",
        )


def document_values(row: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The template's plain fields of a Document row (not its Body nor its folder)."""
    return {
        name: row.get(name)
        for name in fields
        if name.lower() not in DOCUMENT_SPECIAL_FIELDS
    }


def decide_body(
    size: int,
    stamp: str,
    *,
    target_id: str | None,
    recorded_stamp: str | None,
    limits: FileLimits,
) -> FileDecision:
    """Upload, update in place (VERSION), leave alone, or refuse one Body record."""
    if size > limits.max_bytes:
        return FileDecision(FileAction.TOO_LARGE, target_id)
    inline = size <= min(limits.inline_max_bytes, JSON_BASE64_MAX_BYTES)
    if target_id is None:
        return FileDecision(FileAction.UPLOAD, None, inline)
    if recorded_stamp == stamp:
        return FileDecision(FileAction.UNCHANGED, target_id)
    return FileDecision(FileAction.VERSION, target_id, inline=True)


def document_too_large_message(document: SourceDocument, limits: FileLimits) -> str:
    return (
        f"Document {document.name!r} is {document.size} bytes; Salesforce takes "
        f"documents of at most {limits.max_bytes} bytes, so it was not copied"
    )


def map_folders(
    source: Iterable[Mapping[str, Any]], target: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Source folder id -> target folder id, by DeveloperName, else by Name."""
    targets = list(target)
    by_developer_name = {
        row["DeveloperName"]: row["Id"] for row in targets if row.get("DeveloperName")
    }
    by_name = {row["Name"]: row["Id"] for row in targets if row.get("Name")}
    found: dict[str, str] = {}
    for row in source:
        target_id = by_developer_name.get(row.get("DeveloperName") or "")
        target_id = target_id or by_name.get(row.get("Name") or "")
        if target_id:
            found[row["Id"]] = target_id
    return found


def target_folder(
    folder_id: str,
    *,
    folders: Mapping[str, str],
    users: Mapping[str, str],
    fallback_user: str | None = None,
) -> str | None:
    """The target folder of a document: a mapped folder, or a mapped user's personal
    folder (an unmapped user's goes to the run's fallback owner, if it has one)."""
    if folder_id.startswith(USER_PREFIX):
        return users.get(folder_id) or fallback_user
    return folders.get(folder_id)


def folder_missing_message(document: SourceDocument, folder_name: str) -> str:
    if document.folder_id.startswith(USER_PREFIX):
        return (
            f"Document {document.name!r} is in the personal folder of user "
            f"{document.folder_id}, who has no user in the target org; it was not "
            "copied"
        )
    return (
        f"Document {document.name!r} is in folder {folder_name!r}, which the "
        "target org has no folder of the same DeveloperName or Name for; create "
        "that folder in the target org, then run again"
    )
