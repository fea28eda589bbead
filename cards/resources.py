"""The FHIR R4 resources that suggestions carry: the updated draft MedicationRequest, a new
MedicationRequest, the trough ServiceRequest, and the CarePlans that start or record a protocol.

Shapes only. The dose inside is the Decision's regimen, written as FHIR; nothing is recomputed.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from cards.common import Action
from cards.wording import dose_text, when
from cds_service.clinical.decision import DoseRegimen

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

SOLUTION_CODE = ("314230", "sirolimus 1 MG/ML Oral Solution")
TABLET_CODES = {
    0.5: ("905158", "sirolimus 0.5 MG Oral Tablet"),
    1.0: ("349208", "sirolimus 1 MG Oral Tablet"),
    2.0: ("360110", "sirolimus 2 MG Oral Tablet"),
}
TROUGH_CODE = {"system": LOINC, "code": "29247-4", "display": "Sirolimus [Mass/volume] in Blood"}
TROUGH_NOTE = "trough: draw immediately before the morning dose"
ORAL_ROUTE = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}], "text": "by mouth"}

# R4 MedicationRequest elements with cardinality 0..*: some clients (the CDS Hooks sandbox) send
# reasonCode and category as a single object; the suggested resource must be valid R4.
_MEDICATION_REQUEST_LISTS = (
    "identifier",
    "instantiatesCanonical",
    "instantiatesUri",
    "basedOn",
    "category",
    "supportingInformation",
    "reasonCode",
    "reasonReference",
    "insurance",
    "note",
    "dosageInstruction",
    "detectedIssue",
    "eventHistory",
)


def medication_concept(regimen: DoseRegimen) -> dict[str, Any] | None:
    """The RxNorm clinical drug for the regimen's product; None for a mix of tablet strengths."""
    if regimen.formulation == "solution":
        code, display = SOLUTION_CODE
    elif len(set(regimen.tablet_strengths_mg)) > 1 or regimen.strength_mg not in TABLET_CODES:
        return None
    else:
        code, display = TABLET_CODES[regimen.strength_mg]
    return {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": display}


def _mixed_tablets_concept(regimen: DoseRegimen) -> dict[str, Any]:
    """Whole tablets of two strengths cannot be one tablet product: never keep a single-strength code
    (1.5 mg of a 2 mg tablet product would read as a split tablet). The ingredient, with the tablets
    spelled out in the text, is what the prescriber and pharmacist see."""
    return {"coding": [{"system": RXNORM, "code": "35302", "display": "sirolimus"}],
            "text": f"sirolimus oral tablets: {dose_text(regimen)}"}


def dosage(regimen: DoseRegimen) -> dict[str, Any]:
    """A Dosage: solution in mg (UCUM `mg`), tablets as a count (`{tbl}`); the text gives mg and mL/tablets."""
    count = regimen.tablets_per_administration
    if regimen.formulation == "tablet" and count is not None and len(set(regimen.tablet_strengths_mg)) <= 1:
        quantity = {"value": count, "unit": "tablet", "system": UCUM, "code": "{tbl}"}
    else:
        quantity = {"value": regimen.mg_per_administration, "unit": "mg", "system": UCUM, "code": "mg"}
    return {
        "sequence": 1,
        "text": dose_text(regimen),
        "timing": {"repeat": _repeat(regimen.administrations_per_day)},
        "route": ORAL_ROUTE,
        "doseAndRate": [{"doseQuantity": quantity}],
    }


def updated_medication_request(
    draft: dict[str, Any] | None,
    regimen: DoseRegimen,
    *,
    patient_id: str,
    draft_formulation: str | None,
    draft_strength_mg: float | None,
) -> dict[str, Any]:
    """The whole draft with the new dosageInstruction; every other element kept, list elements made lists.

    The medication changes only when the product must: a switch to the solution, or another tablet
    strength. Otherwise the prescriber's own product (branded or not) stays.
    """
    resource = copy.deepcopy(draft) if draft else {}
    for key in _MEDICATION_REQUEST_LISTS:
        if key in resource and not isinstance(resource[key], list):
            resource[key] = [resource[key]]
    resource["resourceType"] = "MedicationRequest"
    resource.setdefault("status", "draft")
    resource.setdefault("intent", "order")
    resource.setdefault("subject", {"reference": f"Patient/{patient_id}"})
    same_product = draft_formulation == regimen.formulation and (
        regimen.formulation == "solution" or draft_strength_mg == regimen.strength_mg
    )
    has_medication = "medicationCodeableConcept" in resource or "medicationReference" in resource
    concept = medication_concept(regimen) or _mixed_tablets_concept(regimen)
    mixed = len(set(regimen.tablet_strengths_mg)) > 1
    if not mixed and (same_product and has_medication):
        concept = None
    if concept is not None:
        resource.pop("medicationReference", None)
        resource["medicationCodeableConcept"] = concept
    resource["dosageInstruction"] = [dosage(regimen)]
    return resource


def new_medication_request(regimen: DoseRegimen, *, patient_id: str, today: date, note: str) -> dict[str, Any]:
    """A draft order (patient-view has no draft to update)."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": when(today),
        "dosageInstruction": [dosage(regimen)],
        "note": [{"text": note}],
    }
    concept = medication_concept(regimen)
    if concept is not None:
        resource["medicationCodeableConcept"] = concept
    else:
        resource["medicationCodeableConcept"] = {"text": f"sirolimus oral tablets ({dose_text(regimen)})"}
    return resource


def trough_request(patient_id: str, due_on: date) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [TROUGH_CODE], "text": "Sirolimus trough level (whole blood, EDTA)"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": when(due_on),
        "note": [{"text": TROUGH_NOTE}],
    }


def trough_action(patient_id: str, due_on: date) -> Action:
    """The suggestion action that orders the next trough on its due date."""
    return Action(type="create",
                  description=f"Order a sirolimus trough level for {when(due_on)}, drawn immediately before the "
                              "morning dose.",
                  resource=trough_request(patient_id, due_on))


def careplan(
    *,
    patient_id: str,
    canonical: str,
    title: str,
    description: str,
    start: date,
    careplan_id: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """A CarePlan that instantiates a protocol's PlanDefinition (`url|version`), from `start`."""
    resource: dict[str, Any] = {"resourceType": "CarePlan"}
    if careplan_id:
        resource["id"] = careplan_id
    resource.update(
        {
            "status": "active",
            "intent": "plan",
            "instantiatesCanonical": [canonical],
            "title": title,
            "description": description,
            "subject": {"reference": f"Patient/{patient_id}"},
            "period": {"start": when(start)},
        }
    )
    if note:
        resource["note"] = [{"text": note}]
    return resource


def _repeat(administrations_per_day: float) -> dict[str, Any]:
    if administrations_per_day >= 1 and float(administrations_per_day).is_integer():
        return {"frequency": int(administrations_per_day), "period": 1, "periodUnit": "d"}
    return {"frequency": 1, "period": round(1 / administrations_per_day, 2), "periodUnit": "d"}
