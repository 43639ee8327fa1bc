"""Salesforce Files, Attachments and Documents: objects, rules and blob routes.

- ``ContentVersion``: inserting a first version (no ``ContentDocumentId``) creates its
  ``ContentDocument`` and the document's owner link; a version inserted with a
  ``ContentDocumentId`` becomes the document's latest (``IsLatest`` moves to it).
  ``Checksum`` is the MD5 of the content, ``ContentSize`` its length.
- ``ContentDocument`` cannot be inserted through the API.
- ``ContentDocumentLink``: one link per document and record (a second is
  DUPLICATE_VALUE); the owner's link cannot be deleted.
- ``Attachment`` (polymorphic ``ParentId``) and ``Document`` (in a ``Folder``, or a
  user's personal folder: ``FolderId`` is the user's id) carry a ``Body``, which an
  update can replace (with the same limits).
- Blob content comes as base64 in JSON (at most 37.5 MB) or as the binary part of a
  multipart request (2 GB for ContentVersion, 500 MB for the others, 25 MB for an
  attachment, 5 MB for a document), and downloads from
  ``/sobjects/{object}/{id}/{field}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email import message_from_bytes
from email.message import Message
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from salesforce_emulator.errors import ApiError, RecordFailure, not_found
from salesforce_emulator.ids import normalize_id
from salesforce_emulator.metadata import (
    READ_ONLY,
    _object,
    boolean,
    number,
    picklist,
    reference,
    text,
)
from salesforce_emulator.schema import FieldDef, ObjectDef
from salesforce_emulator.store import Record
from salesforce_emulator.transport import Request, Response

if TYPE_CHECKING:
    from salesforce_emulator.org import Org
    from salesforce_emulator.writer import Writer

OCTET_STREAM = "application/octet-stream"
# Objects a file, an attachment or a link may hang off; custom objects are added when
# the schema is built (widen_parent_references).
PARENT_OBJECTS = ("Account", "Contact", "Opportunity", "Case", "Lead", "Product2")
BLOB_FIELDS = {
    "contentversion": "VersionData",
    "attachment": "Body",
    "document": "Body",
}
CREATE_ONLY: dict[str, Any] = {"updateable": False}


@dataclass(frozen=True)
class Hooks:
    """Rules an object applies around the generic writes (see Writer)."""

    before_insert: Callable[[Writer, Record], None] | None = None
    after_insert: Callable[[Writer, Record], None] | None = None
    # The updated record and the values given, before it is stored.
    before_update: Callable[[Writer, Record, Mapping[str, Any]], None] | None = None
    before_delete: Callable[[Writer, Record], None] | None = None


def _blob(name: str, *, updateable: bool = False) -> FieldDef:
    """A blob field; a ContentVersion's content is fixed, a Body can be replaced."""
    return FieldDef(
        name=name,
        type="base64",
        label=name,
        nillable=False,
        updateable=updateable,
    )


def _size(name: str, label: str) -> FieldDef:
    return number(name, "int", 10, 0, label=label, **READ_ONLY)


def content_version() -> ObjectDef:
    return _object(
        "ContentVersion",
        "068",
        "Content Version",
        "Content Versions",
        ["User"],
        [
            reference(
                "ContentDocumentId",
                ["ContentDocument"],
                "ContentDocument",
                "ContentVersions",
                label="ContentDocument ID",
                **CREATE_ONLY,
            ),
            text("Title", 255, name_field=True),
            text("PathOnClient", 500, nillable=False, **CREATE_ONLY),
            _blob("VersionData"),
            text("Checksum", 50, **READ_ONLY),
            _size("ContentSize", "Size"),
            text("FileExtension", 40, **READ_ONLY),
            text("FileType", 20, **READ_ONLY),
            FieldDef(
                name="IsLatest",
                type="boolean",
                label="Is Latest",
                nillable=False,
                defaulted_on_create=True,
                default_value=True,
                **READ_ONLY,
            ),
            text("VersionNumber", 20, **READ_ONLY),
            text("ReasonForChange", 1000),
            text("Description", 1000, type="textarea"),
            reference(
                "FirstPublishLocationId",
                PARENT_OBJECTS,
                "FirstPublishLocation",
                None,
                **CREATE_ONLY,
            ),
            picklist(
                "ContentLocation",
                ("S", "E", "L"),
                defaulted_on_create=True,
                default_value="S",
                **CREATE_ONLY,
            ),
        ],
    )


def content_document() -> ObjectDef:
    return _object(
        "ContentDocument",
        "069",
        "Content Document",
        "Content Documents",
        ["User"],
        [
            text("Title", 255, name_field=True, **READ_ONLY),
            reference(
                "LatestPublishedVersionId",
                ["ContentVersion"],
                "LatestPublishedVersion",
                None,
                **READ_ONLY,
            ),
            _size("ContentSize", "Size"),
            text("FileExtension", 40, **READ_ONLY),
            text("FileType", 20, **READ_ONLY),
            text("Description", 1000, type="textarea", **READ_ONLY),
        ],
    )


