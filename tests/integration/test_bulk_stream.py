"""Bulk API 2.0 ingest jobs streamed (issue 12): the upload is produced while it is
sent, and the job's results are paired with the records as they are read back.

Real simple-salesforce client and requests session against the emulator."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from migrations_app.salesforce import client as client_module
from migrations_app.salesforce.auth import Token
from migrations_app.salesforce.client import BulkCsv, SalesforceClient, _csv_lines
from migrations_app.salesforce.errors import SalesforceError
from salesforce_emulator import Emulator, Org
from tests.integration.conftest import CLIENT_API_VERSION, client_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def reference_csv(records: list[dict[str, Any]], *, update: bool = False) -> bytes:
    """The job's CSV written in one piece, the way it was built before streaming."""
    columns = sorted({name for record in records for name in record})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    null = "#N/A" if update else ""
    for record in records:
        writer.writerow([null if record.get(c) is None else record[c] for c in columns])
    return buffer.getvalue().encode()


# -- the CSV, piece by piece -----------------------------------------------------------


def test_the_pieces_make_the_whole_csv_and_can_be_produced_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "BULK_CHUNK_BYTES", 100)
    records = [
        {"LastName": f"Row {n}, ü", "Title": None, "Description": 'a "b"\nc'}
        for n in range(50)
    ]
    data = BulkCsv(records, update=True)

    pieces = list(data)

    assert len(pieces) > 10
    assert all(len(piece) < 100 + 60 for piece in pieces)  # a piece and one row
    assert b"".join(pieces) == reference_csv(records, update=True)
    assert b"#N/A" in pieces[0]
    assert list(data) == pieces  # a retried upload sends the same bytes


def test_result_lines_survive_any_split_of_the_bytes() -> None:
    text = 'sf__Id,LastName\n001,"two\r\nlines, 日本"\n002,Ünïcödé 🚀\n003,"a ""q"""'
    pieces = [bytes([byte]) for byte in text.encode()]

    rows = list(csv.reader(_csv_lines(pieces)))

    assert rows == list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1] == ["001", "two\r\nlines, 日本"]


# -- through the emulator --------------------------------------------------------------


def test_insert_results_pair_with_the_records_sent(
    emulator: Emulator, target: Org
) -> None:
    records: list[dict[str, Any]] = [
        {"LastName": "Comma, Inc", "Email": "a@example.com", "Description": None},
        {"LastName": 'Say "hi"', "Description": "line one\nline two"},
        {"LastName": "Windows", "Description": "one\r\ntwo"},
        {"LastName": "Ünïcödé 日本 🚀", "Description": "ß, é"},
        {"LastName": None, "Email": "nobody@example.com"},
        {"LastName": "Bad mail", "Email": "not-an-email"},
        {"LastName": "Twin"},
        {"LastName": "Twin"},
        {"LastName": "Ünïcödé 日本 🚀", "Email": "also, not an email"},
    ]

    results = client_of(emulator).bulk_write("Contact", "insert", records)

    ok, failed = True, False
    assert [r.success for r in results] == [ok] * 4 + [failed] * 2 + [ok] * 2 + [failed]
    for record, result in zip(records, results, strict=True):
        if not result.success:
            continue
        saved = target.get("Contact", result.id or "")
        assert saved is not None
        assert saved["LastName"] == record["LastName"]
        assert saved["Description"] == record.get("Description")
    assert results[6].id != results[7].id
    assert results[4].error_code == "REQUIRED_FIELD_MISSING"
    assert results[4].error_fields == ["LastName"]
    assert results[5].error_code == "INVALID_EMAIL_ADDRESS"
    assert results[8].error_code == "INVALID_EMAIL_ADDRESS"
    assert target.count("Contact") == 6


def test_update_sends_nulls_as_na_and_pairs_its_failures(
    emulator: Emulator, target: Org
) -> None:
    first, second, third, gone = (
        target.insert(
            "Contact",
            {"LastName": name, "Title": "CEO", "Phone": "1", "Email": "x@example.com"},
        )
        for name in ("First", "Second", "Third", "Gone")
    )
    target.delete("Contact", gone)
    records: list[dict[str, Any]] = [
        {"Id": first, "Title": None, "Phone": "2"},
        {"Id": second, "Phone": None, "Description": 'é, "x"\nnew'},
        {"Id": gone, "Title": "Back"},
        {"Id": third, "Email": "not-an-email"},
    ]

    results = client_of(emulator).bulk_write("Contact", "update", records)

    assert [r.success for r in results] == [True, True, False, False]
    assert [r.id for r in results[:2]] == [first, second]
    assert results[2].error_code == "ENTITY_IS_DELETED"
    assert results[3].error_code == "INVALID_EMAIL_ADDRESS"
    saved = [target.get("Contact", i) or {} for i in (first, second, third)]
    assert [(s["Title"], s["Phone"]) for s in saved] == [
        (None, "2"),
        ("CEO", None),
        ("CEO", "1"),
    ]
    assert saved[1]["Description"] == 'é, "x"\nnew'
    assert saved[2]["Email"] == "x@example.com"


def test_an_update_without_failures_is_paired_from_its_ids(
    emulator: Emulator, target: Org
) -> None:
    ids = [target.insert("Contact", {"LastName": f"N{n}"}) for n in range(3)]

    results = client_of(emulator).bulk_write(
        "Contact", "update", [{"Id": i, "Title": "Same"} for i in ids]
    )

    assert [(r.success, r.id) for r in results] == [(True, i) for i in ids]


