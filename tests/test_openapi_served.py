"""GET /openapi.yaml: the description the service serves is self-contained and agrees with its routes."""
from __future__ import annotations

import re
from typing import Any

import yaml

from cds_service.http.openapi import description
from tests.support.app import make_app

METHODS = {"get", "post", "put", "delete", "patch"}


def served(tmp_path: Any) -> tuple[Any, dict[str, Any]]:
    app = make_app(tmp_path)
    response = app.test_client().get("/openapi.yaml")  # no Authorization header: public documentation
    assert response.status_code == 200 and response.mimetype == "application/yaml"
    return app, yaml.safe_load(response.get_data(as_text=True))


def test_the_document_is_served_without_a_jwt_and_refers_to_nothing_outside_it(tmp_path: Any) -> None:
    _, document = served(tmp_path)
    assert document == description()
    assert document["openapi"].startswith("3.1")
    refs = list(_refs(document))
    assert refs and all(ref.startswith("#/components/") for ref in refs)
    for ref in refs:  # every internal reference resolves
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    assert {"HookRequest", "HookResponse", "Card", "Feedback", "OperationOutcome"} <= set(
        document["components"]["schemas"])


def _refs(node: Any) -> Any:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path with {params}) for each operation; concrete service paths folded into their template."""
    found = set()
    for path, item in document["paths"].items():
        for method in set(item) & METHODS:
            folded = re.sub(r"^/cds-services/sirolimus-[a-z-]+$", "/cds-services/{service_id}", path)
            found.add((method.upper(), folded))
    return found


def _routed(app: Any) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method, path))
    return found


def test_every_route_of_the_service_is_described_and_every_description_is_a_route(tmp_path: Any) -> None:
    app, document = served(tmp_path)
    routed, documented = _routed(app), _documented(document)
    assert routed == documented, f"only routed: {routed - documented}; only described: {documented - routed}"


def test_the_hook_request_schema_takes_the_fhir_servers_the_service_takes(tmp_path: Any) -> None:
    """A fhirServer valid for the description is one the service reads (or refuses with 412, never 400)."""
    import uuid

    from jsonschema import Draft202012Validator

    app, document = served(tmp_path)
    schema = {**document["components"]["schemas"]["HookRequest"], "components": document["components"]}
    validator = Draft202012Validator(schema)
    client = app.test_client()
    for server in ("http://127.0.0.1:8091/fhir", "https://fhir.example.org/r4/", "http://[::1]:8080/fhir",
                   "http://a:99999/fhir", "http://ex.org/fhir?x=1"):
        request = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": server,
                   "context": {"userId": "Practitioner/1", "patientId": "p1"}}
        assert not list(validator.iter_errors(request)), server
        answered = client.post("/cds-services/sirolimus-monitoring", json=request)
        assert answered.status_code in (200, 412), (server, answered.status_code, answered.get_json())
