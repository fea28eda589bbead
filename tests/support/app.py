"""Building the app under test with explicit settings (no JWT unless a test asks for it)."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from cds_service.app import create_app
from cds_service.config import AuthSettings, FhirSettings, Settings
from fhir_profiles.schemas import problems

# Every response a test app gives is checked against the wire-format schemas; tests/conftest.py fails
# the test that produced a violation (an after_request hook cannot fail a test by itself).
SCHEMA_VIOLATIONS: list[str] = []


def _schema_for(response: Response) -> str | None:
    if response.status_code == 401 or not response.is_json:
        return None
    if response.status_code >= 400:
        return "operation-outcome"
    if request.method == "GET" and request.path == "/cds-services":
        return "discovery"
    is_hook_call = request.path.startswith("/cds-services/") and not request.path.endswith("/feedback")
    if request.method == "POST" and is_hook_call:
        return "hook-response"
    return None


def _check_response(response: Response) -> Response:
    if response.status_code == 401 and response.get_data():
        SCHEMA_VIOLATIONS.append(f"{request.path}: a 401 must be bare")
    schema = _schema_for(response)
    if schema:
        found = problems(schema, response.get_json())
        SCHEMA_VIOLATIONS.extend(f"{request.method} {request.path} ({schema}): {p}" for p in found)
    return response


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
    app = (create_app(settings, upgrade_database=True) if clock is None
           else create_app(settings, clock=clock, upgrade_database=True))
    app.after_request(_check_response)
    return app


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
