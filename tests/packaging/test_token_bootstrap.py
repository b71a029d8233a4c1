"""docker/bootstrap-token.sh, the compose cluster's one-shot token bootstrap, run for real
against a SQLite store (the compose file gives it the Couchbase one; the script only calls
`couchqueue token`): it makes the admin token once, writes the secret to its file alone and
never prints it, keeps both on a second run, and makes the token anew when the file is gone."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

from app.store import open_store
from resolvers.tokens import secret_hash

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "bootstrap-token.sh"


def bootstrap(tmp_path: Path, store_url: str, secret_file: Path) -> str:
    """Run the script with `couchqueue` on PATH (this checkout's); its output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "couchqueue"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m app "$@"\n')
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'client'}",
        "COUCHQUEUE_STORE": store_url,
        "COUCHQUEUE_BOOTSTRAP_TOKEN_FILE": str(secret_file),
    }
    done = subprocess.run(
        ["/bin/sh", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def stored_tokens(store_url: str) -> dict[str, tuple[str, list[str]]]:
    async def read() -> dict[str, tuple[str, list[str]]]:
        store = await open_store(store_url)
        try:
            return {t.name: (t.secret_hash, list(t.roles)) for t in await store.list_tokens()}
        finally:
            await store.close()

    return asyncio.run(read())


def test_the_bootstrap_makes_the_admin_token_once_and_keeps_it(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    secret_file = tmp_path / "secrets" / "admin-token"
    secret_file.parent.mkdir()

    output = bootstrap(tmp_path, store_url, secret_file)
    secret = secret_file.read_text().strip()
    assert secret and secret not in output and "made token compose-admin" in output
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stored_tokens(store_url) == {"compose-admin": (secret_hash(secret), ["admin"])}

    output = bootstrap(tmp_path, store_url, secret_file)  # a restart: nothing changes
    assert "exists" in output and secret not in output
    assert secret_file.read_text().strip() == secret
    assert stored_tokens(store_url) == {"compose-admin": (secret_hash(secret), ["admin"])}

    secret_file.unlink()  # the volume was removed: the old secret can be read by nobody
    output = bootstrap(tmp_path, store_url, secret_file)
    renewed = secret_file.read_text().strip()
    assert renewed != secret and renewed not in output
    assert stored_tokens(store_url) == {"compose-admin": (secret_hash(renewed), ["admin"])}
    assert not list(secret_file.parent.glob("*.new"))
