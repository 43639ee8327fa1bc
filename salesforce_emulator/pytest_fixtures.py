"""pytest fixtures for tests that need Salesforce orgs (plain pytest, no Django).

Use from a conftest.py::

    from salesforce_emulator.pytest_fixtures import *  # noqa: F403

or load it as a plugin (``-p salesforce_emulator.pytest_fixtures``, or ``pytest_plugins``
in the rootdir conftest).

Fixtures:

``sf_emulator``        session-scoped in-memory ``Emulator`` with orgs "source" and
                       "target", started once per test session
``sf_emulator_clean``  the same emulator, with both orgs' data (except users and record
                       types), faults and API counters reset and its clock set back to
                       real time before the test
``sf_source_org``      ``Org`` "source" (after the reset)
``sf_target_org``      ``Org`` "target" (after the reset)
``sf_http_session``    requests.Session trusting the emulator CA (trust_env off)
``sf_source``          simple-salesforce client for "source" (direct mode, OAuth token)
``sf_target``          simple-salesforce client for "target"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from salesforce_emulator.emulator import Emulator
from salesforce_emulator.org import Org

if TYPE_CHECKING:
    import requests
    from simple_salesforce import Salesforce


@pytest.fixture(scope="session")
def sf_emulator() -> Iterator[Emulator]:
    emulator = Emulator(orgs=["source", "target"], data_dir=None, port=0)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def sf_emulator_clean(sf_emulator: Emulator) -> Emulator:
    sf_emulator.set_clock_offset(0)
    for org in sf_emulator.all_orgs():
        org.reset_data()
    return sf_emulator


@pytest.fixture
def sf_source_org(sf_emulator_clean: Emulator) -> Org:
    return sf_emulator_clean.org("source")


@pytest.fixture
def sf_target_org(sf_emulator_clean: Emulator) -> Org:
    return sf_emulator_clean.org("target")


@pytest.fixture
def sf_http_session(sf_emulator: Emulator) -> Iterator[requests.Session]:
    session = sf_emulator.session()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def sf_source(
    sf_emulator_clean: Emulator, sf_http_session: requests.Session
) -> Salesforce:
    return sf_emulator_clean.salesforce("source", session=sf_http_session)


@pytest.fixture
def sf_target(
    sf_emulator_clean: Emulator, sf_http_session: requests.Session
) -> Salesforce:
    return sf_emulator_clean.salesforce("target", session=sf_http_session)
