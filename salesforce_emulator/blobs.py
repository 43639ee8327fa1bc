"""Binary content of an org's blob fields (ContentVersion.VersionData, Attachment.Body,
Document.Body), kept out of the records: one file on disk per record and field.

A record holds the REST path of its content instead, as Salesforce returns it in
query results (``/services/data/v59.0/sobjects/ContentVersion/068.../VersionData``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024
CHUNK = 256 * 1024


@dataclass
class FileLimits:
    """Salesforce's size limits for blob fields, in bytes (changeable for tests).

    Multipart inserts take up to 2 GB for ContentVersion and 500 MB for the other
    objects; a non-multipart (JSON) insert takes at most 37.5 MB of base64-encoded
    data. Attachment bodies are capped at 25 MB and documents at 5 MB.
    """

    content_version: int = 2048 * MB
    other_multipart: int = 500 * MB
    json_base64: int = 37 * MB + MB // 2
    attachment: int = 25 * MB
    document: int = 5 * MB


class BlobStore:
    """Blob content in a directory: beside the org's database, or a temporary one."""

    def __init__(self, directory: Path | None) -> None:
        self._temporary = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="sf-blobs-"))
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, record_id: str, field: str) -> Path:
        return self.directory / f"{record_id}.{field}"

    def put(self, record_id: str, field: str, data: bytes) -> None:
        self._path(record_id, field).write_bytes(data)

    def size(self, record_id: str, field: str) -> int | None:
        path = self._path(record_id, field)
        return path.stat().st_size if path.exists() else None

    def chunks(self, record_id: str, field: str) -> Iterator[bytes]:
        with self._path(record_id, field).open("rb") as stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    def read(self, record_id: str, field: str) -> bytes | None:
        path = self._path(record_id, field)
        return path.read_bytes() if path.exists() else None

    def copy_from(self, other: BlobStore) -> None:
        """Copy every blob of ``other`` (a sandbox copy of its org)."""
        for path in other.directory.glob("*.*"):
            shutil.copyfile(path, self.directory / path.name)

    def clear(self) -> None:
        for path in self.directory.glob("*.*"):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._temporary:
            shutil.rmtree(self.directory, ignore_errors=True)
