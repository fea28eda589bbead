"""Does a chart concern this service at all? Decided on plain JSON, before anything is validated.

patient-view fires for every chart opened, almost never for a child on sirolimus. The service has
something to say only when the record shows one of (docs/decisions/0108-relevance-gate.md):
- a sirolimus order, statement, dispense or administration (ValueSet `sirolimus`, or a medication
  whose text or display names sirolimus / Rapamune, or one whose medication cannot be told without
  reading a Medication the record does not contain: counted as concerned);
- a KHE, IHHE or Kasabach-Merritt condition (ValueSets `khe`, `ihhe`, `kmp`);
- a sirolimus whole-blood level (LOINC 29247-4).
Anything else gets no card and costs no validation, no decision and no audit record.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cds_service.clinical.reading.observations import LOINC_TROUGH
from cds_service.clinical.reading.valuesets import match_concept

MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationStatement", "MedicationDispense",
                              "MedicationAdministration"})
CONDITION_VALUESETS = ("khe", "ihhe", "kmp")
SIROLIMUS_WORDS = ("sirolimus", "rapamune", "rapamycin")
LOINC = "http://loinc.org"


def concerns_service(resources: Iterable[Mapping[str, Any]]) -> bool:
    """True when any resource shows sirolimus, a KHE/IHHE/KMP condition or a sirolimus level."""
    return any(_concerns(resource) for resource in resources if isinstance(resource, Mapping))


def _concerns(resource: Mapping[str, Any]) -> bool:
    kind = resource.get("resourceType")
    if kind in MEDICATION_TYPES:
        return _sirolimus_medication(resource)
    if kind == "Medication":
        return _names_sirolimus(resource.get("code"))
    if kind == "Condition":
        return any(match_concept(name, resource.get("code")) for name in CONDITION_VALUESETS)
    if kind == "Observation":
        return _is_sirolimus_level(resource.get("code"))
    return False


def _sirolimus_medication(resource: Mapping[str, Any]) -> bool:
    concept = resource.get("medicationCodeableConcept")
    if concept is not None:
        return _names_sirolimus(concept)
    reference = resource.get("medicationReference")
    if not isinstance(reference, Mapping):
        return False
    target = str(reference.get("reference") or "")
    contained = resource.get("contained")
    if target.startswith("#") and isinstance(contained, list):
        medication = next((c for c in contained if isinstance(c, Mapping) and c.get("id") == target[1:]), None)
        if medication is not None:
            return _names_sirolimus(medication.get("code"))
    return True  # a Medication we do not hold: cannot rule sirolimus out


def _names_sirolimus(concept: Any) -> bool:
    if match_concept("sirolimus", concept) is not None:
        return True
    if not isinstance(concept, Mapping):
        return False
    codings = concept.get("coding")
    texts = [str(concept.get("text") or "")]
    if isinstance(codings, list):
        texts += [str(c.get("display") or "") for c in codings if isinstance(c, Mapping)]
    joined = " ".join(texts).lower()
    return any(word in joined for word in SIROLIMUS_WORDS)


def _is_sirolimus_level(concept: Any) -> bool:
    if not isinstance(concept, Mapping):
        return False
    codings = concept.get("coding")
    if isinstance(codings, Mapping):
        codings = [codings]
    return isinstance(codings, list) and any(
        isinstance(c, Mapping) and c.get("system") == LOINC and c.get("code") == LOINC_TROUGH for c in codings)
