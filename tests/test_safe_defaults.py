"""Safe defaults (issue #12): no issuer trusted unless configured; the sandbox only when asked, loudly."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.config import SANDBOX_ISSUER, Settings, settings_from_dict

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # starts a process of its own
def test_serve_with_jwt_required_and_no_issuer_refuses_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "cds.toml"
    config.write_text("[auth]\nrequire_jwt = true\n")
    done = subprocess.run([sys.executable, "-m", "cds_service", "serve", "--config", str(config),
                           "--port", "0"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "[[auth.issuers]]" in lines[0] and "--trust-sandbox" in lines[0]
    assert "Traceback" not in done.stderr and "listening" not in done.stderr


def test_a_refused_call_is_401_with_www_authenticate_and_a_warning_without_the_token(tmp_path) -> None:
    settings = settings_from_dict({"auth": {"trust_sandbox": True},
                                   "database_url": f"sqlite:///{tmp_path}/d.sqlite"}, base_dir=tmp_path)
    assert any(i.iss == SANDBOX_ISSUER for i in settings.auth.issuers)
    client = create_app(settings, upgrade_database=True).test_client()
    token = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ"
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("sirolimus_cds.http")  # its own handler: `serve` stops propagation upwards
    logger.addHandler(handler)
    try:
        response = client.post("/cds-services/sirolimus-dosing", json={"hook": "order-select"},
                               headers={"Authorization": f"Bearer {token}"})
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    refusals = [r for r in records if r.levelno == logging.WARNING and "refused" in r.getMessage()]
    assert refusals and all(token not in r.getMessage() and "c2VjcmV0" not in r.getMessage() for r in refusals)


def test_default_settings_trust_no_issuer() -> None:
    assert Settings().auth.issuers == () and Settings().auth.require_jwt is True

