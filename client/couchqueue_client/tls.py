"""Verifying an https:// or wss:// server: a CA file of the operator's (``ca_file=``), and a
certificate that does not verify told apart from a server that cannot be reached."""

from __future__ import annotations

import os
import ssl

CA_HINT = "give the client the CA that signed it (ca_file= / --ca-file / COUCHQUEUE_CA_FILE)"


def verify_context(ca_file: str | os.PathLike[str] | None) -> ssl.SSLContext | None:
    """A context that trusts only the CAs in ``ca_file`` (PEM), as ``curl --cacert`` does;
    None (the libraries' defaults) without one. ValueError when the file cannot be used."""
    if not ca_file:
        return None
    try:
        return ssl.create_default_context(cafile=os.fspath(ca_file))
    except FileNotFoundError as exc:
        raise ValueError(f"cannot read the CA file {os.fspath(ca_file)!r}: {exc.strerror}") from exc
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use the CA file {os.fspath(ca_file)!r}: {exc}") from exc


def verification_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind ``exc`` (httpx wraps it twice), if any."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
