"""Building the app under test with explicit settings (no JWT unless a test asks for it)."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from cds_service.app import create_app
from cds_service.config import AuthSettings, FhirSettings, Settings


def make_app(
    tmp_path: Path,
    *,
    fhir_servers: tuple[str, ...] = (),
    timeout_seconds: float = 5.0,
    database_url: str | None = None,
    auth: AuthSettings | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    **overrides: Any,
) -> Flask:
    settings = Settings(
        database_url=database_url or f"sqlite:///{tmp_path / 'cds.db'}",
        fhir=FhirSettings(allowed_servers=fhir_servers, timeout_seconds=timeout_seconds),
        auth=auth or AuthSettings(require_jwt=False),
        **overrides,
    )
    if clock is None:
        return create_app(settings)
    return create_app(settings, clock=clock)


def hook_request(hook: str, patient_id: str, fhir_server: str | None, token: str | None, **extra: Any) -> dict:
    """A hook request shaped like an EHR's: context per hook, fhirAuthorization when a token is given."""
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient_id}
    if hook in ("order-select", "order-sign"):
        draft = extra.pop("draft", None) or {
            "resourceType": "MedicationRequest",
            "id": "draft-1",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"},
        }
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
        if hook == "order-select":
            context["selections"] = [f"MedicationRequest/{draft['id']}"]
    request: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, **extra}
    if fhir_server:
        request["fhirServer"] = fhir_server
    if token:
        request["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        }
    return request