def test_an_upload_refused_for_an_expired_session_is_sent_again_whole(
    emulator: Emulator, target: Org
) -> None:
    def reauthenticate() -> Token:
        return Token(
            access_token=emulator.token("target"), instance_url=emulator.base_url
        )

    client = client_of(emulator, reauthenticate=reauthenticate)
    records = [{"LastName": f"Again {n}"} for n in range(500)]

    results = client.bulk_write(
        "Contact",
        "insert",
        records,
        # The token expires between the job's creation and its upload.
        on_job=lambda job_id: target.faults.update(expire_tokens=True),
    )

    assert all(r.success for r in results)
    assert target.count("Contact") == 500
    names = {(target.get("Contact", r.id or "") or {})["LastName"] for r in results}
    assert names == {r["LastName"] for r in records}


def test_a_session_ended_again_right_after_a_new_login_is_renewed_again(
    emulator: Emulator, target: Org
) -> None:
    """With calls in flight together, a session can end while a refused call is on
    its way again; the call logs in once more instead of failing its records."""
    renewals: list[Token] = []

    def reauthenticate() -> Token:
        renewals.append(
            Token(access_token=emulator.token("target"), instance_url=emulator.base_url)
        )
        if len(renewals) == 1:
            target.expire_tokens()  # before the call is sent again
        return renewals[-1]

    client = client_of(emulator, reauthenticate=reauthenticate)
    target.expire_tokens()

    [result] = client.create("Contact", [{"LastName": "Once"}])

    assert result.success
    assert len(renewals) == 2
    assert target.count("Contact") == 1


def test_the_session_never_sends_an_upload_again_by_itself() -> None:
    """Salesforce takes one upload per job: urllib3 may retry reads, not a PUT."""
    session = client_module.build_session(ca_file="", usage=client_module.ApiUsage())
    adapter = session.get_adapter("https://example.my.salesforce.com")
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    retry = adapter.max_retries

    assert retry.is_retry("GET", 503)
    assert not retry.is_retry("PUT", 503)
    assert "PUT" not in (retry.allowed_methods or ())


def test_a_job_over_the_upload_limit_is_aborted_and_fails_for_good(
    emulator: Emulator, target: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "BULK_UPLOAD_MAX_BYTES", 2_000)
    monkeypatch.setattr(client_module, "BULK_CHUNK_BYTES", 500)
    records = [{"LastName": f"Large {n}"} for n in range(300)]
    jobs: list[str] = []

    with pytest.raises(SalesforceError) as caught:
        client_of(emulator, label="target").bulk_write(
            "Contact", "insert", records, on_job=jobs.append
        )

    assert caught.value.code == "BULK_UPLOAD_TOO_LARGE"
    assert caught.value.permanent
    assert caught.value.message.startswith("target: ")
    assert target.jobs[jobs[0]].state == "Aborted"
    assert target.count("Contact") == 0


# -- memory ----------------------------------------------------------------------------


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An emulator in a process of its own, so that tracemalloc in this one sees the
    client alone; its org "target" as its CLI prints it."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "salesforce_emulator", "--port", "0"),
            *("--orgs", "target", "--data-dir", str(tmp_path)),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait()


def token_of(org: dict[str, Any]) -> Token:
    with requests.Session() as http:
        http.verify, http.trust_env = org["ca_file"], False
        response = http.post(
            f"{org['login_url']}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(org["client_id"], org["client_secret"]),
        )
    response.raise_for_status()
    return Token(
        access_token=response.json()["access_token"],
        instance_url=org["instance_url"],
    )


def many_contacts(count: int) -> list[dict[str, Any]]:
    return [
        {
            "LastName": f"Contact {n}, the {n}th",
            "FirstName": f"Zoë {n}",
            "Email": f"contact{n}@example.com",
            "Title": f"Head of {n % 40} department",
            "Description": f'Met at the fair, {n}\nSays: "call back" {"·" * 40}',
            "Phone": None,
        }
        for n in range(count)
    ]


def test_upload_memory_stays_far_below_the_size_of_the_csv(
    emulator_process: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = SalesforceClient(
        token=token_of(emulator_process),
        api_version=CLIENT_API_VERSION,
        ca_file=emulator_process["ca_file"],
    )
    records = many_contacts(20_000)
    csv_bytes = len(reference_csv(records))
    uploads: list[tuple[str, int]] = []
    send = client.session.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if method != "PUT":
            return send(method, url, *args, **kwargs)
        tracemalloc.reset_peak()
        response = send(method, url, *args, **kwargs)
        encoding = str(response.request.headers.get("Transfer-Encoding", ""))
        uploads.append((encoding, tracemalloc.get_traced_memory()[1]))
        return response

    monkeypatch.setattr(client.session, "request", request)
    # Started after the records were built: what it traces comes on top of them.
    tracemalloc.start()
    try:
        results = client.bulk_write("Contact", "insert", records)
    finally:
        tracemalloc.stop()

    [(encoding, upload_peak)] = uploads
    assert encoding == "chunked"
    assert upload_peak < csv_bytes / 4, (upload_peak, csv_bytes)
    assert all(r.success for r in results)
    assert len({r.id for r in results}) == len(records)