def content_document_link() -> ObjectDef:
    return _object(
        "ContentDocumentLink",
        "06A",
        "Content Document Link",
        "Content Document Links",
        None,
        [
            reference(
                "ContentDocumentId",
                ["ContentDocument"],
                "ContentDocument",
                "ContentDocumentLinks",
                label="ContentDocument ID",
                nillable=False,
                **CREATE_ONLY,
            ),
            reference(
                "LinkedEntityId",
                (*PARENT_OBJECTS, "User"),
                "LinkedEntity",
                None,
                label="Linked Entity ID",
                nillable=False,
                **CREATE_ONLY,
            ),
            picklist(
                "ShareType",
                ("V", "C", "I"),
                nillable=False,
                defaulted_on_create=True,
                default_value="V",
                restricted_picklist=True,
            ),
            picklist(
                "Visibility",
                ("AllUsers", "InternalUsers", "SharedUsers"),
                defaulted_on_create=True,
                default_value="AllUsers",
                restricted_picklist=True,
            ),
        ],
    )


def attachment() -> ObjectDef:
    return _object(
        "Attachment",
        "00P",
        "Attachment",
        "Attachments",
        ["User"],
        [
            reference(
                "ParentId",
                PARENT_OBJECTS,
                "Parent",
                "Attachments",
                label="Parent ID",
                nillable=False,
                **CREATE_ONLY,
            ),
            text("Name", 255, label="File Name", nillable=False, name_field=True),
            _blob("Body", updateable=True),
            _size("BodyLength", "Body Length"),
            text("ContentType", 120),
            text("Description", 500, type="textarea"),
            boolean("IsPrivate", label="Private"),
        ],
    )


def folder() -> ObjectDef:
    return _object(
        "Folder",
        "00l",
        "Folder",
        "Folders",
        None,
        [
            text("Name", 40, nillable=False, name_field=True),
            text("DeveloperName", 80, unique=True),
            picklist(
                "Type",
                ("Document", "Email", "Report", "Dashboard"),
                nillable=False,
                restricted_picklist=True,
            ),
            picklist(
                "AccessType",
                ("Shared", "Public", "Hidden", "PublicInternal"),
                defaulted_on_create=True,
                default_value="Public",
            ),
        ],
    )


def document() -> ObjectDef:
    return _object(
        "Document",
        "015",
        "Document",
        "Documents",
        None,
        [
            reference(
                "FolderId",
                ["Folder", "User"],
                "Folder",
                "Documents",
                label="Folder ID",
                nillable=False,
            ),
            text("Name", 255, label="Document Name", nillable=False, name_field=True),
            text("DeveloperName", 80, nillable=False, unique=True),
            _blob("Body", updateable=True),
            _size("BodyLength", "Body Length"),
            text("ContentType", 120),
            text("Type", 40, label="File Extension"),
            text("Description", 255, type="textarea"),
            text("Keywords", 255),
            boolean("IsPublic", label="Externally Available"),
        ],
    )


def file_objects() -> list[ObjectDef]:
    return [
        content_version(),
        content_document(),
        content_document_link(),
        attachment(),
        folder(),
        document(),
    ]


def widen_parent_references(objects: dict[str, ObjectDef]) -> None:
    """Let files, attachments and links point at custom objects too."""
    custom = tuple(o.name for o in objects.values() if o.custom)
    if not custom:
        return
    for obj_name, field_name in (
        ("contentdocumentlink", "LinkedEntityId"),
        ("contentversion", "FirstPublishLocationId"),
        ("attachment", "ParentId"),
    ):
        obj = objects.get(obj_name)
        field_def = obj.field(field_name) if obj else None
        if obj is None or field_def is None:
            continue
        widened = (*field_def.reference_to, *custom)
        obj.fields[field_name.lower()] = _replace_targets(field_def, widened)


def _replace_targets(field_def: FieldDef, targets: tuple[str, ...]) -> FieldDef:
    return replace(field_def, reference_to=targets)


# -- blob content ----------------------------------------------------------------------


def blob_path(org: Org, obj: ObjectDef, record_id: str, field: str) -> str:
    return f"/services/data/v{org.api_version}/sobjects/{obj.name}/{record_id}/{field}"


