"""HTTP details (keep-alive, chunked bodies, unknown paths) and schema files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from salesforce_emulator import Emulator
from salesforce_emulator.metadata import SchemaError, build_schema


def test_keep_alive_reuses_one_connection(sf: Any, emu: Emulator) -> None:
    for _ in range(5):
        sf.query("SELECT COUNT() FROM Account")
        sf.bulk2.Account.insert(records=[{"Name": "x"}], wait=0)
    pools = sf.session.get_adapter(emu.base_url).poolmanager.pools
    pool = pools.get(next(iter(pools.keys())))
    assert pool.num_connections == 1
    assert pool.num_requests >= 30


def test_chunked_request_body(
    session: requests.Session, data_url: str, token: str
) -> None:
    def body() -> Any:
        yield b'{"Name": '
        yield b'"Chunked"}'

    response = session.post(
        f"{data_url}/sobjects/Account/",
        data=body(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 201


def test_unknown_paths(session: requests.Session, emu: Emulator, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    assert session.get(f"{emu.base_url}/nothing", headers=headers).status_code == 404
    bad_version = session.get(
        f"{emu.base_url}/services/data/latest/sobjects", headers=headers
    )
    assert bad_version.status_code == 404
    assert bad_version.json()[0]["errorCode"] == "NOT_FOUND"


def test_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(
        json.dumps(
            {
                "objects": [
                    {
                        "name": "Project__c",
                        "label": "Project",
                        "fields": [
                            {"name": "Budget__c", "type": "currency", "required": True},
                            {
                                "name": "Lead__c",
                                "type": "lookup",
                                "referenceTo": ["Contact"],
                            },
                            {"name": "Done__c", "type": "checkbox"},
                        ],
                    }
                ],
                "fields": {
                    "Contact": [{"name": "Nickname__c", "type": "text", "length": 30}]
                },
            }
        )
    )
    objects = build_schema([path])
    project = objects["project__c"]
    assert project.key_prefix == "a00"
    budget = project.field("Budget__c")
    assert budget is not None
    assert budget.required_on_create
    assert budget.scale == 2
    lookup = project.field("Lead__c")
    assert lookup is not None
    assert lookup.relationship_name == "Lead__r"
    assert lookup.child_relationship_name == "Projects__r"
    done = project.field("Done__c")
    assert done is not None
    assert done.default_value is False
    assert not done.nillable
    assert project.field("OwnerId") is not None
    assert project.field("Name") is not None
    assert objects["contact"].field("Nickname__c") is not None


@pytest.mark.parametrize(
    "schema",
    [
        {"objects": [{"name": "NoSuffix", "fields": []}]},
        {"objects": [{"name": "X__c", "fields": [{"name": "Bad", "type": "string"}]}]},
        {"objects": [{"name": "X__c", "fields": [{"name": "A__c", "type": "weird"}]}]},
        {
            "objects": [
                {"name": "X__c", "fields": [{"name": "A__c", "type": "reference"}]}
            ]
        },
        {
            "objects": [
                {
                    "name": "X__c",
                    "fields": [
                        {
                            "name": "A__c",
                            "type": "reference",
                            "referenceTo": ["Nope__c"],
                        }
                    ],
                }
            ]
        },
        {"fields": {"Nope": [{"name": "A__c"}]}},
    ],
)
def test_schema_errors(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        build_schema(extra=[schema])
