"""The card answers the drafted dose (issue #10 item 2), through HTTP as a client calls it.

khe-maintenance-high (seeded synthetic patient): KHE maintenance (target 5-7 ng/mL, aim 6), 0.5 mg
tablets, one twice daily (1 mg/day), trough 8.1 ng/mL at steady state, 28.1 kg.
The protocol's dose, by hand: 1 mg/day x 6 / 8.1 = 0.741 mg/day on tablets; 0.37 mg a dose is no whole
tablet, so the oral solution, which gives 1/1.27 of the tablets' exposure at the same mg (protocol data,
decision 0106): 0.741 x 1.27 = 0.941 -> 0.47 mL (0.47 mg) twice daily = 0.94 mg/day.
Predicted trough of a draft D mg/day: 8.1 x D / 1 on tablets, 8.1 x D / 1 / 1.27 on the solution.

ihhe-propranolol-failed: IHHE infant, 7.9 kg, no sirolimus yet: start 0.1 mg/kg/day = 0.79 mg/day ->
0.40 mL twice daily; a start more than 20 % away (protocol data) departs.
"""
from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.synthetic.seed import seed
from tests.e2e.support import TODAY, call_hook, load_request, only_card, recommended, resource_of

# They talk to the real FHIR server process: out of the inner loop (-m "not slow"), always in CI.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

HIGH, IHHE = "khe-maintenance-high", "ihhe-propranolol-failed"
TABLET_05 = {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "905160",
             "display": "sirolimus 0.5 MG Oral Tablet [Rapamune]"}


@pytest.fixture(scope="module")
def seeded(fhir: Any) -> Any:
    seed(fhir.base_url, fhir.token, names=[HIGH, IHHE], today=TODAY)
    return fhir


def solution_draft(fhir: Any, patient: str, mg: float, per_day: int, reason: str = "khe") -> dict[str, Any]:
    return load_request("ehr-order-select-mg.json", patient_id=patient, fhir=fhir, dose=mg, frequency=per_day,
                        dose_text=f"{mg:g} mg ({mg:g} mL) by mouth", reason=reason)


def tablet_draft(fhir: Any, patient: str, tablets: float, per_day: int) -> dict[str, Any]:
    """The same request, with the 0.5 mg tablet product and a tablet count, as EHR order forms send."""
    request = solution_draft(fhir, patient, tablets, per_day)
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["medicationCodeableConcept"] = {"coding": [copy.deepcopy(TABLET_05)], "text": "Rapamune 0.5 mg tablet"}
    dose = order["dosageInstruction"][0]
    dose["doseAndRate"][0]["doseQuantity"] = {"value": tablets, "unit": "tablet",
                                              "system": "http://unitsofmeasure.org", "code": "{tbl}"}
    dose["text"] = f"{tablets:g} tablet(s) of 0.5 mg by mouth"
    order.pop("dispenseRequest", None)
    return request


