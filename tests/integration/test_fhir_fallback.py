"""Hook calls against a real FHIR R4 server process (sekmet-fhir on loopback).

With no prefetch the service fetches everything itself with the caller's bearer token; when the
server is stopped, frozen past the time budget, or refuses the token, the answer is a 412 naming why.
"""
import contextlib
import socket
import threading
import time

import pytest

from cds_service.service.services import services
from tests.support.app import hook_request, make_app
from tests.support.fhir_server import start_fhir_server

pytestmark = pytest.mark.integration

PATIENT = "fallback-khe-1"


def _bundle(patient_id: str) -> dict:
    """A small KHE record: patient, weight, two troughs, a sirolimus order, the diagnosis."""
    def obs(ident, loinc, value, unit, when):
        return {"resourceType": "Observation", "id": ident, "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
                "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": when,
                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}

    resources = [
        {"resourceType": "Patient", "id": patient_id, "birthDate": "2020-05-02", "gender": "female"},
        obs(f"{patient_id}-wt", "29463-7", 19.8, "kg", "2026-11-01"),
        obs(f"{patient_id}-tr1", "29247-4", 6.2, "ng/mL", "2026-10-12T07:30:00Z"),
        obs(f"{patient_id}-tr2", "29247-4", 8.1, "ng/mL", "2026-11-16T07:30:00Z"),
        {"resourceType": "MedicationRequest", "id": f"{patient_id}-mr", "status": "active", "intent": "order",
         "subject": {"reference": f"Patient/{patient_id}"},
         "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                   "code": "314230"}]},
         "authoredOn": "2026-08-01",
         "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                                "doseAndRate": [{"doseQuantity": {"value": 0.8, "unit": "mg",
                                                                  "system": "http://unitsofmeasure.org",
                                                                  "code": "mg"}}]}]},
        {"resourceType": "Condition", "id": f"{patient_id}-khe", "subject": {"reference": f"Patient/{patient_id}"},
         "code": {"coding": [{"system": "http://www.orpha.net", "code": "2122"}]},
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                        "code": "remission"}]}},
    ]
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                      for r in resources]}


@pytest.fixture(scope="module")
def seeded(fhir_server):
    fhir_server.transaction(_bundle(PATIENT))
    return fhir_server


def _audit(app):
    store = app.extensions["sirolimus_cds"].store
    from sqlalchemy import select

    from cds_service.audit.store import decisions
    with store.engine.connect() as conn:
        return conn.execute(select(decisions).order_by(decisions.c.created_at.desc())).mappings().first()


def _diagnostics(response) -> str:
    return " | ".join(issue["diagnostics"] for issue in response.get_json()["issue"])


def test_without_prefetch_everything_is_fetched_with_the_bearer_token(tmp_path, seeded):
    app = make_app(tmp_path, fhir_servers=(seeded.base_url,))
    request = hook_request("patient-view", PATIENT, seeded.base_url, seeded.token)
    response = app.test_client().post("/cds-services/sirolimus-monitoring", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)
    audit = _audit(app)
    assert set(audit["read_summary"]["sources"].values()) == {"fetched"}
    # patient + weight + 2 troughs + medication + condition, each read once (vitals/troughs de-duplicated)
    assert audit["read_summary"]["resources"] == 5


def test_a_complete_prefetch_needs_no_fhir_server(tmp_path, seeded):
    app = make_app(tmp_path, fhir_servers=(seeded.base_url,))
    prefetch = {key: None for key in services()["sirolimus-monitoring"].prefetch}
    prefetch["patient"] = seeded.search(f"Patient/{PATIENT}")
    prefetch["sirolimusLevels"] = seeded.search(f"Observation?patient={PATIENT}&code=http://loinc.org|29247-4&_sort=-date")
    request = hook_request("patient-view", PATIENT, None, None, prefetch=prefetch)
    response = app.test_client().post("/cds-services/sirolimus-monitoring", json=request)
    assert response.status_code == 200
    sources = _audit(app)["read_summary"]["sources"]
    assert sources["patient"] == sources["sirolimusLevels"] == "prefetch"
    assert sources["medicationRequests"] == "prefetch-null"


