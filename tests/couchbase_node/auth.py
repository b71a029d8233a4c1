"""Server side of SCRAM (RFC 5802) as Couchbase uses it over SASL_AUTH / SASL_STEP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

MECHANISMS = {"SCRAM-SHA512": "sha512", "SCRAM-SHA256": "sha256", "SCRAM-SHA1": "sha1"}
ITERATIONS = 4096
SALT = b"couchqueue-test-node-salt"


class AuthFailed(Exception):
    pass


@lru_cache(maxsize=32)
def _salted(hash_name: str, password: str) -> bytes:
    return hashlib.pbkdf2_hmac(hash_name, password.encode(), SALT, ITERATIONS)


def _attrs(message: str) -> dict[str, str]:
    try:
        return dict(part.split("=", 1) for part in message.split(","))
    except ValueError as exc:
        raise AuthFailed("malformed SCRAM message") from exc


class ScramSession:
    """One authentication attempt: `start` answers the client-first, `finish` the client-final."""

    def __init__(self, mechanism: str, users: dict[str, str]) -> None:
        if mechanism not in MECHANISMS:
            raise AuthFailed(f"unsupported mechanism {mechanism}")
        self.hash_name = MECHANISMS[mechanism]
        self.users = users
        self.user = ""
        self.client_first_bare = self.server_first = self.nonce = ""

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.hash_name).digest()

    def start(self, client_first: bytes) -> bytes:
        text = client_first.decode()
        gs2, sep, bare = text.partition(",,")  # "n,," (no channel binding, no authzid)
        if not sep or gs2 not in ("n", "y"):
            raise AuthFailed("unsupported GS2 header")
        attrs = _attrs(bare)
        self.user = attrs.get("n", "").replace("=2C", ",").replace("=3D", "=")
        self.client_first_bare = bare
        self.nonce = attrs.get("r", "") + base64.b64encode(os.urandom(18)).decode()
        salt = base64.b64encode(SALT).decode()
        self.server_first = f"r={self.nonce},s={salt},i={ITERATIONS}"
        return self.server_first.encode()

    def finish(self, client_final: bytes) -> bytes:
        text = client_final.decode()
        without_proof, _, _ = text.rpartition(",p=")
        attrs = _attrs(text)
        password = self.users.get(self.user)
        if password is None or attrs.get("r") != self.nonce or "p" not in attrs:
            raise AuthFailed("unknown user or nonce mismatch")
        salted = _salted(self.hash_name, password)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash_name, client_key).digest()
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        signature = self._hmac(stored_key, auth_message)
        proof = base64.b64decode(attrs["p"])
        if len(proof) != len(signature):
            raise AuthFailed("bad proof")
        recovered = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.new(self.hash_name, recovered).digest(), stored_key):
            raise AuthFailed("bad proof")
        server_sig = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return b"v=" + base64.b64encode(server_sig)
