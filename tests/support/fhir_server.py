"""The package's local FHIR server (cds_service/cli/local_fhir.py), with the tests' bearer token on."""
from __future__ import annotations

from cds_service.cli.local_fhir import FhirServer, free_port
from cds_service.cli.local_fhir import start_fhir_server as _start

TOKEN = "fhir-test-token-8d41c7"


def start_fhir_server(timeout_s: float = 30.0, *, token: str | None = TOKEN, log_inbound: bool = False) -> FhirServer:
    """A sekmet-fhir process on loopback; bearer `token` required unless None (an open server)."""
    return _start(timeout_s, token=token, log_inbound=log_inbound)


__all__ = ["TOKEN", "FhirServer", "free_port", "start_fhir_server"]
