"""Request bodies sent with ``Transfer-Encoding: chunked``, as a streamed Bulk API 2.0
upload is: decoding, limits, and the answers to bodies that cannot be read."""

from __future__ import annotations

import http.client
import io
import ssl
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from salesforce_emulator import Emulator, Org, transport
from salesforce_emulator.errors import ApiError

from .conftest import API_VERSION


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    """``pieces`` framed as a chunked body, as a client would send them."""
    framed = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    return framed + b"0\r\n" + trailer + b"\r\n"


def read_chunked(body: bytes, limit: int = 1000) -> bytes:
    return transport.read_chunked(io.BytesIO(body), limit)


def test_chunks_are_joined_in_order() -> None:
    assert read_chunked(chunked(b"Name,", b"Email\n", b"A,a@example.com\n")) == (
        b"Name,Email\nA,a@example.com\n"
    )


def test_extensions_trailers_and_bare_line_feeds_are_accepted() -> None:
    body = b"3;name=value\r\nabc\r\n2 ; x\nde\n0\r\nExpires: never\r\n\r\n"
    assert read_chunked(body) == b"abcde"


def test_an_empty_chunked_body_is_empty() -> None:
    assert read_chunked(b"0\r\n\r\n") == b""


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", "'zz' is not a chunk size"),
        (b"0x3\r\nabc\r\n0\r\n\r\n", "'0x3' is not a chunk size"),
        (b"-3\r\nabc\r\n0\r\n\r\n", "'-3' is not a chunk size"),
        (b"\r\nabc\r\n0\r\n\r\n", "'' is not a chunk size"),
        (b"3\r\nabcdef\r\n0\r\n\r\n", "a chunk is longer than its size"),
        (b"5\r\nabc", "the body ends inside a chunk"),
        (b"3\r\nabc\r\n", "a line is cut short"),
        (b"3\r\nabc\r\n0\r\n", "a line is cut short"),
        (b"1" * (transport.MAX_LINE_BYTES + 10) + b"\r\n", "too long"),
    ],
)
def test_a_malformed_chunked_body_is_a_bad_request(body: bytes, reason: str) -> None:
    with pytest.raises(ApiError) as caught:
        read_chunked(body)
    assert caught.value.status == HTTPStatus.BAD_REQUEST
    assert caught.value.code == "INVALID_REQUEST"
    assert caught.value.message.startswith("Malformed chunked body: ")
    assert reason in caught.value.message


def test_a_chunked_body_over_the_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(ApiError) as caught:
        read_chunked(chunked(b"a" * 600, b"b" * 600), limit=1000)
    assert caught.value.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert read_chunked(chunked(b"a" * 500, b"b" * 500), limit=1000) == (
        b"a" * 500 + b"b" * 500
    )


@pytest.mark.parametrize(
    ("length", "status"),
    [
        ("ten", HTTPStatus.BAD_REQUEST),
        ("-1", HTTPStatus.BAD_REQUEST),
        ("1001", HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
        ("20", HTTPStatus.BAD_REQUEST),  # longer than what was sent
    ],
)
def test_a_sized_body_that_cannot_be_read_is_refused(
    length: str, status: HTTPStatus
) -> None:
    with pytest.raises(ApiError) as caught:
        transport.read_sized(io.BytesIO(b"0123456789"), length, 1000)
    assert caught.value.status == status


# -- over the wire ---------------------------------------------------------------------


def test_a_bulk_upload_can_be_streamed(
    sf: Any, session: requests.Session, data_url: str, token: str, org: Org
) -> None:
    job = sf.bulk2.Contact._client.create_job("insert")

    def body() -> Iterator[bytes]:
        yield b"LastName,Description\n"
        for number in range(300):
            yield f'Streamed {number},"two\nlines, ünïcode"\n'.encode()

    response = session.put(
        f"{data_url}/jobs/ingest/{job['id']}/batches",
        data=body(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
    )
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == HTTPStatus.CREATED
    sf.bulk2.Contact._client.close_job(job["id"])
    assert org.count("Contact") == 300
    descriptions = {r["Description"] for r in org.records("Contact")}
    assert descriptions == {"two\nlines, ünïcode"}


def raw_request(emu: Emulator, token: str, body: bytes) -> http.client.HTTPResponse:
    """PUT ``body`` as it is, framed as chunked: requests would only send it well-formed."""
    address = urlsplit(emu.base_url)
    connection = http.client.HTTPSConnection(
        address.hostname or "",
        address.port,
        context=ssl.create_default_context(cafile=emu.ca_file),
    )
    connection.putrequest("POST", f"/services/data/v{API_VERSION}/sobjects/Account/")
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    connection.send(body)
    return connection.getresponse()


def test_a_malformed_chunked_body_is_answered_and_the_connection_closed(
    emu: Emulator, token: str, org: Org
) -> None:
    response = raw_request(emu, token, b'zz\r\n{"Name": "X"}\r\n0\r\n\r\n')
    assert response.status == HTTPStatus.BAD_REQUEST
    assert response.getheader("Connection") == "close"
    error = response.read().decode()
    assert "INVALID_REQUEST" in error
    assert "Malformed chunked body" in error
    assert org.count("Account") == 0


def test_chunked_json_body_is_read(emu: Emulator, token: str, org: Org) -> None:
    response = raw_request(emu, token, chunked(b'{"Name": ', b'"Chunked"}'))
    assert response.status == HTTPStatus.CREATED
    assert org.count("Account") == 1


def test_a_streamed_body_over_the_limit_gets_an_answer(
    session: requests.Session,
    data_url: str,
    token: str,
    org: Org,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "MAX_BODY_BYTES", 10_000)

    def body() -> Iterator[bytes]:
        yield b'{"Name": "'
        for _ in range(50):
            yield b"x" * 1000
        yield b'"}'

    response = session.post(
        f"{data_url}/sobjects/Account/",
        data=body(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()[0]["errorCode"] == "REQUEST_ENTITY_TOO_LARGE"
    assert org.count("Account") == 0