def test_done_when_a_doubled_tablet_draft_warns_with_its_predicted_trough_and_offers_the_protocol_dose(
        app: Any, seeded: Any) -> None:
    """Two 0.5 mg tablets twice daily = 2 mg/day (+100 %): 8.1 x 2 / 1 = 16.2 ng/mL, above 5-7. Reached as a
    client does: discovery keyed by `{discovery URL}/{id}`, the order-select service picked from it."""
    client = app.test_client()
    listed = client.get("/cds-services").get_json()["services"]
    configured = {f"http://localhost/cds-services/{s['id']}": s for s in listed}
    [service_id] = [s["id"] for s in configured.values() if s["hook"] == "order-select"]
    response = client.post(f"/cds-services/{service_id}", json=tablet_draft(seeded, HIGH, 2, 2))
    assert response.status_code == 200
    card = only_card(response.get_json()["cards"])
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Draft 2 mg/day (+100 %): predicted trough \u2248 16.2 ng/mL, above 5\u20137")
    assert "0.47 mg (0.47 mL) twice daily" in card["summary"]
    chosen = recommended(card)
    dosage = resource_of(chosen, "MedicationRequest", "update")["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 0.47
    assert dosage["timing"]["repeat"]["frequency"] == 2


@pytest.mark.parametrize(("mg", "per_day", "indicator", "lead"), [
    # the protocol's dose: 8.1 x 0.94 / 1.27 = 5.995 -> 6.0, within 5-7
    (0.47, 2, "info", None),
    # 2 mg/day of solution: 8.1 x 2 / 1.27 = 12.76 -> 12.8, above
    (1.0, 2, "warning", "Draft 2 mg/day (+100 %): predicted trough \u2248 12.8 ng/mL, above 5\u20137"),
    # 0.5 mg/day of solution: 8.1 x 0.5 / 1.27 = 3.19 -> 3.2, below
    (0.25, 2, "warning", "Draft 0.5 mg/day (\u221250 %): predicted trough \u2248 3.2 ng/mL, below 5\u20137"),
    # once daily at half the daily dose: 0.47 mg/day, 8.1 x 0.47 / 1.27 = 3.0, below
    (0.47, 1, "warning", "Draft 0.47 mg/day (\u221253 %): predicted trough \u2248 3 ng/mL, below 5\u20137"),
    # 10 mg twice daily = 20 mg/day: beyond the 4 mg/day sanity limit and 20 x the current dose
    (10.0, 2, "critical", None),
])
def test_maintenance_drafts_over_http(app: Any, seeded: Any, mg: float, per_day: int, indicator: str,
                                      lead: str | None) -> None:
    card = only_card(call_hook(app.test_client(), solution_draft(seeded, HIGH, mg, per_day)))
    assert card["indicator"] == indicator, card["summary"]
    if lead is not None:
        assert card["summary"].startswith(lead), card["summary"]
        assert "Protocol: 0.47 mg (0.47 mL) twice daily" in card["summary"]
    if indicator == "info":
        assert "0.47 mg (0.47 mL) twice daily" in card["summary"]
        assert "follows the protocol" in card["detail"]
        assert "predicted trough \u2248 6 ng/mL (target 5\u20137)" in card["detail"]


@pytest.mark.parametrize(("mg", "per_day", "lead"), [
    # issue #11 item 5: twice the infant dose: 1.6 mg/day / 7.9 kg = 0.202 mg/kg/day, 2x 0.1
    (0.8, 2, "Draft 1.6 mg/day: 0.202 mg/kg/day, 2\u00d7 the protocol start"),
    # issue #11 item 5: once daily at half the daily dose: 0.4 mg/day / 7.9 = 0.051 mg/kg/day, 0.5x 0.1
    (0.4, 1, "Draft 0.4 mg/day: 0.051 mg/kg/day, 0.5\u00d7 the protocol start"),
])
def test_an_ihhe_start_away_from_0_1_mg_per_kg_is_flagged_in_the_summary(app: Any, seeded: Any, mg: float,
                                                                         per_day: int, lead: str) -> None:
    card = only_card(call_hook(app.test_client(), solution_draft(seeded, IHHE, mg, per_day, reason="ihhe")))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith(lead), card["summary"]
    assert card["summary"].endswith("protocol start (0.1 mg/kg/day). Protocol: 0.4 mg (0.4 mL) twice daily")
    assert len(card["summary"]) <= 140


def test_the_ihhe_protocol_start_follows(app: Any, seeded: Any) -> None:
    card = only_card(call_hook(app.test_client(), solution_draft(seeded, IHHE, 0.4, 2, reason="ihhe")))
    assert "Draft 0.8 mg/day" in card["detail"] and "follows the protocol" in card["detail"]
    assert "predicted" not in card["summary"]


def test_the_solution_with_a_tablet_count_says_what_to_enter_in_ml_never_no_dose(app: Any, seeded: Any) -> None:
    """After "Switch to oral solution", a client that copies only the product sends the solution with the old
    tablet count (1 {pill}): the card names the product and the volume to enter (0.47 mL, by hand above)."""
    request = tablet_draft(seeded, HIGH, 1, 2)
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["medicationCodeableConcept"] = {"coding": [{"system": TABLET_05["system"], "code": "314230",
                                                      "display": "sirolimus 1 MG/ML Oral Solution"}]}
    order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] = {"value": 1, "unit": "{pill}"}
    card = only_card(call_hook(app.test_client(), request))
    assert card["summary"].startswith("The product is the 1 mg/mL solution: enter 0.47 mL (0.47 mg) twice daily")
    text = f"{card['summary']} {card['detail']}".lower()
    assert "no dose" not in text and "tablet strength is unknown" not in text
    dosage = resource_of(recommended(card), "MedicationRequest", "update")["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 0.47, "unit": "mg",
                                                        "system": "http://unitsofmeasure.org", "code": "mg"}


def test_a_dose_in_nmol_per_litre_is_a_wrong_unit_never_no_dose(app: Any, seeded: Any) -> None:
    """0.5 nmol/L twice daily (a trough's unit typed into the dose): the amount is there, the unit is wrong.
    The summary says so and still offers the protocol's dose (0.47 mL (0.47 mg) twice daily, by hand above)."""
    request = solution_draft(seeded, HIGH, 0.5, 2)
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] = {
        "value": 0.5, "unit": "nmol/L", "system": "http://unitsofmeasure.org", "code": "nmol/L"}
    card = only_card(call_hook(app.test_client(), request))
    assert card["summary"].startswith("Dose unit nmol/L is not a dose unit: enter mg or mL.")
    assert "0.47 mg (0.47 mL) twice daily" in card["summary"]
    assert "no dose" not in f"{card['summary']} {card['detail']}".lower()
    labels = [s["label"] for s in card["suggestions"]]
    assert any(label.endswith("dose unit to correct") for label in labels), labels
    dosage = resource_of(recommended(card), "MedicationRequest", "update")["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
