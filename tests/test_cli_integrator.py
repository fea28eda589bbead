"""Integrator niceties (issue #12): environment overrides, --version, `python -m cds_service`, one-line errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cds_service.cli import main
from cds_service.config import load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_environment_overrides_the_database_and_redis_urls(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "cds.toml"
    config.write_text('database_url = "sqlite:///file.db"\n')
    monkeypatch.setenv("SIROLIMUS_CDS_DATABASE_URL", "postgresql://cds@db.example.org/cds")
    monkeypatch.setenv("SIROLIMUS_CDS_REDIS_URL", "redis://cache.example.org:6379/0")
    settings = load_settings(config)
    assert settings.database_url == "postgresql://cds@db.example.org/cds"
    assert settings.redis_url == "redis://cache.example.org:6379/0"
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    assert load_settings().database_url == "postgresql://cds@db.example.org/cds"  # no file: still applies


def test_a_bad_environment_override_is_one_line_exit_2(monkeypatch, capsys) -> None:
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    monkeypatch.setenv("SIROLIMUS_CDS_DATABASE_URL", "mysql://nope")
    assert main(["serve", "--dev"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "database_url" in err[0]
    monkeypatch.delenv("SIROLIMUS_CDS_DATABASE_URL")
    monkeypatch.setenv("SIROLIMUS_CDS_PORT", "eighty")
    assert main(["serve", "--dev"]) == 2
    assert "SIROLIMUS_CDS_PORT" in capsys.readouterr().err


@pytest.mark.slow  # starts a process of its own
def test_version_and_python_dash_m() -> None:
    done = subprocess.run([sys.executable, "-m", "cds_service", "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("sirolimus-cds ")
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0


def test_a_missing_sqlite_folder_is_one_line_naming_the_url(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    monkeypatch.setenv("SIROLIMUS_CDS_DATABASE_URL", f"sqlite:///{tmp_path}/no/such/folder/cds.db")
    assert main(["serve", "--dev", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no/such/folder/cds.db" in err and "folder exists" in err and "Traceback" not in err


def test_an_unreachable_postgres_is_one_line_without_the_password(monkeypatch, capsys) -> None:
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    monkeypatch.setenv("SIROLIMUS_CDS_DATABASE_URL", "postgresql://cds:s3cret@127.0.0.1:9/cds")
    assert main(["serve", "--dev", "--port", "0"]) == 2
    out = capsys.readouterr().err
    assert "127.0.0.1:9" in out and "s3cret" not in out and "server is running" in out


def test_a_port_in_use_is_one_line_before_listening(tmp_path: Path, monkeypatch, capsys) -> None:
    import socket
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    monkeypatch.setenv("SIROLIMUS_CDS_DATABASE_URL", f"sqlite:///{tmp_path}/cds.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--dev", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "sirolimus-cds listening" not in err


def test_check_timeout_is_also_the_in_process_service_fhir_budget(tmp_path: Path) -> None:
    from cds_service.cli.check import InProcessService
    from cds_service.config import Settings

    service = InProcessService(Settings(), "http://127.0.0.1:9/fhir", 12.5)
    assert service.app.extensions["sirolimus_cds"].settings.fhir.timeout_seconds == 12.5
