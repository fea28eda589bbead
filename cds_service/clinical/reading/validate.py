"""Validation of selected resources with fhir.resources R4B, and small plain-JSON helpers.

Validation costs about 0.3 ms a resource, so callers select on plain JSON first and validate only
what a decision uses. A failure is reported as Unusable with the resource id, never raised.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.researchsubject import ResearchSubject

from .facts import Unusable

_MODELS: dict[str, Any] = {
    "Observation": Observation,
    "MedicationRequest": MedicationRequest,
    "Condition": Condition,
    "CarePlan": CarePlan,
    "ResearchSubject": ResearchSubject,
    "Consent": Consent,
    "AllergyIntolerance": AllergyIntolerance,
    "AdverseEvent": AdverseEvent,
}


def ref(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType', '?')}/{resource.get('id', '?')}"


# What a selector can raise on a resource whose elements have the wrong JSON shape (a list where an
# object belongs, a number where a string does): R4B validation would have refused the resource.
MALFORMED = (TypeError, AttributeError, ValueError, KeyError, OverflowError)


def is_valid(resource: dict[str, Any], unusable: list[Unusable]) -> bool:
    """True if the resource validates as R4 (R4B models); else record it as unusable."""
    model = _MODELS.get(str(resource.get("resourceType")))
    if model is None:
        return True
    try:
        model.model_validate(resource)
    except (ValueError, TypeError) as exc:  # pydantic.ValidationError is a ValueError
        first = str(exc).splitlines()
        reason = " ".join(first[:3])[:300]
        unusable.append(Unusable(ref(resource), f"not valid FHIR R4: {reason}"))
        return False
    return True


def parse_instant(value: Any) -> datetime | None:
    """FHIR date or dateTime -> an aware instant, for ordering: the time of day and the zone count
    (a date alone is the start of that day, UTC; a time without a zone is read as UTC)."""
    day = parse_date(value)
    if day is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if len(value) > 10 else datetime.combine(day, time.min)
    except ValueError:
        moment = datetime.combine(day, time.min)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_date(value: Any) -> date | None:
    """FHIR date or dateTime -> date (the day it happened, as written); None if absent or odd."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def codes(concept: Any) -> list[tuple[str, str]]:
    """(system, code) pairs of a plain-JSON CodeableConcept, tolerating a single coding object."""
    if not isinstance(concept, dict):
        return []
    codings = concept.get("coding") or []
    if isinstance(codings, dict):
        codings = [codings]
    return [(str(c.get("system", "")), str(c.get("code", ""))) for c in codings if isinstance(c, dict)]


def status_code(concept: Any) -> str | None:
    """The code of a status CodeableConcept (Condition.clinicalStatus and the like)."""
    pairs = codes(concept)
    return pairs[0][1] if pairs else None


def is_valid_patient(patient: dict[str, Any], unusable: list[Unusable]) -> bool:
    """The Patient validated as R4 (R4B); an invalid one is recorded as unusable."""
    from fhir.resources.R4B.patient import Patient

    try:
        Patient.model_validate(patient)
    except (ValueError, TypeError) as exc:
        unusable.append(Unusable(ref(patient), "not valid FHIR R4: " + " ".join(str(exc).splitlines()[:3])[:300]))
        return False
    return True
