"""Discovery read as real clients read it, then every hook called through the service the client picked.

Clients keep the discovery answer in a map: some key services by `id`, the public CDS Hooks sandbox by
`{discovery URL}/{id}`. A later entry with the same key replaces an earlier one, so two hooks under one
id lose one of them (issue #10). Each client model below keeps only what such a map keeps, picks the
service for a hook from it, and calls that service's endpoint, as an EHR does.
"""
from __future__ import annotations

import logging
from typing import Any

import pytest

from cds_service.synthetic.seed import seed
from tests.e2e.support import TODAY, load_request

# They talk to the real FHIR server process: out of the inner loop (-m "not slow"), always in CI.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

PATIENT = "khe-maintenance-high"  # KHE maintenance (5-7 ng/mL), the latest trough above the range
DISCOVERY_URL = "http://localhost/cds-services"


def keyed_by_id(discovery: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in discovery["services"]}


def keyed_by_url(discovery: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{DISCOVERY_URL}/{entry['id']}": entry for entry in discovery["services"]}


def pick(configured: dict[str, dict[str, Any]], hook: str) -> str:
    """The endpoint id of the configured service answering `hook` (the client fires nothing otherwise)."""
    found = [entry["id"] for entry in configured.values() if entry["hook"] == hook]
    assert len(found) == 1, f"the client has {len(found)} services for {hook}"
    return found[0]


REQUESTS = {
    "order-select": ("ehr-order-select-mg.json", {"dose": 0.5, "frequency": 2,
                                                  "dose_text": "0.5 mg by mouth twice daily"}),
    "order-sign": ("ehr-order-sign-mg.json", {"dose": 0.5, "frequency": 2,
                                              "dose_text": "0.5 mg by mouth twice daily"}),
    "patient-view": ("ehr-patient-view.json", {}),
}


@pytest.fixture(scope="module")
def seeded(fhir: Any) -> Any:
    seed(fhir.base_url, fhir.token, names=[PATIENT], today=TODAY)
    return fhir


@pytest.mark.parametrize("client_model", [keyed_by_id, keyed_by_url])
def test_every_hook_offered_reaches_the_service_through_a_client_keyed_map(app: Any, seeded: Any,
                                                                          client_model: Any) -> None:
    client = app.test_client()
    discovery = client.get("/cds-services").get_json()
    offered = {entry["hook"] for entry in discovery["services"]}
    assert offered == {"order-select", "order-sign", "patient-view"}
    configured = client_model(discovery)
    for hook in sorted(offered):
        service_id = pick(configured, hook)
        fixture, draft = REQUESTS[hook]
        request = load_request(fixture, patient_id=PATIENT, fhir=seeded, **draft)
        response = client.post(f"/cds-services/{service_id}", json=request)
        assert response.status_code == 200, (hook, response.get_data(as_text=True))
        cards = response.get_json()["cards"]
        assert cards, f"{hook} through {service_id}: no card for a KHE child with a trough above 5-7"
        for card in cards:  # the protocol link resolves, on this service (absolute URL)
            url = card["source"]["url"]
            assert url == "http://localhost/fhir/PlanDefinition/khe-maintenance", url
            plan = client.get(url)
            assert plan.status_code == 200 and plan.get_json(force=True)["resourceType"] == "PlanDefinition"


def test_the_deprecated_id_still_answers_both_order_hooks_and_says_so_in_the_log(
        app: Any, seeded: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    assert "sirolimus-dosing" not in keyed_by_id(client.get("/cds-services").get_json())
    for hook in ("order-select", "order-sign"):
        fixture, draft = REQUESTS[hook]
        request = load_request(fixture, patient_id=PATIENT, fhir=seeded, **draft)
        with caplog.at_level(logging.WARNING, logger="sirolimus_cds.http"):
            response = client.post("/cds-services/sirolimus-dosing", json=request)
        assert response.status_code == 200 and response.get_json()["cards"]
        assert f"deprecated service id 'sirolimus-dosing' called for {hook}" in caplog.text
    patient_view = load_request("ehr-patient-view.json", patient_id=PATIENT, fhir=seeded)
    assert client.post("/cds-services/sirolimus-dosing", json=patient_view).status_code == 400
    wrong_hook = load_request("ehr-patient-view.json", patient_id=PATIENT, fhir=seeded)
    assert client.post("/cds-services/sirolimus-order-select", json=wrong_hook).status_code == 400
