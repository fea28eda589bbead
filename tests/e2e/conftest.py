"""The e2e suite: synthetic patients and the suite's own `e2e-` patients in the real FHIR server, and an
app under test per test (its own database), whose clock says `support.TODAY`."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.synthetic.seed import seed
from tests.e2e.support import TODAY, AuditDb, e2e_app, patients_bundle

SYNTHETIC = [
    "ihhe-propranolol-failed",
    "khe-azole",
    "khe-nmol",
    "khe-no-weight",
    "khe-taper-eligible",
    "khe-taper-recent-step",
    "khe-taper-relapse",
    "khe-taper-step-due",
]


@pytest.fixture(scope="session")
def fhir(fhir_server: Any) -> Any:
    """The session's FHIR server with the patients these tests use (PUTs: seeding again is harmless)."""
    seed(fhir_server.base_url, fhir_server.token, names=SYNTHETIC, today=TODAY)
    reply = fhir_server.transaction(patients_bundle())
    statuses = [entry["response"]["status"] for entry in reply["entry"]]
    assert all(s.startswith("2") for s in statuses), statuses
    return fhir_server


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'e2e.db'}"


@pytest.fixture
def app(tmp_path: Path, fhir: Any, sqlite_url: str) -> Flask:
    return e2e_app(tmp_path, fhir, sqlite_url)


@pytest.fixture
def client(app: Flask) -> Any:
    """The app's test client, as an EHR calls it."""
    return app.test_client()


@pytest.fixture
def db(sqlite_url: str, app: Flask) -> Iterator[AuditDb]:
    audit = AuditDb(sqlite_url)
    yield audit
    audit.dispose()
