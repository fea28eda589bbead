"""PatientRecord: the typed, dated facts the rules read, built from plain FHIR R4 JSON.

`build_record(patient, resources, today)` selects on plain JSON first (resource type, code,
subject, date) and validates with fhir.resources R4B only the resources a decision uses. A resource
that fails validation is listed in `unusable` with its id and the reason: never a crash, never
silently dropped. Where each fact is read from: docs/architecture.md, "What the service reads".
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from .facts import (
    CarePlanFact,
    ConditionFact,
    ConsentFact,
    DosePeriod,
    DrugExposure,
    LabResult,
    Measurement,
    ResearchSubjectFact,
    ToxicityFact,
    Trough,
    Unusable,
)
from .observations import (
    LAB_CODES,
    LOINC_TROUGH,
    index_by_loinc,
    read_labs,
    read_troughs,
    read_weights,
)
from .orders import read_dose_history, read_drug_exposures
from .plans import (
    read_careplans,
    read_conditions,
    read_consents,
    read_research_subjects,
    read_toxicities,
)
from .validate import MALFORMED, is_valid, is_valid_patient, parse_date

__all__ = ["PatientRecord", "build_record"]


@dataclass(frozen=True, kw_only=True)
class PatientRecord:
    patient_id: str
    birth_date: date | None
    sex: str | None
    weights_kg: tuple[Measurement, ...]  # newest first
    troughs: tuple[Trough, ...]  # newest first, usable or not (each says why)
    labs: tuple[LabResult, ...]  # newest first
    sirolimus_doses: tuple[DosePeriod, ...]  # oldest first
    propranolol: tuple[DrugExposure, ...]
    interacting_drugs: tuple[DrugExposure, ...]  # currently taken (active / on-hold)
    conditions: tuple[ConditionFact, ...]
    conditions_read: int  # how many Conditions the problem list held (for "absent" answers)
    careplans: tuple[CarePlanFact, ...]
    research_subjects: tuple[ResearchSubjectFact, ...]
    consents: tuple[ConsentFact, ...]
    toxicities: tuple[ToxicityFact, ...]  # earlier sirolimus toxicity / adverse events
    unusable: tuple[Unusable, ...]
    deceased: bool = False  # Patient.deceasedBoolean true or a deceasedDateTime

    def age_days(self, on: date) -> int | None:
        return None if self.birth_date is None else (on - self.birth_date).days

    def age_years(self, on: date) -> int | None:
        """Completed years of age on `on`."""
        b = self.birth_date
        if b is None:
            return None
        return on.year - b.year - ((on.month, on.day) < (b.month, b.day))

    def latest_weight(self, on: date, max_age_days: int) -> Measurement | None:
        """The newest weight measured on or before `on` and not older than `max_age_days`."""
        return next((w for w in self.weights_kg if w.on <= on and (on - w.on).days <= max_age_days), None)

    def latest_lab(self, loinc: str, on: date) -> LabResult | None:
        return next((lab for lab in self.labs if lab.loinc == loinc and lab.on <= on), None)


# Where each resource type names its patient; a type not listed here (Medication) names none.
_PATIENT_ELEMENTS = {
    "ResearchSubject": ("individual",),
    "AllergyIntolerance": ("patient",),
    "Consent": ("patient",),
}
_NO_PATIENT = {"Medication"}


def about_patient(resource: dict[str, Any], patient_id: str) -> bool:
    """True when the resource's subject/patient reference names this patient (relative or absolute).

    A FHIR server that ignores a search parameter returns every patient's resources (seen with an
    unindexed `ResearchSubject?individual=`): those must never become this child's facts.
    """
    if resource.get("resourceType") in _NO_PATIENT:
        return True
    for element in _PATIENT_ELEMENTS.get(str(resource.get("resourceType")), ("subject", "patient")):
        value = resource.get(element)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            reference: str = value["reference"].split("/_history/")[0]
            return reference == f"Patient/{patient_id}" or reference.endswith(f"/Patient/{patient_id}")
    return False


def _by_type(resources: list[dict[str, Any]], patient_id: str, unusable: list[Unusable]
             ) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            continue
        if not about_patient(resource, patient_id):
            unusable.append(Unusable(f"{resource['resourceType']}/{resource.get('id')}",
                                     "not about this patient (its subject names another patient, or none)"))
            continue
        grouped.setdefault(resource["resourceType"], []).append(resource)
    return grouped


def build_record(patient: dict[str, Any], resources: list[dict[str, Any]], today: date) -> PatientRecord:
    """Plain JSON Patient + other resources (any order, de-duplicated) -> PatientRecord.

    Selection runs on plain JSON first, for speed. If a malformed resource trips it, every resource is
    validated with R4B, the invalid ones are set aside as unusable (with their ids), and the record is
    built again from the rest: a malformed resource never crashes a call, and is never used.
    """
    try:
        return _build_record(patient, resources, today)
    except MALFORMED:
        unusable: list[Unusable] = []
        valid = [r for r in resources if isinstance(r, dict) and is_valid(r, unusable)]
        if not isinstance(patient, dict) or not is_valid_patient(patient, unusable):
            patient = {"resourceType": "Patient", "id": patient.get("id") if isinstance(patient, dict) else ""}
        record = _build_record(patient, valid, today)
        return replace(record, unusable=tuple(unusable) + record.unusable)


def _build_record(patient: dict[str, Any], resources: list[dict[str, Any]], today: date) -> PatientRecord:
    unusable: list[Unusable] = []
    grouped = _by_type(resources, str(patient.get("id", "")), unusable)
    by_loinc = index_by_loinc(grouped.get("Observation", []))
    medications = {f"Medication/{m.get('id')}": m for m in grouped.get("Medication", [])}
    requests = grouped.get("MedicationRequest", [])
    conditions, conditions_read = read_conditions(grouped.get("Condition", []), unusable)
    toxicities = read_toxicities(grouped.get("AllergyIntolerance", []), grouped.get("AdverseEvent", []), unusable)
    return PatientRecord(
        patient_id=str(patient.get("id", "")),
        birth_date=parse_date(patient.get("birthDate")),
        sex=patient.get("gender") if isinstance(patient.get("gender"), str) else None,
        weights_kg=read_weights(by_loinc, today, unusable),
        troughs=read_troughs(by_loinc, LOINC_TROUGH, today, unusable),
        labs=read_labs(by_loinc, LAB_CODES, today, unusable),
        sirolimus_doses=read_dose_history(requests, medications, today, unusable),
        propranolol=read_drug_exposures(requests, medications, "propranolol", today, unusable, current=False),
        interacting_drugs=read_drug_exposures(
            requests, medications, "interacting-drugs", today, unusable, current=True
        ),
        conditions=conditions,
        conditions_read=conditions_read,
        careplans=read_careplans(grouped.get("CarePlan", []), unusable),
        research_subjects=read_research_subjects(grouped.get("ResearchSubject", []), unusable),
        consents=read_consents(grouped.get("Consent", []), unusable),
        toxicities=toxicities,
        unusable=tuple(unusable),
        deceased=patient.get("deceasedBoolean") is True or isinstance(patient.get("deceasedDateTime"), str),
    )
