"""Shared fixtures: the real FHIR server process, databases, and the app under test."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.fhir_server import FhirServer, start_fhir_server

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(name: str, reason: str) -> None:
    """Skip locally when an external service is missing, but fail in CI (CI=true)."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirServer]:
    """One sekmet-fhir process for the whole session; tests use distinct patient ids."""
    server = start_fhir_server()
    try:
        yield server
    finally:
        server.stop()
