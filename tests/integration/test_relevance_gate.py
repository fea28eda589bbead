"""patient-view without prefetch: a chart that does not concern the service costs the EHR 2 small queries."""
from __future__ import annotations

import pytest

from tests.sandbox.harness import ReadCounter, start_open_fhir_server
from tests.support.app import hook_request, make_app

pytestmark = pytest.mark.slow


def _child(pid: str, condition: tuple[str, str]) -> dict:
    resources = [
        {"resourceType": "Patient", "id": pid, "birthDate": "2019-03-01"},
        {"resourceType": "Condition", "id": f"{pid}-c", "subject": {"reference": f"Patient/{pid}"},
         "code": {"coding": [{"system": condition[0], "code": condition[1]}]}},
        {"resourceType": "MedicationRequest", "id": f"{pid}-amox", "status": "active", "intent": "order",
         "subject": {"reference": f"Patient/{pid}"},
         "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                   "code": "308182"}]}},
    ]
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                      for r in resources]}


@pytest.fixture(scope="module")
def fhir():
    server = start_open_fhir_server()
    server.transaction(_child("gate-asthma", ("http://snomed.info/sct", "195967001")))
    server.transaction(_child("gate-khe", ("http://www.orpha.net", "2122")))
    yield server
    server.stop()


def test_a_child_without_sirolimus_or_khe_ihhe_costs_two_code_filtered_queries_and_no_card(tmp_path, fhir):
    app = make_app(tmp_path, fhir_servers=(fhir.base_url,))
    counter = ReadCounter(fhir)
    before = counter.settled()
    response = app.test_client().post("/cds-services/sirolimus-monitoring",
                                      json=hook_request("patient-view", "gate-asthma", fhir.base_url, None))
    assert response.status_code == 200 and response.get_json() == {"cards": []}
    counter.settled()
    urls = counter.urls_since(before)
    assert len(urls) == 2
    assert all("code=" in url for url in urls)
    assert not any("/Observation" in url or "/Patient/" in url for url in urls)  # no history read


def test_a_child_with_khe_is_read_in_full(tmp_path, fhir):
    app = make_app(tmp_path, fhir_servers=(fhir.base_url,))
    counter = ReadCounter(fhir)
    before = counter.settled()
    response = app.test_client().post("/cds-services/sirolimus-monitoring",
                                      json=hook_request("patient-view", "gate-khe", fhir.base_url, None))
    assert response.status_code == 200
    counter.settled()
    urls = counter.urls_since(before)
    assert any("/Patient/gate-khe" in url for url in urls)
    assert any("29247-4" in url for url in urls)  # the troughs are read for a concerned child
