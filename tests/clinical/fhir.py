"""Small builders of plain FHIR R4 JSON for the clinical tests (what an EHR would send)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
PID = "child"
SOLUTION, TAB_05, TAB_1, TAB_2 = "314230", "905160", "349208", "404432"
GUIDED = "https://sirolimus-cds.org/fhir/PlanDefinition/khe-guided-discontinuation|1.0.0"
_n = 0


def _id(prefix: str) -> str:
    global _n
    _n += 1
    return f"{prefix}-{_n}"


def patient(born: date, sex: str = "female") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PID, "birthDate": born.isoformat(), "gender": sex}


def obs(loinc: str, value: float, unit: str | None, on: date, **extra: Any) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if unit is not None:
        quantity.update(unit=unit, system=UCUM, code=unit)
    return {"resourceType": "Observation", "id": _id("obs"), "status": extra.pop("status", "final"),
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}], **extra.pop("code", {})},
            "subject": {"reference": f"Patient/{PID}"}, "effectiveDateTime": on.isoformat(),
            "valueQuantity": quantity, **extra}


def trough(value: float, on: date, unit: str | None = "ng/mL", **extra: Any) -> dict[str, Any]:
    return obs("29247-4", value, unit, on, **extra)


def normal_labs(on: date = date(2026, 11, 1)) -> list[dict[str, Any]]:
    """ALT, AST, total bilirubin and creatinine within the CALIPER upper limits from 1 to 15 years: the
    liver and kidney function a taper step needs to be known (decisions 0016, 0019)."""
    return [obs("1742-6", 20, "U/L", on), obs("1920-8", 20, "U/L", on), obs("1975-2", 5, "umol/L", on),
            obs("14682-9", 40, "umol/L", on)]


def weight(kg: float, on: date, unit: str = "kg") -> dict[str, Any]:
    return obs("29463-7", kg, unit, on)


def sirolimus(start: date, dose: float, unit: str = "mL", per_day: int = 2, product: str = SOLUTION,
              status: str = "active", end: date | None = None) -> dict[str, Any]:
    bounds = {"start": start.isoformat(), **({"end": end.isoformat()} if end else {})}
    return {"resourceType": "MedicationRequest", "id": _id("mr"), "status": status, "intent": "order",
            "subject": {"reference": f"Patient/{PID}"}, "authoredOn": start.isoformat(),
            "medicationCodeableConcept": {"coding": [{"system": RX, "code": product}]},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d",
                                                         "boundsPeriod": bounds}},
                                   "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit, "system": UCUM,
                                                                     "code": unit}}]}]}


def chain(*orders: dict[str, Any]) -> list[dict[str, Any]]:
    """Successive sirolimus orders, each replacing the one before: as the synthetic patients, the earlier
    order is completed and its boundsPeriod.end (inclusive) is the day before the next order's start."""
    for earlier, later in zip(orders, orders[1:], strict=False):
        next_start = date.fromisoformat(later["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["start"])
        earlier["status"] = "completed"
        earlier["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"] = (
            next_start - timedelta(days=1)).isoformat()
    return list(orders)


def drug(atc: str, start: date, status: str = "active") -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": _id("mr"), "status": status, "intent": "order",
            "subject": {"reference": f"Patient/{PID}"}, "authoredOn": start.isoformat(),
            "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": atc}]}}


def condition(system: str, code: str, status: str, recorded: date | None = None,
              abated: date | None = None, text: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {
        "resourceType": "Condition", "id": _id("cond"), "subject": {"reference": f"Patient/{PID}"},
        "code": {"coding": [{"system": system, "code": code}], **({"text": text} if text else {})},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": status}]}}
    if recorded:
        c["recordedDate"] = recorded.isoformat()
    if abated:
        c["abatementDateTime"] = abated.isoformat()
    return c


def khe(status: str = "remission", abated: date | None = date(2023, 1, 1), recorded: date | None = None
        ) -> dict[str, Any]:
    return condition("http://www.orpha.net", "ORPHA:2122", status, recorded, abated)


def careplan(start: date, canonical: str = GUIDED) -> dict[str, Any]:
    return {"resourceType": "CarePlan", "id": _id("cp"), "status": "active", "intent": "plan",
            "subject": {"reference": f"Patient/{PID}"}, "instantiatesCanonical": [canonical],
            "period": {"start": start.isoformat()}}


def research_subject(arm: str) -> dict[str, Any]:
    return {"resourceType": "ResearchSubject", "id": _id("rs"), "status": "on-study", "assignedArm": arm,
            "study": {"identifier": {"system": "https://clinicaltrials.gov", "value": "NCT04448873"}},
            "individual": {"reference": f"Patient/{PID}"}}


def consent(status: str = "active") -> dict[str, Any]:
    return {"resourceType": "Consent", "id": _id("consent"), "status": status,
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "research"}]},
            "category": [{"text": "Trial consent NCT04448873"}],
            "patient": {"reference": f"Patient/{PID}"}, "dateTime": "2026-01-01"}


def no_known_allergy() -> dict[str, Any]:
    return {"resourceType": "AllergyIntolerance", "id": _id("ai"), "patient": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "716186003"}]}}


def sirolimus_allergy() -> dict[str, Any]:
    return {"resourceType": "AllergyIntolerance", "id": _id("ai"), "patient": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": RX, "code": "35302"}]}}


def draft(dose: float, unit: str, per_day: int, product: str = SOLUTION, text: str | None = None
          ) -> dict[str, Any]:
    dosage: dict[str, Any] = {"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                              "doseAndRate": [{"doseQuantity": {"value": dose, "system": UCUM, "code": unit}}]}
    if text:
        dosage["text"] = text
    return {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft",
            "subject": {"reference": f"Patient/{PID}"}, "authoredOn": "2026-11-22",
            "medicationCodeableConcept": {"coding": [{"system": RX, "code": product}]},
            "dosageInstruction": [dosage]}
