"""A real `couchqueue serve` node over HTTPS with a token: the store gets an admin token
from `couchqueue token create` before the node starts (so auth is on from the first request),
then a publisher and a worker token are made over GraphQL by the admin."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.nodes.server import ServerNode
from tests.tls.certs import Certificates

ROOT = Path(__file__).resolve().parents[2]
CREATE = "mutation($n: String!, $r: [String!]!) { createToken(name: $n, roles: $r) { secret } }"


class TlsNode(ServerNode):
    """A ServerNode served with the test certificate, probed over https."""

    def __init__(self, store_url: str, log_path: Path, certificates: Certificates) -> None:
        tls = ["--ssl-certfile", str(certificates.cert), "--ssl-keyfile", str(certificates.key)]
        fast = ["--lease-reap-interval", "0.2", "--change-poll-interval", "0.05"]
        super().__init__(store_url, log_path, extra_args=[*tls, *fast])
        self.verify = ssl.create_default_context(cafile=str(certificates.ca))

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            reply = httpx.get(self.url + "/healthz", timeout=0.5, verify=self.verify)
        except httpx.TransportError:
            return False
        return reply.status_code == 200


@dataclass(frozen=True)
class Secured:
    node: TlsNode
    ca: Path
    admin: str
    publisher: str
    worker: str

    @property
    def url(self) -> str:
        return self.node.url

    def client(self, secret: str) -> httpx.AsyncClient:
        """A plain httpx client (not ours) trusting the test CA, with a token."""
        headers = {"authorization": f"Bearer {secret}"}
        return httpx.AsyncClient(
            base_url=self.url, headers=headers, verify=self.node.verify, timeout=10
        )


def create_token(store_url: str, name: str, role: str) -> str:
    """`couchqueue token create`, straight into the store; the secret it printed."""
    command = [sys.executable, "-m", "app", "token", "create", "--store", store_url]
    done = subprocess.run(
        [*command, "--name", name, "--role", role],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def start_secured(directory: Path, certificates: Certificates) -> Secured:
    store_url = f"sqlite:///{directory / 'tls.db'}"
    admin = create_token(store_url, "admin", "admin")
    node = TlsNode(store_url, directory / "server.log", certificates).start()
    secrets = {}
    headers = {"authorization": f"Bearer {admin}"}
    for role in ("publisher", "worker"):
        reply = httpx.post(
            node.url + "/graphql",
            json={"query": CREATE, "variables": {"n": f"tls-{role}", "r": [role]}},
            headers=headers,
            verify=node.verify,
            timeout=10,
        )
        assert reply.status_code == 200 and "errors" not in reply.json(), reply.text
        secrets[role] = reply.json()["data"]["createToken"]["secret"]
    return Secured(node, certificates.ca, admin, secrets["publisher"], secrets["worker"])
