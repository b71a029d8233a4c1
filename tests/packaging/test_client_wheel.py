"""The client is its own distribution: its wheel holds ``couchqueue_client`` alone, installs
into a fresh virtual environment with httpx and websockets only, and importing it (or running
its worker command) brings in no package of the server."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client"
SERVER_MODULES = ("app", "schema", "resolvers", "strawberry", "starlette", "uvicorn", "re2")
# The client's dependencies and theirs (httpx brings httpcore, h11, anyio, idna, certifi).
ALLOWED_DISTRIBUTIONS = {
    "couchqueue-client",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "certifi",
    "sniffio",
    "typing-extensions",
    "websockets",
    "pip",
    "setuptools",
}


def run(*args: str | Path, timeout: float = 180) -> str:
    done = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, CLIENT)
    (built,) = out.glob("couchqueue_client-*.whl")
    return built


def test_the_wheel_holds_the_client_package_alone(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"couchqueue_client", wheel.name.split("-py3")[0] + ".dist-info"}, top
    assert "couchqueue_client/py.typed" in names


def test_a_fresh_environment_gets_the_client_and_no_server_package(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    try:
        run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    except AssertionError as exc:
        if "NewConnectionError" in str(exc) or "Could not find a version" in str(exc):
            pytest.skip(f"installing the client's dependencies needs the package index: {exc}")
        raise
    listed = json.loads(run(python, "-m", "pip", "list", "--format", "json"))
    installed = {item["name"].lower().replace("_", "-") for item in listed}
    assert installed <= ALLOWED_DISTRIBUTIONS, installed - ALLOWED_DISTRIBUTIONS
    probe = (
        "import json, sys, couchqueue_client.command; "
        "from couchqueue_client import Publisher, Worker; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    # Run from an empty directory: the checkout's packages must not be importable by accident.
    modules = json.loads(
        subprocess.run(
            [python, "-I", "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
        ).stdout
    )
    roots = {name.split(".")[0] for name in modules}
    assert not roots & set(SERVER_MODULES), roots & set(SERVER_MODULES)
    assert "couchqueue_client" in roots
    usage = run(venv / "bin" / "couchqueue-worker", "--help")
    assert "--exec" in usage
