"""Discovery, request validation and error answers over HTTP (Flask test client, no FHIR needed)."""
import copy
import json
from pathlib import Path

import pytest

from fhir_profiles.schemas import problems
from tests.support.app import hook_request, make_app

SANDBOX = Path(__file__).resolve().parent / "fixtures" / "cds-hooks-sandbox-recorded"


@pytest.fixture
def client(tmp_path):
    return make_app(tmp_path).test_client()


def test_discovery_lists_one_service_per_hook_with_unique_ids(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    body = response.get_json()
    assert problems("discovery", body) == []
    listed = {(s["id"], s["hook"]) for s in body["services"]}
    assert listed == {
        ("sirolimus-order-select", "order-select"),
        ("sirolimus-order-sign", "order-sign"),
        ("sirolimus-monitoring", "patient-view"),
    }
    ids = [s["id"] for s in body["services"]]
    assert len(ids) == len(set(ids))


def test_discovery_prefetch_uses_r4_search_syntax_for_troughs_newest_first(client):
    services = client.get("/cds-services").get_json()["services"]
    for service in services:
        templates = service["prefetch"].values()
        if service["hook"] == "patient-view":  # every chart opened: only the two relevance-gate searches (0108)
            assert sorted(service["prefetch"]) == ["sirolimusOrders", "vascularTumours"]
            assert all("&code=" in t and "Observation" not in t for t in templates)
            continue
        assert any(t == "Patient/{{context.patientId}}" for t in templates)
        trough = [t for t in templates if "29247-4" in t]
        assert trough and all("_sort=-date" in t and "http://loinc.org|29247-4" in t and "_count=" in t for t in trough)
        assert all("sort:desc" not in t for t in templates)  # DSTU2 syntax that servers silently ignore
        searched = " ".join(templates)
        for needed in ("29463-7", "MedicationRequest?", "Condition?", "777-3", "14682-9"):
            assert needed in searched
        assert "8302-2" not in searched  # no rule reads a height: the EHR is not asked for one


@pytest.mark.parametrize("path", ["/cds-services", "/cds-services/sirolimus-dosing",
                                  "/cds-services/sirolimus-dosing/feedback"])
def test_cors_preflight_allows_authorization_and_content_type(client, path):
    response = client.options(path, headers={"Origin": "https://sandbox.cds-hooks.org",
                                             "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "authorization,content-type"})
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


def test_cors_headers_are_on_errors_too(client):
    response = client.post("/cds-services/nope", json={})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def _outcome(response) -> str:
    body = response.get_json()
    assert problems("operation-outcome", body) == []
    return " | ".join(issue["diagnostics"] for issue in body["issue"])


def test_unknown_service_is_404_with_an_operation_outcome(client):
    response = client.post("/cds-services/tacrolimus-dosing", json=hook_request("patient-view", "p", None, None))
    assert response.status_code == 404
    assert "tacrolimus-dosing" in _outcome(response)


def test_hook_not_offered_by_the_service_is_400(client):
    response = client.post("/cds-services/sirolimus-monitoring", json=hook_request("order-sign", "p", None, None))
    assert response.status_code == 400
    assert "does not answer the 'order-sign' hook" in _outcome(response)


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (lambda r: r.pop("hookInstance"), "'hookInstance' is a required property"),
        (lambda r: r.__setitem__("hookInstance", "not-a-uuid"), "hookInstance"),
        (lambda r: r["context"].pop("patientId"), "'patientId' is a required property"),
        (lambda r: r["context"].pop("draftOrders"), "'draftOrders' is a required property"),
        (lambda r: r["context"].pop("selections"), "'selections' is a required property"),
        (lambda r: r.__setitem__("fhirAuthorization", {"access_token": "t", "token_type": "Bearer",
                                                         "expires_in": 1, "scope": "s", "subject": "x"}),
         "'fhirServer' is a dependency of 'fhirAuthorization'"),
        (lambda r: r.__setitem__("prefetch", {"patient": "Patient/1"}), "prefetch.patient"),
        (lambda r: r.__setitem__("context", []), "context"),
    ],
)
def test_malformed_hook_requests_are_400_saying_what_is_wrong(client, mutate, complaint):
    request = hook_request("order-select", "p1", None, None)
    mutate(request)
    response = client.post("/cds-services/sirolimus-dosing", json=request)
    assert response.status_code == 400
    assert complaint in _outcome(response)


def test_invalid_json_and_wrong_media_type(client):
    response = client.post("/cds-services/sirolimus-dosing", data="{\"hook\": ", content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in _outcome(response)
    response = client.post("/cds-services/sirolimus-dosing", data="hook=x",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


@pytest.mark.parametrize("name", ["order-select-initial", "order-select-condition-only", "order-select-sirolimus",
                                  "order-sign-sirolimus", "patient-view"])
def test_the_recorded_sandbox_requests_pass_request_validation(name):
    request = json.loads((SANDBOX / f"{name}.json").read_text())
    assert problems("hook-request", request) == []
    if "draftOrders" in request["context"]:
        assert "type" not in request["context"]["draftOrders"]  # the sandbox's oddity is kept


def test_unknown_members_and_extensions_are_allowed():
    request = hook_request("patient-view", "p1", None, None)
    request["extension"] = {"com.example.ehr": {"tenant": "north"}}
    request["somethingNew"] = True
    request["context"]["vendorField"] = 1
    assert problems("hook-request", copy.deepcopy(request)) == []


def test_health_endpoint_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


@pytest.mark.parametrize("protocol_id", ["khe-maintenance", "khe-guided-discontinuation", "ihhe-sequential-sirolimus"])
def test_the_plan_definitions_and_protocol_data_are_served_without_a_jwt(tmp_path, protocol_id):
    """Public documentation, no patient data: a clinician's browser follows a card's link without a token,
    even when every hook call needs one (decision 0107)."""
    from cds_service.config import AuthSettings

    client = make_app(tmp_path, auth=AuthSettings(require_jwt=True)).test_client()
    assert client.get("/cds-services").status_code == 401  # the API itself still needs the JWT
    plan = client.get(f"/fhir/PlanDefinition/{protocol_id}")
    assert plan.status_code == 200 and plan.mimetype == "application/fhir+json"
    body = plan.get_json(force=True)
    assert body["resourceType"] == "PlanDefinition" and body["id"] == protocol_id
    data = client.get(f"/protocols/{protocol_id}.json")
    assert data.status_code == 200 and data.get_json()["protocol_id"] == protocol_id
    assert data.get_json()["version"] == body["version"]


@pytest.mark.parametrize("path", ["/fhir/PlanDefinition/nope", "/fhir/PlanDefinition/..%2Fprotocols%2Fschema",
                                  "/protocols/schema.json", "/protocols/nope.json"])
def test_an_unknown_protocol_document_is_a_404_with_an_operation_outcome(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert problems("operation-outcome", response.get_json()) == []
