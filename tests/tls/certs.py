"""A test certificate authority and a server certificate for 127.0.0.1 and localhost, made
with the openssl command (no Python dependency): EC P-256 keys, valid for two days, with the
extensions strict verifiers insist on."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what a client is given as its CA file
    cert: Path  # the server's certificate
    key: Path  # and its key


def _openssl(directory: Path, *args: str) -> None:
    done = subprocess.run(
        ["openssl", *args], cwd=directory, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"


def make_certificates(directory: Path) -> Certificates:
    """ca.pem (self-signed) and server.pem / server.key signed by it, in ``directory``."""
    assert shutil.which("openssl"), "the TLS tests make their certificates with openssl"
    (directory / "server.ext").write_text(SERVER_EXTENSIONS)
    _openssl(
        directory, "req", "-x509", *EC_KEY, "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=CouchQueue test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl(
        directory, "req", "-new", *EC_KEY, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost",
    )  # fmt: skip
    _openssl(
        directory, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
    )  # fmt: skip
    return Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
