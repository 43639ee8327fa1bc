"""TLS for the emulator: a local CA and a server certificate made with trustme.

With a directory that already holds ``ca.pem``, ``server.pem`` (key + chain) and a
``hosts.txt`` naming the same hosts, those files are reused, so a client that trusts the
CA once keeps trusting it across restarts.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path | None


def ensure_certificates(directory: Path, hosts: tuple[str, ...]) -> TlsFiles:
    """Create (or reuse) CA and server certificate files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "ca.pem"
    server_file = directory / "server.pem"
    hosts_file = directory / "hosts.txt"
    wanted = "\n".join(hosts)
    if (
        ca_file.exists()
        and server_file.exists()
        and hosts_file.exists()
        and (hosts_file.read_text() == wanted)
    ):
        return TlsFiles(ca_file, server_file, None)
    import trustme

    ca = trustme.CA(organization_name="Salesforce emulator local CA")
    server = ca.issue_cert(*hosts)
    ca.cert_pem.write_to_path(str(ca_file))
    server.private_key_and_cert_chain_pem.write_to_path(str(server_file))
    server_file.chmod(0o600)
    hosts_file.write_text(wanted)
    return TlsFiles(ca_file, server_file, None)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(
        str(files.cert_file), str(files.key_file) if files.key_file else None
    )
    return context


def hosts_for(host: str) -> tuple[str, ...]:
    return DEFAULT_HOSTS if host in DEFAULT_HOSTS else (host, *DEFAULT_HOSTS)
