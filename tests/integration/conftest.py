"""Two emulated orgs served over HTTPS, registered as Orgs through the real login flow."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from subprocess import Popen
from typing import Any

import pytest

from migrations_app.models import Org, Run, Template
from migrations_app.salesforce.auth import Token
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.selectors import run_result
from migrations_app.services.orgs import org_add
from migrations_app.services.runs import run_create, run_execute
from migrations_app.services.templates import template_import
from salesforce_emulator import Emulator
from salesforce_emulator import Org as EmulatedOrg
from tests.integration.workers import stop_worker

pytestmark = pytest.mark.integration

CLIENT_API_VERSION = "59.0"


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator(orgs=["source", "target"], port=0) as emu:
        yield emu


@dataclass
class OrgPair:
    emulator: Emulator
    source: Org
    target: Org

    @property
    def source_org(self) -> Any:
        return self.emulator.org("source")

    @property
    def target_org(self) -> Any:
        return self.emulator.org("target")

    def migrate(
        self, template: Template, strategy: str, **options: Any
    ) -> dict[str, Any]:
        dry_run = options.pop("dry_run", False)
        run = run_create(
            template=template,
            source_org=self.source,
            target_org=self.target,
            strategy=strategy,
            dry_run=dry_run,
            options=options,
        )
        return run_result(run=run_execute(run_id=run.pk))


def register(emulator: Emulator, name: str) -> Org:
    info = emulator.org(name).info()
    return org_add(
        name=name,
        login_url=info["login_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        ca_file=info["ca_file"],
    )


@pytest.fixture
def target(emulator: Emulator) -> EmulatedOrg:
    """The emulator's "target" org, emptied and without faults (modules may override)."""
    org = emulator.org("target")
    org.reset_data()
    org.faults.reset()
    return org


def client_of(emulator: Emulator, **options: Any) -> SalesforceClient:
    """The app's client for the emulator's "target" org, given its token directly."""
    return SalesforceClient(
        token=Token(
            access_token=emulator.token("target"), instance_url=emulator.base_url
        ),
        api_version=CLIENT_API_VERSION,
        ca_file=emulator.ca_file,
        **options,
    )


@pytest.fixture
def orgs(emulator: Emulator, db: None) -> OrgPair:
    for name in ("source", "target"):
        emulator.org(name).reset_data()
        emulator.org(name).faults.reset()
    return OrgPair(emulator, register(emulator, "source"), register(emulator, "target"))


@pytest.fixture
def workers() -> Iterator[list[Popen[bytes]]]:
    """The real worker processes a test starts (workers.start_worker), stopped at its
    end."""
    started: list[Popen[bytes]] = []
    yield started
    for process in started:
        stop_worker(process)


def make_template(name: str, *objects: dict[str, Any]) -> Template:
    return template_import(data={"name": name, "objects": list(objects)})


def last_run() -> Run:
    return Run.objects.order_by("-pk").first()  # type: ignore[return-value]