def _content(org: Org, record: Record, field: str, limit: int, code: str) -> bytes:
    """The bytes given for a blob field: base64 text (JSON) or raw bytes (multipart)."""
    value = record[field]
    json_limit = org.file_limits.json_base64
    if isinstance(value, bytes):
        data = value
    else:
        try:
            data = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise RecordFailure.of(
                "INVALID_FIELD", f"{field}: not valid base64 data", (field,)
            ) from None
        if len(data) > json_limit:
            raise RecordFailure.of(
                "JSON_PARSER_ERROR",
                f"{field}: base64-encoded data is limited to {json_limit} bytes "
                "in a non-multipart request; send the file as a multipart request",
                (field,),
            )
    if len(data) > limit:
        raise RecordFailure.of(
            code,
            f"{field}: the file is {len(data)} bytes; the maximum is {limit} bytes",
            (field,),
        )
    return data


def _store_blob(writer: Writer, record: Record, field: str, data: bytes) -> None:
    org = writer.org
    org.blobs.put(record["Id"], field, data)
    record[field] = blob_path(org, writer.obj, record["Id"], field)


def _extension(path: str | None) -> str:
    name = (path or "").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


def _title(path: str | None) -> str:
    name = (path or "").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


# -- ContentVersion ----------------------------------------------------------------------