def test_an_operation_outcome_in_prefetch_is_fetched_again(tmp_path, seeded):
    app = make_app(tmp_path, fhir_servers=(seeded.base_url,))
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    request = hook_request("patient-view", PATIENT, seeded.base_url, seeded.token, prefetch={"sirolimusLevels": failed})
    response = app.test_client().post("/cds-services/sirolimus-monitoring", json=request)
    assert response.status_code == 200
    assert _audit(app)["read_summary"]["sources"]["sirolimusLevels"] == "fetched"


def test_missing_prefetch_without_fhir_server_is_412_naming_the_keys(tmp_path):
    app = make_app(tmp_path)
    response = app.test_client().post("/cds-services/sirolimus-monitoring",
                                      json=hook_request("patient-view", PATIENT, None, None))
    assert response.status_code == 412
    text = _diagnostics(response)
    # patient-view first needs the two relevance-gate keys (decision 0108): those are what is missing.
    assert "no fhirServer" in text and "sirolimusOrders" in text and "vascularTumours" in text


def test_a_fhir_server_outside_the_allowlist_gets_no_request_and_a_412(tmp_path):
    accepted: list[object] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)

    def watch():
        for _ in range(10):
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept())

    watcher = threading.Thread(target=watch)
    watcher.start()
    port = listener.getsockname()[1]
    app = make_app(tmp_path, fhir_servers=("https://ehr.example.org/fhir",))
    request = hook_request("patient-view", PATIENT, f"http://127.0.0.1:{port}/fhir", "tok")
    response = app.test_client().post("/cds-services/sirolimus-monitoring", json=request)
    watcher.join()
    listener.close()
    assert response.status_code == 412
    assert "not among the FHIR servers" in _diagnostics(response)
    assert accepted == []


def test_a_refused_token_is_412_saying_so(tmp_path, seeded):
    app = make_app(tmp_path, fhir_servers=(seeded.base_url,))
    request = hook_request("patient-view", PATIENT, seeded.base_url, "expired-or-wrong-token")
    response = app.test_client().post("/cds-services/sirolimus-monitoring", json=request)
    assert response.status_code == 412
    assert "refused the access token (401)" in _diagnostics(response)


@pytest.fixture
def own_server():
    server = start_fhir_server()
    server.transaction(_bundle(PATIENT))
    yield server
    server.resume()
    server.stop()


@pytest.mark.slow  # starts a FHIR server process of its own
def test_a_stopped_server_is_412_could_not_connect(tmp_path, own_server):
    own_server.stop()
    app = make_app(tmp_path, fhir_servers=(own_server.base_url,))
    request = hook_request("patient-view", PATIENT, own_server.base_url, own_server.token)
    response = app.test_client().post("/cds-services/sirolimus-monitoring", json=request)
    assert response.status_code == 412
    assert "could not connect" in _diagnostics(response)


@pytest.mark.slow  # starts a FHIR server process of its own
def test_a_server_slower_than_the_budget_is_412_timed_out_within_the_budget(tmp_path, own_server):
    own_server.pause()  # the kernel still accepts connections; nothing answers
    app = make_app(tmp_path, fhir_servers=(own_server.base_url,), timeout_seconds=1.0)
    request = hook_request("patient-view", PATIENT, own_server.base_url, own_server.token)
    started = time.monotonic()
    response = app.test_client().post("/cds-services/sirolimus-monitoring", json=request)
    elapsed = time.monotonic() - started
    assert response.status_code == 412
    assert "timed out" in _diagnostics(response)
    # Not a benchmark: without the deadline this call would hang for as long as the server is frozen.
    assert elapsed < 5 * 1.0
