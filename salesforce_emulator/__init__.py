"""A local HTTPS server that the real simple-salesforce client cannot tell from Salesforce.

One process serves several orgs on one host:port; the org is chosen by ``client_id`` on
the login side and by the bearer token on the data side. No Django here.

Command line::

    python -m salesforce_emulator --port 8443 --data-dir var/emulator --orgs source,target
    python -m salesforce_emulator seed --data-dir var/emulator --org source --accounts 200

Python API::

    from salesforce_emulator import Emulator, seed_demo_data

    with Emulator(orgs=["source", "target"], data_dir=None, port=0,
                  schema_files=["schema.json"], page_size=2000) as emu:
        info = emu.org("source").info()     # org, login_url, instance_url, token_url,
                                            # authorize_url, client_id, client_secret,
                                            # organization_id, user_id, username, password,
                                            # ca_file, api_version, control_url
        target = emu.org("target")
        account_id = target.insert("Account", {"Name": "Acme"})   # same validation as
        target.update("Account", account_id, {"Industry": "Energy"})  # the API, no API
        target.records("Account"); target.count("Account")            # call counted
        target.get("Account", account_id); target.delete("Account", account_id)
        target.query("SELECT Id, Name FROM Account")
        target.faults.update(latency_ms=50, failure_rate=0.1, seed=7)
        target.api_calls; target.reset_api_calls(); target.expire_tokens()
        token = target.issue_token()                  # or emu.token("target") via OAuth
        sf = emu.salesforce("target")                 # simple-salesforce, direct mode
        seed_demo_data(emu.org("source"), accounts=200, seed=42)
        target.recycle_bin(); target.empty_recycle_bin(); target.undelete(ids)
        emu.advance_clock(3600); emu.set_clock_offset(0)   # clock.py
        uat = emu.create_sandbox("uat", "source"); emu.refresh_sandbox("uat")

``Org.insert`` and friends raise ``RecordFailure`` (``.code``, ``.errors``) when
Salesforce would refuse the record. Fault settings are listed in ``faults.py``; the HTTP
control endpoint in ``app.py`` and ``control.py``; the pytest fixtures in
``pytest_fixtures.py``; the recycle bin in ``recycle_bin.py``, Get Deleted / Get Updated
in ``replication.py``, sandbox copies in ``sandbox.py``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from salesforce_emulator.emulator import Emulator
    from salesforce_emulator.errors import RecordError, RecordFailure
    from salesforce_emulator.faults import Faults, ValidationRule
    from salesforce_emulator.org import Org
    from salesforce_emulator.seed import seed_demo_data

# Imported on first use, so that importing one submodule (the SOQL evaluator, the
# pytest fixtures) does not load the server, TLS and seeding code.
_EXPORTS = {
    "Emulator": "salesforce_emulator.emulator",
    "RecordError": "salesforce_emulator.errors",
    "RecordFailure": "salesforce_emulator.errors",
    "Faults": "salesforce_emulator.faults",
    "ValidationRule": "salesforce_emulator.faults",
    "Org": "salesforce_emulator.org",
    "seed_demo_data": "salesforce_emulator.seed",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'salesforce_emulator' has no attribute {name!r}")


__all__ = [
    "Emulator",
    "Faults",
    "Org",
    "RecordError",
    "RecordFailure",
    "ValidationRule",
    "seed_demo_data",
]
