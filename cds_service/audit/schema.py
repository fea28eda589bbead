"""Schema revisions of the audit database, through Alembic (decision 0125).

The migrations ship inside the package (`cds_service/audit/migrations`), so an installed wheel can upgrade.

    upgrade(engine)          bring the database to the newest revision; idempotent. A database made
                             by the first release's `create_all` (no revision recorded) is stamped
                             0001 first when its tables are exactly that release's, refused otherwise.
    require_current(engine)  `serve` and `db purge` go on only with a database that exists (a SQLite
                             file is never created by them) at the newest revision; else a ConfigError
                             naming the command to run.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import Engine

from cds_service.audit.database import require_existing
from cds_service.errors import ConfigError

SCRIPT_LOCATION = "cds_service.audit:migrations"
UPGRADE_COMMAND = "sirolimus-cds db upgrade"

# What the first release's `metadata.create_all` made: revision 0001, column by column.
FIRST_RELEASE = "0001"
FIRST_RELEASE_TABLES = {
    "decisions": {"id", "created_at", "expires_at", "service_id", "hook", "hook_instance", "patient_id",
                  "protocol", "protocol_version", "read_summary", "decision", "cards", "timings_ms"},
    "decision_cards": {"card_uuid", "decision_id"},
    "feedback": {"id", "service_id", "card_uuid", "outcome", "outcome_timestamp", "accepted_suggestions",
                 "override_reason", "decision_id", "received_at"},
}


@dataclass(frozen=True)
class Upgraded:
    before: str | None  # the revision found (None: no revision recorded)
    after: str
    stamped_first_release: bool  # tables of the first release found without a revision, stamped 0001


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for our migrations, bound to `connection` when one is given."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this release knows."""
    found = _scripts().get_current_head()
    assert found is not None, "cds_service/audit/migrations holds no revision"
    return found


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _is_first_release(connection: Connection) -> bool:
    """True for a database holding exactly the first release's tables; False for one holding none."""
    tables = inspect(connection)
    present = set(tables.get_table_names()) & set(FIRST_RELEASE_TABLES)
    if not present:
        return False
    differing = sorted(
        name for name, columns in FIRST_RELEASE_TABLES.items()
        if name not in present or {c["name"] for c in tables.get_columns(name)} != columns
    )
    if differing:
        raise ConfigError(f"the database has sirolimus-cds tables but no schema revision, and table(s) "
                          f"{', '.join(differing)} differ from the first release's: it was not made by "
                          f"sirolimus-cds; use an empty database")
    return True


def upgrade(engine: Engine) -> Upgraded:
    """Bring the database to `head()` in one transaction (PostgreSQL and SQLite run DDL in one)."""
    with engine.begin() as connection:
        before = current_revision(connection)
        if before == head():
            return Upgraded(before, before, stamped_first_release=False)
        stamped = before is None and _is_first_release(connection)
        if stamped:
            command.stamp(alembic_config(connection), FIRST_RELEASE)
        command.upgrade(alembic_config(connection), "head")
    return Upgraded(before, head(), stamped)


def require_current(engine: Engine) -> None:
    """Raise a one-line ConfigError unless the database exists and is at `head()` (creating none)."""
    require_existing(engine.url)
    with engine.connect() as connection:
        current = current_revision(connection)
    if current == head():
        return
    known = {script.revision for script in _scripts().walk_revisions()}
    if current is not None and current not in known:
        raise ConfigError(f"the database is at schema revision {current}, which this release does not know "
                          f"(upgraded by a newer release?): run that release")
    raise ConfigError(f"the database schema is behind (revision {current or 'none'}, this release needs "
                      f"{head()}): run `{UPGRADE_COMMAND}` with the same configuration, then start again")
