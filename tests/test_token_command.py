"""`sirolimus-cds token`: the test issuer it makes is one the service trusts, and the tokens it signs are
accepted once, for the URL they name; first in-process, then by a real `serve` process."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import requests

from cds_service.app import create_app
from cds_service.cli import main
from cds_service.config import settings_from_dict
from tests.support.fhir_server import free_port
from tests.support.service_process import running_service

EXECUTABLE = shutil.which("sirolimus-cds") or str(Path(sys.executable).with_name("sirolimus-cds"))


def _issuer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    folder = tmp_path / "ehr-key"
    assert main(["token", "--new-key", str(folder), "--iss", "https://ehr.example.org"]) == 0
    printed = capsys.readouterr().out
    block = (folder / "issuer.toml").read_text()
    assert block in printed  # the block to paste is printed as written
    assert stat.S_IMODE((folder / "private-key.pem").stat().st_mode) == 0o600
    public = (folder / "jwks.json").read_text()
    assert "PRIVATE" not in public and '"d"' not in public  # the key set holds the public key only
    return folder, block


def _token(folder: Path, aud: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["token", "--key", str(folder), "--aud", aud]) == 0
    return capsys.readouterr().out.strip()


def test_a_token_from_the_test_issuer_is_accepted_once_for_its_url(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder, block = _issuer(tmp_path, capsys)
    settings = settings_from_dict({"public_base_url": "http://cds.test", "database_url": f"sqlite:///{tmp_path}/t.db",
                                   **tomllib.loads(block)})
    client = create_app(settings, upgrade_database=True).test_client()
    token = _token(folder, "http://cds.test/cds-services", capsys)
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 401  # jti
    other = _token(folder, "http://cds.test/healthz", capsys)
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {other}"}).status_code == 401  # aud


def test_token_usage_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--key", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("token: --aud URL is required")
    assert main(["token", "--key", str(tmp_path / "none"), "--aud", "http://x/cds-services"]) == 2
    assert "not a folder made by `token --new-key`" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.integration
def test_a_real_serve_process_accepts_the_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As the README says to: `token --new-key`, its block in the configuration, `serve`, a signed call."""
    folder, block = _issuer(tmp_path, capsys)
    port = free_port()
    config = tmp_path / "cds.toml"
    config.write_text(f'public_base_url = "http://127.0.0.1:{port}"\ndatabase_url = "sqlite:///{tmp_path}/cds.db"\n'
                      f"{block}")
    with running_service(tmp_path, config, port) as service:
        url = f"{service.base_url}/cds-services"
        assert requests.get(url, timeout=10).status_code == 401
        minted = subprocess.run([EXECUTABLE, "token", "--key", str(folder), "--aud", url],
                                capture_output=True, text=True, timeout=60, env={**os.environ}, check=True)
        answered = requests.get(url, headers={"Authorization": f"Bearer {minted.stdout.strip()}"}, timeout=10)
        assert answered.status_code == 200
        assert {s["id"] for s in answered.json()["services"]} >= {"sirolimus-order-select", "sirolimus-monitoring"}
    assert minted.stdout.strip() not in service.output()  # the token is never logged
