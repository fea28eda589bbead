"""Shared fixtures: the real FHIR server process, databases, and the app under test."""
from __future__ import annotations

import ast
import gc
import itertools
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import prometheus_client  # noqa: F401 - see below
import pytest
from hypothesis import settings

from tests.support.fhir_server import FhirServer, start_fhir_server

# prometheus_client picks its value store when first imported. `serve` run in-process (tests/test_cli_integrator.py,
# tests/test_schema_migrations.py) sets PROMETHEUS_MULTIPROC_DIR only while it runs: had it imported the client
# first, every later test in that worker would count into a directory that no longer exists. Imported above,
# before any test, without the variable: each worker counts in memory whatever ran before.
assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ, "the tests count in memory: unset PROMETHEUS_MULTIPROC_DIR"

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Hypothesis profiles, chosen here and never per test. `ci` keeps the full example counts and runs the
# same generated cases every time (a failure there is reproducible). `dev`, the default off CI, runs a
# few varied cases with no deadline, for a fast inner loop on a busy machine. HYPOTHESIS_PROFILE=ci
# runs CI's cases locally. The big property runs set their own sizes and are marked `slow`.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", max_examples=20, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


def _module_marks(path: Path) -> set[str]:
    """The marks a test file puts on every test in it (`pytestmark = pytest.mark.x` or a list), read
    without importing the file."""
    for node in ast.parse(path.read_bytes()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            return {n.attr for n in ast.walk(node.value) if isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Attribute) and n.value.attr == "mark"}
    return set()


def pytest_configure(config: pytest.Config) -> None:
    """schemathesis's pytest plugin (blocked in pyproject's addopts: `-p no:schemathesis`) costs every
    process about a second of CPU to import; only the fuzz tests need it, so it is loaded here unless
    they are left out by `-m` (the inner loop)."""
    if not _left_out_by_markexpr(Path(__file__).parent / "test_openapi_fuzz.py", config):
        config.pluginmanager.import_plugin("schemathesis.pytest.plugin")


def _left_out_by_markexpr(path: Path, config: pytest.Config) -> bool:
    expression = config.getoption("markexpr")
    marks = _module_marks(path) if expression else set()
    if not marks:
        return False
    from _pytest.mark.expression import Expression

    compiled = Expression.compile(expression)
    others = sorted(set(re.findall(r"[A-Za-z_]\w*", expression)) - marks - {"and", "or", "not"})
    for values in itertools.product((False, True), repeat=len(others)):
        given = dict(zip(others, values, strict=True))
        if compiled.evaluate(lambda name, given=given, **_: name in marks or given.get(name, False)):
            return False
    return True


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under `-m EXPR`, a file none of whose tests can match EXPR (e.g. a `slow` module under
    `-m "not slow"`) is not imported at all: importing the fuzz tests alone (schemathesis) costs
    seconds of CPU in every process, for tests that would be deselected anyway. Exact: EXPR is false
    for every combination of the marks a test in the file could add to the file's own."""
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    return True if _left_out_by_markexpr(collection_path, config) else None


# The fixtures that reach a server process of the machine (see pytest_collection_modifyitems).
SERVER_FIXTURES = {"fhir_server", "postgres_admin"}
# The PostgreSQL variant of a test parametrized over the databases: a round trip to the server and a
# fresh database per test, so `slow` like the other server tests (a parameter's marks, since such a
# test reaches `postgres_url` through request.getfixturevalue, which the rule above cannot see).
POSTGRESQL = pytest.param("postgresql", marks=[pytest.mark.integration, pytest.mark.slow])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that talks to the real FHIR server process (it uses `fhir_server`, directly or through
    `fhir`/`seeded`) or to the PostgreSQL server (`postgres_admin`, through `postgres_url`) is
    `integration` and `slow`: out of the inner loop, always in CI. The rule reads the fixtures, so a
    new test cannot forget it. Runs before `-m` deselects (tryfirst)."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Every module is imported now (the service, fhir.resources, SciPy, matplotlib, hypothesis): move
    those long-lived objects out of the garbage collector's sight. Python's full collections then walk
    only what the tests themselves make, instead of the whole imported heap each time (about half the
    collector's CPU in a run, and most of pytest's five collections at exit)."""
    gc.freeze()


def require_service(name: str, reason: str) -> None:
    """Skip locally when an external service is missing, but fail in CI (CI=true)."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


@pytest.fixture(autouse=True)
def responses_follow_the_schemas() -> Iterator[None]:
    """Fail any test during which the app answered something that breaks the wire-format schemas."""
    from tests.support.app import SCHEMA_VIOLATIONS

    SCHEMA_VIOLATIONS.clear()
    yield
    assert SCHEMA_VIOLATIONS == [], "responses broke the CDS Hooks schemas"


@pytest.fixture(autouse=True)
def service_logger_restored() -> Iterator[None]:
    """A test that runs the CLI in-process (which calls configure_logging) leaves no handler behind.

    Otherwise later tests that read records through caplog see nothing: the `sirolimus_cds` logger
    would no longer propagate to the root logger.
    """
    logger = logging.getLogger("sirolimus_cds")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirServer]:
    """One sekmet-fhir process for the whole session; tests use distinct patient ids."""
    server = start_fhir_server()
    try:
        yield server
    finally:
        server.stop()


POSTGRES_ADMIN_URL = os.environ.get("SIROLIMUS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[object]:
    """An AUTOCOMMIT engine on the local PostgreSQL server (fails in CI when it is missing)."""
    import sqlalchemy

    from cds_service.audit.database import engine_url

    admin = sqlalchemy.create_engine(engine_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.OperationalError as exc:
        admin.dispose()
        require_service("PostgreSQL", f"{POSTGRES_ADMIN_URL}: {type(exc).__name__}")
    yield admin
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_admin) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh database on the local PostgreSQL server for one test, dropped afterwards."""
    import uuid

    import sqlalchemy

    name = f"sirolimus_test_{uuid.uuid4().hex[:10]}"
    with postgres_admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with postgres_admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", POSTGRESQL])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Each test using this runs against SQLite and against the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sirolimus-cds.db'}"
    return str(request.getfixturevalue("postgres_url"))
