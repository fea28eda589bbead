"""`[database]` bounds: validated settings, and a database that holds a request past them answers 503."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cds_service.config import DatabaseSettings, settings_from_dict
from cds_service.errors import ConfigError
from tests.support.app import make_app


def test_the_bounds_are_read_from_the_database_table(tmp_path: Path) -> None:
    settings = settings_from_dict({"database": {"connect_timeout_seconds": 2, "statement_timeout_seconds": 1.5}})
    assert settings.database == DatabaseSettings(connect_timeout_seconds=2, pool_timeout_seconds=2,
                                                 statement_timeout_seconds=1.5)


@pytest.mark.parametrize("table", [{"statement_timeout_seconds": 0}, {"pool_timeout_seconds": 61},
                                   {"connect_timeout_seconds": "3"}, {"query_timeout": 3}])
def test_a_bound_out_of_range_or_unknown_is_a_configuration_error(table: dict) -> None:
    with pytest.raises(ConfigError):
        settings_from_dict({"database": table})


def test_feedback_held_by_another_writer_past_the_statement_bound_is_a_503_then_stored(tmp_path: Path) -> None:
    database = tmp_path / "cds.db"
    client = make_app(tmp_path, database_url=f"sqlite:///{database}",
                      database=DatabaseSettings(statement_timeout_seconds=0.2)).test_client()
    body = {"feedback": [{"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}
    other_writer = sqlite3.connect(database, isolation_level=None)
    other_writer.execute("BEGIN EXCLUSIVE")  # another process holding the write lock

    refused = client.post("/cds-services/sirolimus-monitoring/feedback", json=body)

    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["issue"][0]["code"] == "transient"
    other_writer.execute("ROLLBACK")
    other_writer.close()
    assert client.post("/cds-services/sirolimus-monitoring/feedback", json=body).status_code == 200
