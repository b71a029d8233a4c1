"""docker/ read statically (no Docker engine runs in CI): nginx never passes a request that
claims or changes anything to the other node, the compose nodes run with auth on after a
token bootstrap and are health-checked on /readyz, and the Dockerfile resolves dependencies
before it copies any source."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.auth import ROUTE_OPERATIONS
from tests.packaging.nginx import Directive, location_for, parse

DOCKER = Path(__file__).resolve().parents[2] / "docker"
NGINX_DEFAULT_NEXT_UPSTREAM = ["error", "timeout"]  # nginx's default, when nothing is set


def next_upstream(server: Directive, path: str) -> list[str]:
    """proxy_next_upstream as nginx applies it to ``path``: the location's, else inherited."""
    return (
        location_for(server, path).value("proxy_next_upstream")
        or server.value("proxy_next_upstream")
        or NGINX_DEFAULT_NEXT_UPSTREAM
    )


@pytest.fixture(scope="module")
def nginx_server() -> Directive:
    [server] = parse((DOCKER / "nginx.conf").read_text()).servers()
    return server


@pytest.mark.parametrize(
    ("method", "path"),
    [key for key, operation in ROUTE_OPERATIONS.items() if str(operation).startswith("Mutation.")],
    ids=lambda value: str(value),
)
def test_nginx_never_passes_a_claim_or_a_write_to_the_other_node(
    nginx_server: Directive, method: str, path: str
) -> None:
    """GET /task claims; PUT and DELETE are idempotent to nginx, which replays them after a
    timeout or an error on the other node unless told not to."""
    assert next_upstream(nginx_server, path) == ["off"], f"{method} {path}"


def test_nginx_retries_only_what_is_safe_to_retry(nginx_server: Directive) -> None:
    paths = {path for _, path in ROUTE_OPERATIONS} | {"/healthz", "/readyz", "/dashboard/x"}
    for path in paths:
        assert "non_idempotent" not in next_upstream(nginx_server, path), path
    assert location_for(nginx_server, "/graphql") is location_for(nginx_server, "/status")


def test_nginx_proxies_every_location_with_the_shared_settings(nginx_server: Directive) -> None:
    for location in nginx_server.children("location"):
        assert location.value("proxy_pass") == ["http://couchqueue"], location.args
        # Headers set in a location would replace all of the server's (nginx inherits none).
        assert not location.children("proxy_set_header"), location.args
    assert nginx_server.value("proxy_http_version") == ["1.1"]
    assert nginx_server.value("proxy_read_timeout") == ["1h"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yml").read_text())
    return loaded


def node_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run `couchqueue serve` (the server image's own entrypoint)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("build", {}).get("target") == "server" and "entrypoint" not in service
    }


def test_the_nodes_run_with_auth_on_after_the_token_bootstrap(compose: dict[str, Any]) -> None:
    nodes = node_services(compose)
    assert set(nodes) >= {"node1", "node2"}
    for name, service in compose["services"].items():
        environment = service.get("environment") or {}
        assert "COUCHQUEUE_INSECURE_NO_AUTH" not in environment, name
    bootstrap = compose["services"]["couchqueue-token"]
    assert bootstrap["entrypoint"] == ["/bin/sh", "/bootstrap-token.sh"]
    assert "./bootstrap-token.sh:/bootstrap-token.sh:ro" in bootstrap["volumes"]
    assert bootstrap["restart"] == "no"
    assert bootstrap["depends_on"]["couchbase-init"]["condition"] == (
        "service_completed_successfully"
    )
    # The same store as the nodes, and the secret on a volume of its own.
    secrets = [v for v in bootstrap["volumes"] if v.startswith("couchqueue-secrets:")]
    assert secrets == ["couchqueue-secrets:/var/lib/couchqueue"]
    assert "couchqueue-secrets" in compose["volumes"]
    for name, node in nodes.items():
        assert node["depends_on"]["couchqueue-token"]["condition"] == (
            "service_completed_successfully"
        ), name
        assert (
            node["environment"]["COUCHQUEUE_STORE"]
            == (bootstrap["environment"]["COUCHQUEUE_STORE"])
        ), name
        assert "couchqueue-secrets" not in str(node.get("volumes")), name


def test_the_nodes_are_health_checked_on_readyz(compose: dict[str, Any]) -> None:
    for name, node in node_services(compose).items():
        probe = " ".join(node["healthcheck"]["test"])
        assert "/readyz" in probe and "/healthz" not in probe, name
    lb = compose["services"]["lb"]
    assert all(c["condition"] == "service_healthy" for c in lb["depends_on"].values())
    healthcheck = [line for line in dockerfile_instructions() if line[0] == "HEALTHCHECK"]
    assert len(healthcheck) == 1 and "/readyz" in healthcheck[0][1]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = (DOCKER / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stage_instructions(target: str) -> list[tuple[str, str]]:
    """The instructions that build ``target``, its parent stages' first."""
    stages: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            image, _, name = rest.partition(" AS ")
            current = []
            stages[name.strip()] = (image.strip(), current)
        else:
            current.append((keyword, rest))
    chain: list[tuple[str, str]] = []
    while target in stages:
        parent, instructions = stages[target]
        chain = instructions + chain
        target = parent
    return chain


@pytest.mark.parametrize("target", ["server", "tests"])
def test_the_dockerfile_resolves_dependencies_before_copying_any_source(target: str) -> None:
    """Only the pyproject files come before the dependency install, so a source edit reuses
    that layer; once a source is copied, nothing more is resolved (pip install --no-deps)."""
    instructions = stage_instructions(target)
    copies = [rest.split() for keyword, rest in instructions if keyword == "COPY"]
    assert copies, target
    first_source = next(
        i
        for i, (keyword, rest) in enumerate(instructions)
        if keyword == "COPY"
        and not all(Path(src).name == "pyproject.toml" for src in rest.split()[:-1])
    )
    before, after = instructions[:first_source], instructions[first_source:]
    installs_before = [
        rest for keyword, rest in before if keyword == "RUN" and "pip install" in rest
    ]
    assert installs_before and all("-r " in rest for rest in installs_before), installs_before
    for keyword, rest in after:
        if keyword == "RUN" and "pip install" in rest:
            assert "--no-deps" in rest, f"{target}: dependencies resolved after the sources: {rest}"
    copied_before = [rest for keyword, rest in before if keyword == "COPY"]
    assert copied_before == ["pyproject.toml ./", "client/pyproject.toml ./client/"], copied_before
    if target == "tests":
        assert any("['test']" in rest for rest in installs_before), "test extra after sources"
