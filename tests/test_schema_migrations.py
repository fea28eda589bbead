"""Schema migrations (Alembic): `sirolimus-cds db upgrade` on SQLite and the real PostgreSQL server,
`serve` refusing a database that is behind, and the migrations agreeing with the tables the code uses."""
from __future__ import annotations

import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cds_service.audit import schema
from cds_service.audit.database import engine_url
from cds_service.audit.store import decision_cards, decisions, feedback, metadata
from cds_service.cli import main
from tests.support.jwt_tokens import make_es384_key
from tests.support.service_process import free_port, write_config

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "cds.toml"
    path.write_text(f'database_url = "{database_url}"\n')
    return path


def _engine(database_url: str) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(engine_url(database_url))


def _revision_and_tables(database_url: str) -> tuple[str | None, set[str]]:
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            return schema.current_revision(conn), set(sqlalchemy.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_on_an_empty_database_makes_the_newest_schema_and_a_second_run_changes_nothing(
        tmp_path, database_url, capsys):
    config = _config(tmp_path, database_url)

    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert f"from revision none to {schema.head()}" in capsys.readouterr().out
    revision, tables = _revision_and_tables(database_url)
    assert revision == schema.head()
    assert {"decisions", "decision_cards", "feedback"} <= tables

    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert _revision_and_tables(database_url) == (revision, tables)


def test_the_migrated_schema_is_the_one_the_code_uses(database_url):
    engine = _engine(database_url)
    try:
        schema.upgrade(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_a_first_release_database_keeps_its_rows_and_is_stamped_then_upgraded(tmp_path, database_url, capsys):
    engine = _engine(database_url)
    metadata.create_all(engine, tables=[decisions, decision_cards, feedback])  # what release 1 did at start
    with engine.begin() as conn:
        conn.execute(feedback.insert().values(service_id="s", card_uuid="c", outcome="overridden",
                                              outcome_timestamp="2026-01-01T00:00:00Z",
                                              received_at=sqlalchemy.func.now()))
    engine.dispose()

    assert main(["db", "upgrade", "--config", str(_config(tmp_path, database_url))]) == 0

    assert "stamped 0001" in capsys.readouterr().out
    engine = _engine(database_url)
    with engine.connect() as conn:
        assert schema.current_revision(conn) == schema.head()
        assert conn.execute(sqlalchemy.select(feedback.c.card_uuid)).scalars().all() == ["c"]
    engine.dispose()


def test_tables_of_another_shape_without_a_revision_are_refused_in_one_line(tmp_path, capsys):
    database_url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = _engine(database_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE feedback (id INTEGER PRIMARY KEY, note TEXT)"))
    engine.dispose()

    assert main(["db", "upgrade", "--config", str(_config(tmp_path, database_url))]) == 2

    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "feedback" in error and "no schema revision" in error
    assert _revision_and_tables(database_url) == (None, {"feedback"})


@pytest.mark.parametrize("revision", [None, "0001"])
def test_serve_refuses_a_database_behind_this_release_and_names_the_command(tmp_path, capsys, revision):
    if revision == schema.head():
        pytest.skip("0001 is the newest revision: no older one to start from yet")
    database_url = f"sqlite:///{tmp_path / 'behind.db'}"
    engine = _engine(database_url)
    with engine.begin() as conn:  # a database that exists: empty (no revision), or at an older revision
        if revision:
            command.upgrade(schema.alembic_config(conn), revision)
    engine.dispose()
    port = free_port()
    config_path = write_config(tmp_path, port, [], make_es384_key(), str(uuid.uuid4()), database_url=database_url)

    code = main(["serve", "--host", "127.0.0.1", "--port", str(port), "--config", str(config_path)])

    assert code == 2
    error = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")]  # no JSON logs
    assert len(error) == 1
    assert "sirolimus-cds db upgrade" in error[0] and f"revision {revision or 'none'}" in error[0]
    assert _revision_and_tables(database_url)[0] == revision  # serve changed nothing


def test_serve_on_a_database_that_is_not_there_creates_none_and_names_the_command(tmp_path, capsys):
    database_url = f"sqlite:///{tmp_path / 'typo.db'}"
    port = free_port()
    config_path = write_config(tmp_path, port, [], make_es384_key(), str(uuid.uuid4()), database_url=database_url)

    assert main(["serve", "--host", "127.0.0.1", "--port", str(port), "--config", str(config_path)]) == 2

    error = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")]
    assert len(error) == 1 and "typo.db does not exist" in error[0] and "sirolimus-cds db upgrade" in error[0]
    assert not (tmp_path / "typo.db").exists()  # only `db upgrade` (or serve --dev) makes a database


def test_serve_dev_brings_a_trial_database_to_the_newest_schema(tmp_path, monkeypatch):
    database_url = f"sqlite:///{tmp_path / 'trial.db'}"
    started = []
    monkeypatch.setattr("cds_service.cli.serve.run", lambda app, *args, **options: started.append(app))

    assert main(["serve", "--dev", "--port", str(free_port()), "--config", str(_config(tmp_path, database_url))]) == 0

    assert len(started) == 1
    assert _revision_and_tables(database_url)[0] == schema.head()


@pytest.mark.slow
def test_the_migrations_ship_in_the_wheel(tmp_path):
    """A non-editable install can upgrade: env.py and every revision are inside the built wheel."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, timeout=300, capture_output=True)
    wheel = next(tmp_path.glob("sirolimus_cds-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = ROOT / "cds_service/audit/migrations/versions"
    revisions = {f"cds_service/audit/migrations/versions/{p.name}" for p in versions.glob("[0-9]*.py")}
    assert revisions and revisions <= names
    assert {"cds_service/audit/migrations/env.py", "cds_service/audit/migrations/script.py.mako"} <= names
