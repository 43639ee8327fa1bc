"""Sandbox copies of an org, and their refresh.

A sandbox created from an org holds a copy of its records with the same record ids
(users and record types included), as a full-copy sandbox does, under a new
Organization Id with ``is_sandbox`` true. A refresh does it again: the sandbox's data is
replaced by a fresh copy of its source and it gets another Organization Id, so a client
that remembered the old Organization Id can tell its records are not the ones it knew.

What the copy changes, as Salesforce does: usernames get the ``.<sandbox name>`` suffix
and user e-mail addresses the ``.invalid`` suffix; records in the recycle bin are not
copied; the delete log starts empty; every session and refresh token ends.

What stays with the sandbox across refreshes: its login credentials (client id and
secret of its connected app, password, security token, registered JWT keys) and its URL,
like a refreshed sandbox keeps its login URL and its connected apps. The emulator picks
the org at login by client id, so a sandbox has its own client id rather than its
source's: a client-credentials or JWT login configured once keeps working after any
number of refreshes, and lands in the org with the new Organization Id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from salesforce_emulator.store import Record

if TYPE_CHECKING:
    from salesforce_emulator.org import Org


def _sandbox_user(record: Record, sandbox_name: str) -> Record:
    suffix = "." + sandbox_name.lower()
    if record.get("Username"):
        record["Username"] = str(record["Username"]) + suffix
    if record.get("Email"):
        record["Email"] = str(record["Email"]) + ".invalid"
    return record


def _copy_records(source: Org, sandbox: Org) -> int:
    """Replace every record of ``sandbox`` by a copy of ``source``'s live records."""
    sandbox.store.clear()
    copied = 0
    for key, table in source.store.tables.items():
        target = sandbox.store.tables[key]
        for record in table.rows.values():
            if record["IsDeleted"]:
                continue
            copy = dict(record)
            if key == "user":
                _sandbox_user(copy, sandbox.name)
            sandbox.store.put(target, copy)
            copied += 1
    return copied


def copy_org(source: Org, sandbox: Org) -> int:
    """Make ``sandbox`` a fresh sandbox copy of ``source`` (creation and refresh alike).

    Returns the number of records copied. ``source`` is only read.
    """
    if source is sandbox:
        raise ValueError("an org cannot be a sandbox copy of itself")
    if source.objects is not sandbox.objects:
        raise ValueError("a sandbox needs the same schema as its source org")
    with source.store.lock, sandbox.store.transaction():
        copied = _copy_records(source, sandbox)
        sandbox.start_as_sandbox_of(source)
    return copied
