"""The relevance gate: a chart concerns the service only with sirolimus, KHE/IHHE/KMP or a sirolimus level."""
from __future__ import annotations

import pytest

from cds_service.clinical.reading.relevance import concerns_service

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _order(concept: dict | None = None, **extra: object) -> dict:
    resource: dict = {"resourceType": "MedicationRequest", "status": "active", "intent": "order", **extra}
    if concept is not None:
        resource["medicationCodeableConcept"] = concept
    return resource


def _condition(system: str, code: str, text: str = "") -> dict:
    return {"resourceType": "Condition", "code": {"coding": [{"system": system, "code": code}], "text": text}}


AMOXICILLIN = _order({"coding": [{"system": RXNORM, "code": "308182"}]})
ASTHMA = _condition("http://snomed.info/sct", "195967001")
WEIGHT = {"resourceType": "Observation", "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}}


@pytest.mark.parametrize("resource", [
    pytest.param(_order({"coding": [{"system": RXNORM, "code": "314230"}]}), id="sirolimus solution by RxNorm"),
    pytest.param(_order({"coding": [{"system": "http://www.whocc.no/atc", "code": "L04AH01"}]}), id="ATC"),
    pytest.param(_order({"text": "Rapamune 1 mg/mL"}), id="brand name in text only"),
    pytest.param(_order(None, medicationReference={"reference": "Medication/m1"}), id="medication not held"),
    pytest.param(_order(None, medicationReference={"reference": "#m"}, contained=[
        {"resourceType": "Medication", "id": "m", "code": {"coding": [{"system": RXNORM, "code": "349208"}]}}]),
        id="contained sirolimus tablet"),
    pytest.param(_condition("http://www.orpha.net", "ORPHA:2122"), id="KHE"),
    pytest.param(_condition("http://hl7.org/fhir/sid/icd-10", "D18.0", "infantile hepatic haemangioma"), id="IHHE"),
    pytest.param(_condition("http://www.orpha.net", "2330"), id="Kasabach-Merritt"),
    pytest.param({"resourceType": "Observation",
                  "code": {"coding": [{"system": "http://loinc.org", "code": "29247-4"}]}}, id="sirolimus level"),
])
def test_a_chart_showing_sirolimus_or_its_tumours_concerns_the_service(resource: dict) -> None:
    assert concerns_service([AMOXICILLIN, ASTHMA, WEIGHT, resource])


@pytest.mark.parametrize("resources", [
    pytest.param([], id="empty chart"),
    pytest.param([AMOXICILLIN, ASTHMA, WEIGHT], id="another drug, asthma, a weight"),
    pytest.param([_condition("http://hl7.org/fhir/sid/icd-10", "D18.0")], id="haemangioma code without IHHE text"),
    pytest.param([_order(None, medicationReference={"reference": "#m"}, contained=[
        {"resourceType": "Medication", "id": "m", "code": {"coding": [{"system": RXNORM, "code": "308182"}]}}])],
        id="contained other drug"),
])
def test_a_chart_without_them_does_not(resources: list[dict]) -> None:
    assert not concerns_service(resources)
