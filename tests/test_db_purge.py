"""`sirolimus-cds db purge`: decision pages older than `decision_page_days` are deleted, their audit
records kept (decision 0111); on SQLite and on the real PostgreSQL server."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.audit.store import DecisionRecord, Store
from cds_service.cli import main
from cds_service.config import AuthSettings, Settings
from tests.cards.factories import maintenance_change

pytestmark = pytest.mark.integration
NOW = dt.datetime.now(dt.UTC)


def _decision(created_days_ago: float, page_days: int = 30) -> DecisionRecord:
    created = NOW - dt.timedelta(days=created_days_ago)
    card = {"uuid": str(uuid.uuid4()), "summary": "KHE maintenance: 0.47 mg twice daily", "indicator": "info",
            "source": {"label": "sirolimus-cds"}}
    return DecisionRecord(
        id=str(uuid.uuid4()), created_at=created, expires_at=created + dt.timedelta(days=page_days),
        service_id="sirolimus-monitoring", hook="patient-view", hook_instance=str(uuid.uuid4()),
        patient_id="khe-maintenance-high", protocol="khe-maintenance", protocol_version="1.0.0",
        read_summary={"observations": 12}, decision=maintenance_change().to_dict(), cards=[card],
        timings_ms={"total": 12.0})


def test_db_purge_deletes_old_pages_keeps_their_audit_rows_and_the_young_pages(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cds.toml"
    config.write_text(f'database_url = "{database_url}"\ndecision_page_days = 30\n')
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    store = Store(database_url)
    old, edge, young = _decision(45), _decision(31), _decision(2)
    expired = _decision(5, page_days=3)  # written when pages lived 3 days: already unreadable
    for record in (old, edge, young, expired):
        store.record_decision(record)
    capsys.readouterr()

    assert main(["db", "purge", "--config", str(config)]) == 0
    assert "3 decision page(s) older than 30 days purged (their audit records kept)" in capsys.readouterr().out
    for purged in (old, edge, expired):
        kept = store.decision(purged.id)
        assert kept is not None and kept.decision is None and kept.read_summary == {}
        assert kept.cards == purged.cards and kept.protocol_version == "1.0.0"  # the audit trail stays
    assert store.decision(young.id) == young

    app = create_app(Settings(database_url=database_url, auth=AuthSettings(require_jwt=False)))
    client = app.test_client()
    assert client.get(f"/decisions/{old.id}").status_code == 404
    assert client.get(f"/decisions/{young.id}").status_code == 200

    assert main(["db", "purge", "--config", str(config)]) == 0  # cron runs it every day: nothing twice
    assert "0 decision page(s)" in capsys.readouterr().out
    store.close()
    app.extensions["sirolimus_cds"].store.close()


def test_db_purge_on_an_unreachable_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cds.toml"
    config.write_text('database_url = "postgresql://nobody:secret@127.0.0.1:9/none"\n')
    assert main(["db", "purge", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "127.0.0.1:9" in err and "secret" not in err


def test_db_purge_on_a_database_without_the_schema_says_to_run_db_upgrade(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cds.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "never-upgraded.db"}"\n')
    assert main(["db", "purge", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sirolimus-cds db upgrade" in err and "did not answer" not in err


def test_db_purge_with_no_database_creates_none_and_says_so_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # No configuration at all: the default database_url is a SQLite file in the current folder. A cron line
    # in the wrong folder must not leave an empty database there (and report "0 purged").
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    monkeypatch.delenv("SIROLIMUS_CDS_DATABASE_URL", raising=False)

    assert main(["db", "purge"]) == 2

    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and captured.out == ""
    assert "sirolimus-cds.db does not exist" in err and str(tmp_path / "sirolimus-cds.db") in err
    assert "database_url" in err and "sirolimus-cds db upgrade" in err  # what to do about it
    assert list(tmp_path.iterdir()) == []  # nothing created
