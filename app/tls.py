"""HTTPS for `couchqueue serve`: --ssl-certfile and --ssl-keyfile, checked before anything is
bound so that a mistake is one clear line on stderr, not a traceback from inside uvicorn."""

from __future__ import annotations

import ssl
from pathlib import Path

from app.settings import Settings, env_name, flag_name


class _EncryptedKey(Exception):
    """The key asked for a passphrase: OpenSSL would otherwise prompt on the terminal."""


def _no_passphrase() -> str:
    raise _EncryptedKey


def _both(name: str) -> str:
    return f"{flag_name(name)} ({env_name(name)})"


def tls_refusal(settings: Settings) -> str | None:
    """Why serve must not start with these TLS settings (None if it may): both files or
    neither, each readable, a PEM certificate and the unencrypted key that matches it."""
    cert, key = settings.ssl_certfile, settings.ssl_keyfile
    if not cert and not key:
        return None
    prefix = "couchqueue serve: "
    if not cert or not key:
        given, missing = (
            ("ssl_certfile", "ssl_keyfile") if cert else ("ssl_keyfile", "ssl_certfile")
        )
        return (
            f"{prefix}{_both(given)} needs {_both(missing)}: HTTPS takes a certificate and its "
            "key, or neither for plain HTTP"
        )
    for name, path in (("ssl_certfile", cert), ("ssl_keyfile", key)):
        try:
            with Path(path).open("rb") as file:
                file.read(1)
        except OSError as exc:
            return f"{prefix}cannot read {_both(name)} {path!r}: {exc.strerror or exc}"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _EncryptedKey:
        return f"{prefix}the key {key!r} is encrypted: give the server an unencrypted key file"
    except ssl.SSLError as exc:
        return (
            f"{prefix}cannot use the certificate {cert!r} with the key {key!r} ({exc.reason}): "
            "both must be PEM, and the key the certificate's own"
        )
    return None
