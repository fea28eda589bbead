"""The public CDS Hooks sandbox, end to end: an open sekmet-fhir with seeded synthetic patients, the
service as `sirolimus-cds serve` trusting the sandbox issuer through a pinned key set, and a `Sandbox`
client that calls it exactly as the sandbox app does."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cds_service.synthetic.seed import seed
from tests.sandbox.harness import ReadCounter, Sandbox, sandbox_prefetch, start_open_fhir_server
from tests.support.fhir_server import FhirServer, free_port
from tests.support.service_process import ServiceProcess, running_service, write_config

PATIENT = "khe-maintenance-high"
# What the recorded sandbox filled: the patient and the Observation searches. The other templates are
# left out, as the sandbox leaves out any it could not fetch, so that the service fetches them itself.
SANDBOX_FILLED = ["patient", "sirolimusLevels", "weightHeight", "labs"]


def today() -> dt.date:
    """The service's "today" (its default time zone is UTC)."""
    return dt.datetime.now(dt.UTC).date()


@dataclass
class Deployment:
    sandbox: Sandbox
    service: ServiceProcess
    fhir: FhirServer
    reads: ReadCounter

    def prefetch(self, keys: list[str] | None = SANDBOX_FILLED, patient_id: str = PATIENT) -> dict[str, Any]:
        """The prefetch the sandbox would send now (it fetches again before every call)."""
        from cds_service.service.services import services

        templates = dict(services()["sirolimus-order-select"].prefetch)
        return sandbox_prefetch(self.fhir.base_url, templates, patient_id, keys)


@pytest.fixture(scope="session")
def open_fhir() -> Iterator[FhirServer]:
    """The sandbox's FHIR server: open (no token), with the KHE maintenance patient seeded for today."""
    server = start_open_fhir_server()
    try:
        seed(server.base_url, None, [PATIENT], today())
        yield server
    finally:
        server.stop()


def _deploy(tmp_path_factory: pytest.TempPathFactory, fhir: FhirServer) -> Iterator[Deployment]:
    sandbox = Sandbox(service_base="")
    workdir = tmp_path_factory.mktemp("sirolimus-cds")
    port = free_port()
    config = write_config(workdir, port, [fhir.base_url], sandbox.key, sandbox.kid)
    with running_service(workdir, config, port) as service:
        sandbox.service_base = service.base_url
        yield Deployment(sandbox, service, fhir, ReadCounter(fhir))


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory, open_fhir: FhirServer) -> Iterator[Deployment]:
    """One service process shared by the tests that do not care about its in-memory state."""
    yield from _deploy(tmp_path_factory, open_fhir)


@pytest.fixture
def fresh_deployment(tmp_path_factory: pytest.TempPathFactory, open_fhir: FhirServer) -> Iterator[Deployment]:
    """A service process of its own (empty in-process memory of recent reads)."""
    yield from _deploy(tmp_path_factory, open_fhir)
