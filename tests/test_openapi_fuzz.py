"""Fuzz the running app against its own description, as it serves it at GET /openapi.yaml
(fhir_profiles/openapi.yaml with the wire-format schemas inlined), with schemathesis.

The app has JWT off and no FHIR server allowed, so a hook call that passes validation ends in 412
(or 200 when its prefetch is complete): every answer must be a documented status with a documented
body, and none a 5xx. Derandomized and bounded, so that CI runs the same examples every time.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth
from schemathesis.config import SchemathesisConfig

from cds_service.http.logs import install_request_logging
from cds_service.http.openapi import description
from cds_service.service.services import services
from fhir_profiles.schemas import problems
from tests.support.app import make_app

MAX_EXAMPLES = 60

pytestmark = pytest.mark.slow


def load_description() -> dict[str, Any]:
    """What GET /openapi.yaml serves (tests/test_openapi_served.py checks that it is this)."""
    return description()


def _without_security(document: dict[str, Any]) -> dict[str, Any]:
    """The app under test has JWT verification off (tests/test_auth_jwt.py covers it), so requests
    without a token are valid here: drop the requirement rather than have every one flagged."""
    document = {**document, "security": []}
    return document


CONFIG = SchemathesisConfig.from_dict({
    "checks": {
        # Valid requests may also be 412: the FHIR data is missing (no FHIR server is allowed here).
        "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "412", "429", "5xx"]},
    },
})
schema = schemathesis.openapi.from_dict(_without_security(load_description()), config=CONFIG)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "x")  # same length; allowed wherever NUL was
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


@schema.hook
def map_body(context, body):  # type: ignore[no-untyped-def]
    """The description says in prose that strings never hold NUL (JSON Schema cannot say it of every
    nested string); hypothesis loves "\x00", so without this most valid bodies would be 400s."""
    return _without_nul(body)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("fuzz"))
    install_request_logging(app)  # idempotent: the X-Request-Id header is part of the description
    return app


def test_every_file_reference_resolves_and_the_description_is_valid():
    document = load_description()
    assert {"HookRequest", "HookResponse", "Card", "Feedback", "OperationOutcome", "Discovery"} <= set(
        document["components"]["schemas"])
    assert "../" not in json.dumps(document)
    operations = {result.ok().label for result in schema.get_all_operations()}
    assert {"POST /cds-services/sirolimus-order-select", "POST /cds-services/sirolimus-order-sign",
            "POST /cds-services/sirolimus-dosing", "POST /cds-services/sirolimus-monitoring",
            "POST /cds-services/{service_id}/feedback", "GET /decisions/{decision_id}", "GET /healthz",
            "GET /cds-services"} <= operations
    assert set(services()) == {"sirolimus-order-select", "sirolimus-order-sign", "sirolimus-monitoring"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_answer_as_described(case, app):
    response = case.call(app=app)
    assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
    if case.operation.label == "POST /cds-services/sirolimus-monitoring" and response.status_code == 200:
        # No FHIR server is allowed: cards can only come from a prefetch that answers every template.
        prefetch = case.body.get("prefetch") or {}
        assert set(services()["sirolimus-monitoring"].prefetch) <= set(prefetch), case.as_curl_command()
    # ignored_auth: this app has JWT verification off on purpose (tests/test_auth_jwt.py covers it).
    case.validate_response(response, excluded_checks=[ignored_auth])


@pytest.mark.parametrize(("method", "path", "allowed"), [("PUT", "/healthz", "GET"),
                                                         ("GET", "/cds-services/sirolimus-dosing", "POST")])
def test_a_405_names_the_allowed_methods(app, method, path, allowed):
    response = app.test_client().open(path, method=method)
    assert response.status_code == 405
    assert problems("operation-outcome", response.get_json()) == []
    assert allowed in response.headers.get("Allow", "")
