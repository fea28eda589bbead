"""Regenerate the example hook requests: `python examples/make_examples.py` (from the repository root).

One request per scenario and hook, shaped like what an EHR sends: patient-view for every synthetic
patient; order-select for the dosing scenarios, each with a realistic draft order (mg, mL, a tablet
count in the CDS Hooks sandbox's own shape). `fhirServer` is a placeholder for a FHIR server loaded
with `sirolimus-cds seed`. The JSON files are committed; this script only keeps them consistent.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from cds_service.synthetic import catalog, load_scenario

HERE = Path(__file__).resolve().parent
FHIR_SERVER = "http://127.0.0.1:8090/fhir"
USER = "Practitioner/example"
AUTHORED_ON = "2026-11-22"  # the synthetic data's anchor day
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
SOLUTION = {"system": RXNORM, "code": "314230", "display": "sirolimus 1 MG/ML Oral Solution"}
TABLET_1MG = {"system": RXNORM, "code": "349208", "display": "sirolimus 1 MG Oral Tablet"}
RAPAMUNE_05 = {"system": RXNORM, "code": "905160", "display": "Sirolimus 0.5 MG Oral Tablet [Rapamune]"}


def mg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mg", "system": UCUM, "code": "mg"}


def ml(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mL", "system": UCUM, "code": "mL"}


# scenario -> (product, dose quantity, administrations a day, what the draft shows)
DRAFTS: dict[str, tuple[dict[str, Any], dict[str, Any], int, str]] = {
    "ihhe-propranolol-failed": (SOLUTION, ml(0.4), 2, "starting dose entered in mL"),
    "ihhe-trough-low": (SOLUTION, mg(0.5), 2, "the current dose, re-ordered"),
    "khe-maintenance-high": (RAPAMUNE_05, {"value": 1, "system": UCUM, "code": "{pill}"}, 2,
                             "the CDS Hooks sandbox's shape: a tablet count, reasonCode and category as objects"),
    "khe-taper-step-due": (SOLUTION, mg(0.23), 2, "the next taper step as the prescriber drafted it"),
    "khe-azole": (SOLUTION, mg(0.35), 2, "the current dose while voriconazole is given"),
    "khe-nmol": (TABLET_1MG, {"value": 1, "unit": "tablet", "system": UCUM, "code": "{tbl}"}, 2,
                 "one 1 mg tablet twice daily"),
    "khe-no-weight": (SOLUTION, mg(0.2), 2, "the current dose, no weight on record"),
}


def diagnosis(scenario: str) -> dict[str, Any]:
    bundle = load_scenario(scenario)
    condition = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition")
    return condition["code"]


def draft(scenario: str, patient_id: str) -> dict[str, Any]:
    product, quantity, per_day, _ = DRAFTS[scenario]
    sandbox = quantity["code"] == "{pill}"
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "request-123" if sandbox else f"draft-{scenario}",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": AUTHORED_ON,
        "medicationCodeableConcept": {"coding": [product], "text": product["display"]},
        "dosageInstruction": [{
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": quantity}],
        }],
    }
    if sandbox:  # as the sandbox sends it: single objects where R4 has arrays
        resource["category"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                            "code": "community"}]}
        resource["reasonCode"] = diagnosis(scenario)
        resource["dispenseRequest"] = {"expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM,
                                                                  "code": "d"}}
    else:
        resource["reasonCode"] = [diagnosis(scenario)]
    return resource


def request(scenario: str, patient_id: str, hook: str) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": USER, "patientId": patient_id}
    if hook == "order-select":
        order = draft(scenario, patient_id)
        bundle: dict[str, Any] = {"resourceType": "Bundle", "entry": [{"resource": order}]}
        if order["id"] != "request-123":
            bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
        context["selections"] = [f"MedicationRequest/{order['id']}"]
        context["draftOrders"] = bundle
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sirolimus-cds/examples/{scenario}/{hook}")),
        "fhirServer": FHIR_SERVER,
        "context": context,
    }


def main(out: Path = HERE) -> None:
    for scenario, info in catalog().items():
        hooks = ["patient-view"] + (["order-select"] if scenario in DRAFTS else [])
        for hook in hooks:
            path = out / scenario / f"{hook}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(request(scenario, info.patient_id, hook), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
