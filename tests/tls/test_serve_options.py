"""`couchqueue serve --ssl-certfile F --ssl-keyfile F` (COUCHQUEUE_SSL_CERTFILE /
COUCHQUEUE_SSL_KEYFILE): both or neither, each readable, a PEM certificate and its own
unencrypted key; anything else is one clear line on stderr and exit status 2, before anything
is bound."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.cli import main, uvicorn_options
from app.settings import Settings
from app.tls import tls_refusal
from tests.tls.certs import Certificates


def refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *flags: str
) -> str:
    """Run `couchqueue serve FLAGS`, which must exit 2 without serving; its stderr."""

    def must_not_serve(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("serve started although its TLS settings are wrong")

    monkeypatch.setattr(uvicorn, "run", must_not_serve)
    with pytest.raises(SystemExit) as stopped:
        main(["serve", *flags])
    assert stopped.value.code == 2
    return capsys.readouterr().err


def test_the_flags_and_their_environment_twins_are_read(certificates: Certificates) -> None:
    env = {
        "COUCHQUEUE_SSL_CERTFILE": str(certificates.cert),
        "COUCHQUEUE_SSL_KEYFILE": str(certificates.key),
    }
    settings = Settings.from_env(env)
    assert (settings.ssl_certfile, settings.ssl_keyfile) == (
        str(certificates.cert),
        str(certificates.key),
    )
    assert tls_refusal(settings) is None
    options = uvicorn_options(settings)
    assert options["ssl_certfile"] == str(certificates.cert)
    assert options["ssl_keyfile"] == str(certificates.key)
    plain = uvicorn_options(Settings())
    assert plain["ssl_certfile"] is None and plain["ssl_keyfile"] is None


@pytest.mark.parametrize("given", ["--ssl-certfile", "--ssl-keyfile"])
def test_one_file_without_the_other_is_refused(
    given: str,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(monkeypatch, capsys, given, str(certificates.cert))
    missing = "--ssl-keyfile" if given == "--ssl-certfile" else "--ssl-certfile"
    assert f"{given} (COUCHQUEUE_{given[2:].upper().replace('-', '_')}) needs {missing}" in err


def test_one_file_from_the_environment_alone_is_refused(
    certificates: Certificates, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COUCHQUEUE_SSL_KEYFILE", str(certificates.key))
    assert "needs --ssl-certfile (COUCHQUEUE_SSL_CERTFILE)" in refused(monkeypatch, capsys)


def test_a_missing_or_unreadable_file_is_named(
    certificates: Certificates,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "no-such.key"
    err = refused(
        monkeypatch, capsys, "--ssl-certfile", str(certificates.cert), "--ssl-keyfile", str(missing)
    )
    assert f"cannot read --ssl-keyfile (COUCHQUEUE_SSL_KEYFILE) '{missing}'" in err
    assert "No such file or directory" in err
    err = refused(
        monkeypatch, capsys, "--ssl-certfile", str(tmp_path), "--ssl-keyfile", str(certificates.key)
    )
    assert f"cannot read --ssl-certfile (COUCHQUEUE_SSL_CERTFILE) '{tmp_path}'" in err
    assert "Traceback" not in err


def test_a_file_that_is_not_the_certificates_key_is_refused(
    certificates: Certificates,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    other_key = tmp_path / "other.key"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", str(other_key)],
        check=True, capture_output=True,
    )  # fmt: skip
    cert, key = str(certificates.cert), str(certificates.key)
    for flags in (
        ("--ssl-certfile", str(garbage), "--ssl-keyfile", key),
        ("--ssl-certfile", cert, "--ssl-keyfile", str(garbage)),
        ("--ssl-certfile", cert, "--ssl-keyfile", str(other_key)),
        ("--ssl-certfile", key, "--ssl-keyfile", key),
    ):
        err = refused(monkeypatch, capsys, *flags)
        assert "cannot use the certificate" in err and "the key the certificate's own" in err, err


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase(
    certificates: Certificates,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(certificates.key), "-aes256", "-passout", "pass:secret",
         "-out", str(encrypted)],
        check=True, capture_output=True,
    )  # fmt: skip
    err = refused(
        monkeypatch,
        capsys,
        "--ssl-certfile",
        str(certificates.cert),
        "--ssl-keyfile",
        str(encrypted),
    )
    assert "is encrypted" in err
