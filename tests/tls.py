"""A private certificate authority for the TLS tests and benchmarks: one no system store
trusts, and a server certificate it signed for 127.0.0.1, localhost and the proxy-only host."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .proxy import PROXY_ONLY_HOST


@dataclass(frozen=True)
class PrivateCa:
    ca_file: Path
    cert_file: Path  # the server's certificate chain
    key_file: Path


def make_private_ca(folder: Path) -> PrivateCa:
    import trustme

    ca = trustme.CA(organization_name="egoget test CA")
    cert = ca.issue_cert("127.0.0.1", "localhost", PROXY_ONLY_HOST)
    ca.cert_pem.write_to_path(folder / "ca.pem")
    cert.private_key_pem.write_to_path(folder / "key.pem")
    for pem in cert.cert_chain_pems:
        pem.write_to_path(folder / "cert.pem", append=True)
    return PrivateCa(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
