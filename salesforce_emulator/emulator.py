"""The ``Emulator``: several orgs behind one HTTPS host:port."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from salesforce_emulator import sandbox
from salesforce_emulator.app import App
from salesforce_emulator.clock import Clock
from salesforce_emulator.metadata import build_schema
from salesforce_emulator.org import DEFAULT_API_VERSION, Org
from salesforce_emulator.schema import ObjectDef
from salesforce_emulator.tls import (
    TlsFiles,
    ensure_certificates,
    hosts_for,
    server_context,
)
from salesforce_emulator.transport import EmulatorServer

if TYPE_CHECKING:
    import requests
    from simple_salesforce import Salesforce

LOOPBACK = ("localhost", "127.0.0.1")


def _existing_pods(directory: Path) -> set[str]:
    """Pods used by org files already in ``directory`` (so new orgs never collide)."""
    pods = set()
    for path in directory.glob("*.sqlite3"):
        try:
            with sqlite3.connect(str(path)) as db:
                row = db.execute(
                    "SELECT value FROM meta WHERE key = 'identity'"
                ).fetchone()
        except sqlite3.Error:
            continue
        if row:
            pods.add(json.loads(row[0])["pod"])
    return pods


class Emulator:
    """Serve one or more emulated orgs over HTTPS; see the package docstring."""

    def __init__(
        self,
        orgs: Sequence[str] = ("source", "target"),
        *,
        data_dir: str | Path | None = None,
        host: str = "localhost",
        port: int = 0,
        bind: str | None = None,
        schema_files: Sequence[str | Path] = (),
        schema: Sequence[Mapping[str, Any]] = (),
        page_size: int = 2000,
        certfile: str | Path | None = None,
        keyfile: str | Path | None = None,
        ca_file: str | Path | None = None,
        faults: Mapping[str, Any] | None = None,
        auto_approve: bool = False,
        control: bool = True,
        verbose: bool = False,
        clock_offset: float = 0.0,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.bind = bind or ("127.0.0.1" if host in LOOPBACK else host)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.page_size = page_size
        self.auto_approve = auto_approve
        self.control = control
        self.verbose = verbose
        self._tls_args = (certfile, keyfile, ca_file)
        self._tmp_dir: Path | None = None
        self.objects: dict[str, ObjectDef] = build_schema(schema_files, schema)
        # One clock for every org: all timestamps the emulator produces come from it.
        self.clock = Clock(clock_offset)
        self.orgs: dict[str, Org] = {}
        self._by_client: dict[str, Org] = {}
        self._by_token_prefix: dict[str, Org] = {}
        self._lock = threading.RLock()
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        self.tls: TlsFiles | None = None
        self.port = 0
        for name in orgs:
            org = self.add_org(name)
            if faults:
                org.faults.update(**faults)

    # -- orgs -------------------------------------------------------------------------------

    @property
    def org_dir(self) -> Path | None:
        return self.data_dir / "orgs" if self.data_dir is not None else None

    def add_org(self, name: str) -> Org:
        """Open (or create) an org; works before and after start()."""
        with self._lock:
            if name in self.orgs:
                return self.orgs[name]
            org_dir = self.org_dir
            path = None
            taken = {o.ids.pod for o in self.orgs.values()}
            if org_dir is not None:
                org_dir.mkdir(parents=True, exist_ok=True)
                taken |= _existing_pods(org_dir)
                path = org_dir / f"{name}.sqlite3"
            org = Org(
                name,
                self.objects,
                path=path,
                taken_pods=taken,
                page_size=self.page_size,
                clock=self.clock,
            )
            self.orgs[name] = org
            self._by_client[org.client_id] = org
            self._by_token_prefix[org.tokens.prefix] = org
            self._publish(org)
            return org

    def org(self, name: str) -> Org:
        try:
            return self.orgs[name]
        except KeyError:
            raise KeyError(
                f"no org named {name!r}; orgs: {', '.join(self.orgs)}"
            ) from None

    def all_orgs(self) -> list[Org]:
        return list(self.orgs.values())

    def org_by_client_id(self, client_id: str) -> Org | None:
        return self._by_client.get(client_id)

    def org_by_token(self, token: str) -> Org | None:
        return self._by_token_prefix.get(token[:16]) if len(token) > 16 else None

    # -- sandboxes (see sandbox.py) ----------------------------------------------------------

    def create_sandbox(self, name: str, source: str) -> Org:
        """A new org ``name``: a sandbox copy of org ``source`` (same records and ids,
        new Organization Id, ``is_sandbox`` true). Works before and after start()."""
        with self._lock:
            if name in self.orgs:
                raise ValueError(f"an org named {name!r} already exists")
            source_org = self.org(source)
            org = self.add_org(name)
            self._copy(source_org, org)
            return org

    def refresh_sandbox(self, name: str, source: str | None = None) -> Org:
        """Refresh sandbox ``name`` from ``source`` (default: the org it was copied
        from): its data is replaced by a fresh copy and it gets a new Organization Id;
        its login credentials and URL stay, its sessions end."""
        with self._lock:
            org = self.org(name)
            source_name = source or org.sandbox_of
            if source_name is None:
                raise ValueError(f"org {name!r} is not a sandbox: name its source org")
            self._copy(self.org(source_name), org)
            return org

    def _copy(self, source: Org, org: Org) -> None:
        old_prefix = org.tokens.prefix
        sandbox.copy_org(source, org)
        # Tokens start with the Organization Id, which the copy changed.
        self._by_token_prefix.pop(old_prefix, None)
        self._by_token_prefix[org.tokens.prefix] = org

    # -- clock (see clock.py) -----------------------------------------------------------------

    def now(self) -> datetime:
        """The emulated Salesforce's current time (real time + the clock offset)."""
        return self.clock.now()

    @property
    def clock_offset(self) -> float:
        """Seconds the emulator's clock runs ahead of real time."""
        return self.clock.offset_seconds

    def advance_clock(self, seconds: float) -> datetime:
        """Move every org's clock ``seconds`` forward (e.g. 3600: "an hour later").

        What the time jump implies happens: tokens older than their lifetime expire,
        recycle-bin records older than 15 days are purged. Returns the new now.
        """
        now = self.clock.advance(seconds)
        self._expire_recycle_bins()
        return now

    def set_clock_offset(self, seconds: float) -> datetime:
        """Set the clock ``seconds`` (>= 0) ahead of real time; 0 resets it."""
        now = self.clock.set_offset(seconds)
        self._expire_recycle_bins()
        return now

    def _expire_recycle_bins(self) -> None:
        for org in self.all_orgs():
            org.expire_recycle_bin()

    def _publish(self, org: Org) -> None:
        org.base_url = self.base_url if self.port else ""
        org.ca_file = str(self.tls.ca_file) if self.tls else ""
        org.api_version = DEFAULT_API_VERSION

    # -- server -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ca_file(self) -> str:
        return str(self.tls.ca_file) if self.tls else ""

    def _tls_files(self) -> TlsFiles:
        certfile, keyfile, ca_file = self._tls_args
        if certfile is not None:
            return TlsFiles(
                Path(ca_file or certfile),
                Path(certfile),
                Path(keyfile) if keyfile else None,
            )
        if self.data_dir is not None:
            directory = self.data_dir / "tls"
        else:
            self._tmp_dir = Path(tempfile.mkdtemp(prefix="sf-emulator-"))
            directory = self._tmp_dir
        return ensure_certificates(directory, hosts_for(self.host))

    def start(self) -> Emulator:
        """Bind, then serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self.tls = self._tls_files()
        server = EmulatorServer(
            (self.bind, self.requested_port),
            App(self),
            server_context(self.tls),
            verbose=self.verbose,
            clock=self.clock.time,
        )
        server.on_exit = self._flush_all
        self._server = server
        self.port = server.server_address[1]
        for org in self.orgs.values():
            self._publish(org)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="salesforce-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close connections and org files."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for org in self.orgs.values():
            org.close()
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    def _flush_all(self) -> None:
        for org in self.orgs.values():
            with org.store.transaction():
                pass

    def wait(self) -> None:
        """Block until the server thread ends (stop() from another thread or a signal)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- client helpers ----------------------------------------------------------------------

    def session(self) -> requests.Session:
        """A requests session that trusts the emulator CA and ignores the environment."""
        import requests

        session = requests.Session()
        session.verify = self.ca_file
        session.trust_env = False
        return session

    def token(self, org_name: str) -> str:
        """An access token from the token endpoint (client_credentials grant)."""
        org = self.org(org_name)
        with self.session() as session:
            response = session.post(
                f"{self.base_url}/services/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(org.client_id, org.client_secret),
                timeout=30,
            )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def salesforce(
        self,
        org_name: str,
        *,
        version: str = DEFAULT_API_VERSION,
        session: requests.Session | None = None,
    ) -> Salesforce:
        """A simple-salesforce client for an org, in direct mode."""
        from simple_salesforce import Salesforce

        return Salesforce(
            instance_url=self.base_url,
            session_id=self.token(org_name),
            session=session or self.session(),
            version=version,
        )

    def infos(self) -> Iterable[dict[str, Any]]:
        return [org.info() for org in self.orgs.values()]
