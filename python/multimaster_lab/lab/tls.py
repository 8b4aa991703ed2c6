"""Certificates for `multimaster lab up --tls`: a private CA and one X.509 v3 server
certificate whose subject-alternative names are the nodes' IP addresses, made with the
`openssl` command (Debian's openssl package), plus a client certificate signed by the same CA.

The driver (rustls) refuses X.509 v1 certificates in its verified modes and checks names
against the IP SANs, so both are needed for VERIFY_CA and VERIFY_IDENTITY.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from typing import Dict, List

DAYS = "3650"
FILES = ("ca", "server-cert", "server-key", "client-cert", "client-key")


class TlsError(Exception):
    """openssl failed; the message holds its output."""


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise TlsError(f"openssl {args[0]} failed: {done.stderr.strip()[-500:]}")


def _sign(name: str, subject: str, extensions: str, cwd: Path) -> None:
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}-key.pem",
        "-out",
        f"{name}.csr",
        "-subj",
        subject,
        cwd=cwd,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-out",
        f"{name}-cert.pem",
        "-days",
        DAYS,
        "-sha256",
        "-extfile",
        f"{name}.ext",
        cwd=cwd,
    )


def make(directory: Path, hosts: List[str]) -> Dict[str, Path]:
    """Writes ca.pem, server-cert.pem / server-key.pem (SANs: `hosts`, which must be IP
    addresses) and client-cert.pem / client-key.pem into `directory`; returns their paths."""
    for host in hosts:
        ipaddress.ip_address(host)  # the lab's nodes are addressed by IP: SANs must say so
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        DAYS,
        "-sha256",
        "-subj",
        "/CN=multimaster lab CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    sans = ",".join(f"IP:{h}" for h in hosts)
    _sign(
        "server",
        "/CN=multimaster lab node",
        f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n",
        directory,
    )
    _sign(
        "client",
        "/CN=admin",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
        directory,
    )
    for key in ("ca-key.pem", "server-key.pem", "client-key.pem"):
        (directory / key).chmod(0o640)
    return {name: directory / f"{name}.pem" for name in FILES}


def server_options(directory: Path) -> str:
    """my.cnf lines for a node that requires TLS. The rsync SST script would want stunnel for
    a server with ssl_* set; the lab's state transfers stay on the nodes' own addresses, in
    the clear, as before."""
    return (
        f"ssl_ca = {directory / 'ca.pem'}\nssl_cert = {directory / 'server-cert.pem'}\n"
        f"ssl_key = {directory / 'server-key.pem'}\nrequire_secure_transport = ON\n"
        "[sst]\nssl-mode = DISABLED\n"
    )
