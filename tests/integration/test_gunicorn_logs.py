"""gunicorn's own lines are JSON like the app's, at the configured level (issue #12), from a real
`sirolimus-cds serve` process (gunicorn master and 2 workers) whose whole output is read back."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.jwt_tokens import make_es384_key
from tests.support.service_process import free_port, running_service, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LISTENING = "sirolimus-cds listening on "  # the one plain line serve prints for the person who started it


def _session(tmp_path: Path, log_level: str) -> list[dict[str, Any]]:
    """Start, answer one /healthz, stop (SIGTERM); every line written, parsed as JSON."""
    port = free_port()
    config = write_config(tmp_path, port, ["http://127.0.0.1:9/fhir"], make_es384_key(), str(uuid.uuid4()),
                          extra=f'log_level = "{log_level}"')
    with running_service(tmp_path, config, port, workers=2) as service:
        assert requests.get(f"{service.base_url}/healthz", timeout=10).status_code == 200
    lines = [line for line in service.output().splitlines() if line.strip() and not line.startswith(LISTENING)]
    records = []
    for line in lines:
        record = json.loads(line)  # a plain-text line (gunicorn's "[date] [pid] [INFO] ...") fails here
        assert {"ts", "level", "logger", "message"} <= set(record), line
        records.append(record)
    return records


def test_gunicorn_lines_are_json_at_info(tmp_path: Path) -> None:
    records = _session(tmp_path, "INFO")
    gunicorn = [r["message"] for r in records if r["logger"] == "gunicorn.error"]
    assert any(m.startswith("Listening at: http://127.0.0.1:") for m in gunicorn), gunicorn
    assert sum(m.startswith("Booting worker with pid") for m in gunicorn) == 2
    assert any(m.startswith("Shutting down") for m in gunicorn)
    assert any(r["logger"] == "sirolimus_cds.access" and r.get("path") == "/healthz" for r in records)


def test_the_environment_level_overrides_the_file_for_gunicorn_and_the_app(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIROLIMUS_CDS_LOG_LEVEL", "WARNING")  # the file says INFO
    records = _session(tmp_path, "INFO")
    assert [r for r in records if r["level"] in ("DEBUG", "INFO")] == []  # no boot lines, no access lines


def test_a_wrong_level_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "cds.toml"
    config.write_text('log_level = "LOUD"\n')
    executable = shutil.which("sirolimus-cds") or str(Path(sys.executable).with_name("sirolimus-cds"))
    done = subprocess.run([executable, "serve", "--dev", "--config", str(config)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "configuration error: log_level (or $SIROLIMUS_CDS_LOG_LEVEL) must be one of DEBUG, INFO, WARNING, "
        "ERROR, got 'LOUD'"]
