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


def test_version_and_python_dash_m() -> None:
    done = subprocess.run([sys.executable, "-m", "cds_service", "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("sirolimus-cds ")
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
