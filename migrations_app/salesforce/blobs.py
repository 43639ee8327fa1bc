"""Binary content of blob fields (ContentVersion.VersionData, Attachment.Body,
Document.Body): streamed downloads, and inserts as base64 JSON or streamed multipart.

Memory stays bounded whatever the size: a download is read in chunks, and a large
insert sends those chunks as they arrive inside a multipart body whose length is
known in advance (so it goes with a Content-Length, not chunked). Small content goes
as base64 in JSON, which Salesforce limits to 37.5 MB.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from migrations_app.salesforce.client import SalesforceClient
from migrations_app.salesforce.errors import error_from_content

CHUNK_SIZE = 256 * 1024
Content = Callable[[], Iterator[bytes]]


def blob_chunks(client: SalesforceClient, path: str) -> Iterator[bytes]:
    """The content at ``path`` (a blob field's REST path), in chunks as they arrive."""
    response: requests.Response = client._call(
        lambda sf: _open(client, sf, "GET", path)
    )
    with response:
        yield from response.iter_content(CHUNK_SIZE)


def insert_inline(
    client: SalesforceClient,
    sobject: str,
    fields: dict[str, Any],
    blob_field: str,
    content: Content,
) -> str:
    """Insert a record whose small content goes as base64 in JSON; return its id."""
    encoded = base64.b64encode(b"".join(content())).decode("ascii")
    record = {**fields, blob_field: encoded}
    result = client._call(lambda sf: getattr(sf, sobject).create(record))
    return str(result["id"])


def insert_multipart(
    client: SalesforceClient,
    sobject: str,
    fields: dict[str, Any],
    blob_field: str,
    content: Content,
    size: int,
) -> str:
    """Insert a record with its content streamed in a multipart body; return its id.

    ``content`` is called again if the session expired and the call is retried.
    """

    def send(sf: Salesforce) -> str:
        body = MultipartBody(fields, blob_field, content(), size)
        response = _open(
            client,
            sf,
            "POST",
            f"/services/data/v{sf.sf_version}/sobjects/{sobject}/",
            data=body,
            content_type=body.content_type,
        )
        with response:
            return str(response.json()["id"])

    return str(client._call(send))


class MultipartBody:
    """A multipart/form-data body: the record as JSON, then the binary part.

    Iterating yields the parts as bytes, pulling the binary part from ``chunks``;
    ``len()`` is the exact body length, so requests sends a Content-Length.
    """

    def __init__(
        self,
        fields: dict[str, Any],
        blob_field: str,
        chunks: Iterator[bytes],
        size: int,
    ) -> None:
        self.boundary = f"datamigrator-{secrets.token_hex(12)}"
        filename = str(fields.get("PathOnClient") or fields.get("Name") or "file")
        self.head = (
            f"--{self.boundary}\r\n"
            'Content-Disposition: form-data; name="entity_content"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{json.dumps(fields)}\r\n"
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{blob_field}"; '
            f'filename="{_quoted(filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.chunks = chunks
        self.size = size

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        sent = 0
        for chunk in self.chunks:
            sent += len(chunk)
            yield chunk
        if sent != self.size:
            raise ValueError(f"expected {self.size} bytes of content, got {sent}")
        yield self.tail


def _quoted(name: str) -> str:
    return name.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "")


def _open(
    client: SalesforceClient,
    sf: Salesforce,
    method: str,
    path: str,
    *,
    data: Any = None,
    content_type: str = "",
) -> requests.Response:
    """A streamed request on the client's session; Salesforce errors raised as such."""
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.session.request(
        method,
        f"https://{sf.sf_instance}{path}",
        headers=headers,
        data=data,
        stream=True,
        timeout=client.timeout,
    )
    if response.status_code < 400:
        return response
    with response:
        content = _error_content(response)
    if response.status_code == 401:
        raise SalesforceExpiredSession(path, 401, "blob", content)
    raise error_from_content(response.status_code, content)


def _error_content(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