def _version_before_insert(writer: Writer, record: Record) -> None:
    org = writer.org
    limit = org.file_limits.content_version
    data = _content(org, record, "VersionData", limit, "MAXIMUM_SIZE_OF_DOCUMENT")
    extension = _extension(record["PathOnClient"])
    record["Checksum"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
    record["ContentSize"] = len(data)
    record["FileExtension"] = extension or None
    record["FileType"] = extension.upper() or "UNKNOWN"
    record["Title"] = record["Title"] or _title(record["PathOnClient"])
    record["IsLatest"] = True
    document_id = record["ContentDocumentId"]
    if document_id is None:
        record["ContentDocumentId"] = org.ids.next_id("069")
        record["VersionNumber"] = "1"
    else:
        record["FirstPublishLocationId"] = None
        record["VersionNumber"] = str(len(_versions(org, document_id)) + 1)
    _store_blob(writer, record, "VersionData", data)


def _versions(org: Org, document_id: str) -> list[Record]:
    table = org.store.tables["contentversion"]
    return [
        r
        for r in table.rows.values()
        if r["ContentDocumentId"] == document_id and not r["IsDeleted"]
    ]


def _version_after_insert(writer: Writer, record: Record) -> None:
    org = writer.org
    store = org.store
    document_id = record["ContentDocumentId"]
    documents = store.tables["contentdocument"]
    existing = documents.rows.get(document_id)
    for version in _versions(org, document_id):
        if version["Id"] != record["Id"] and version["IsLatest"]:
            store.put(store.tables["contentversion"], {**version, "IsLatest": False})
    doc = dict(existing) if existing is not None else documents.blank()
    doc.update(
        Id=document_id,
        Title=record["Title"],
        LatestPublishedVersionId=record["Id"],
        ContentSize=record["ContentSize"],
        FileExtension=record["FileExtension"],
        FileType=record["FileType"],
        Description=record["Description"],
        IsDeleted=False,
        LastModifiedDate=record["LastModifiedDate"],
        SystemModstamp=record["SystemModstamp"],
        LastModifiedById=record["LastModifiedById"],
    )
    if existing is None:
        doc.update(
            OwnerId=record["OwnerId"],
            CreatedDate=record["CreatedDate"],
            CreatedById=record["CreatedById"],
        )
    store.put(documents, doc)
    if existing is None:
        _add_link(writer, document_id, record["OwnerId"], "I")
        if record["FirstPublishLocationId"]:
            _add_link(writer, document_id, record["FirstPublishLocationId"], "V")


def _add_link(writer: Writer, document_id: str, entity_id: str, share: str) -> None:
    links = writer.org.store.tables["contentdocumentlink"]
    link = links.blank()
    link.update(
        Id=writer.org.ids.next_id("06A"),
        ContentDocumentId=document_id,
        LinkedEntityId=entity_id,
        ShareType=share,
        Visibility="AllUsers",
        IsDeleted=False,
    )
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        link[name] = writer.org.clock.now_text()
    link["CreatedById"] = link["LastModifiedById"] = writer.org.integration_user_id
    writer.org.store.put(links, link)


def _document_refused(writer: Writer, record: Record) -> None:
    raise RecordFailure.of(
        "INVALID_TYPE_FOR_OPERATION",
        "entity type cannot be inserted: Content Document; insert a ContentVersion",
    )


# -- ContentDocumentLink -----------------------------------------------------------------


def _link_before_insert(writer: Writer, record: Record) -> None:
    for other in writer.table.rows.values():
        if (
            not other["IsDeleted"]
            and other["ContentDocumentId"] == record["ContentDocumentId"]
            and other["LinkedEntityId"] == record["LinkedEntityId"]
        ):
            raise RecordFailure.of(
                "DUPLICATE_VALUE",
                f"duplicate value found: {record['LinkedEntityId']} is already "
                f"linked to document {record['ContentDocumentId']}",
                ("LinkedEntityId",),
            )


def _link_before_delete(writer: Writer, record: Record) -> None:
    document = writer.org.store.tables["contentdocument"].rows.get(
        record["ContentDocumentId"]
    )
    if document is not None and document["OwnerId"] == record["LinkedEntityId"]:
        raise RecordFailure.of(
            "INVALID_OPERATION",
            "The owner's link to a file cannot be deleted; delete the file instead",
        )


# -- Attachment and Document -------------------------------------------------------------


def _body_hook(limit_of: Callable[[Org], int], code: str) -> Callable[..., None]:
    def before_insert(writer: Writer, record: Record) -> None:
        org = writer.org
        limit = min(limit_of(org), org.file_limits.other_multipart)
        data = _content(org, record, "Body", limit, code)
        record["BodyLength"] = len(data)
        _store_blob(writer, record, "Body", data)

    return before_insert


def _body_update_hook(insert_hook: Callable[..., None]) -> Callable[..., None]:
    """An update that gives a new Body replaces the content, with its limits."""

    def before_update(
        writer: Writer, record: Record, values: Mapping[str, Any]
    ) -> None:
        if "Body" in values:
            insert_hook(writer, record)

    return before_update


def _body_hooks(limit_of: Callable[[Org], int], code: str) -> Hooks:
    before_insert = _body_hook(limit_of, code)
    return Hooks(
        before_insert=before_insert, before_update=_body_update_hook(before_insert)
    )


HOOKS: dict[str, Hooks] = {
    "contentversion": Hooks(
        before_insert=_version_before_insert, after_insert=_version_after_insert
    ),
    "contentdocument": Hooks(before_insert=_document_refused),
    "contentdocumentlink": Hooks(
        before_insert=_link_before_insert, before_delete=_link_before_delete
    ),
    "attachment": _body_hooks(
        lambda org: org.file_limits.attachment, "MAXIMUM_SIZE_OF_ATTACHMENT"
    ),
    "document": _body_hooks(
        lambda org: org.file_limits.document, "MAXIMUM_SIZE_OF_DOCUMENT"
    ),
}


# -- HTTP ------------------------------------------------------------------------------


def is_multipart(request: Request) -> bool:
    content_type = request.headers.get("Content-Type") or ""
    return content_type.lower().startswith("multipart/")


def multipart_record(request: Request, obj: ObjectDef) -> tuple[dict[str, Any], bytes]:
    """The entity's JSON fields and the binary part of a multipart insert."""
    blob_field = BLOB_FIELDS.get(obj.name.lower())
    if blob_field is None:
        raise ApiError(
            400, "INVALID_MULTIPART_REQUEST", f"{obj.name} has no blob field"
        )
    head = f"Content-Type: {request.headers.get('Content-Type')}\r\n\r\n".encode()
    message = message_from_bytes(head + request.body, policy=HTTP)
    entity: dict[str, Any] | None = None
    data: bytes | None = None
    for part in message.iter_parts() if message.is_multipart() else ():
        payload = _payload(part)
        if part.get_content_type() == "application/json":
            entity = _entity(payload)
        elif (part.get_param("name", header="content-disposition") or "") in (
            blob_field,
            blob_field.lower(),
        ):
            data = payload
    if entity is None or data is None:
        raise ApiError(
            400,
            "INVALID_MULTIPART_REQUEST",
            f"A multipart insert needs a JSON entity part and a {blob_field} part",
        )
    return entity, data


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _entity(payload: bytes) -> dict[str, Any]:
    try:
        entity = json.loads(payload)
    except ValueError:
        raise ApiError(
            400, "JSON_PARSER_ERROR", "The entity part is not JSON"
        ) from None
    if not isinstance(entity, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    return entity


def with_blob(obj: ObjectDef, values: Mapping[str, Any], data: bytes) -> dict[str, Any]:
    return {**values, BLOB_FIELDS[obj.name.lower()]: data}


def blob_response(org: Org, obj: ObjectDef, raw_id: str, field: str) -> Response:
    """``GET /sobjects/{object}/{id}/{field}``: the binary content of a blob field."""
    field_def = obj.field(field)
    record_id = normalize_id(raw_id)
    if field_def is None or field_def.type != "base64" or record_id is None:
        raise not_found()
    with org.store.lock:
        record = org.store.tables[obj.name.lower()].rows.get(record_id)
        if record is None or record["IsDeleted"]:
            raise not_found()
        data = org.blobs.read(record_id, field_def.name)
    if data is None:
        raise not_found()
    return Response(200, data, OCTET_STREAM)
