"""Tolerant reading of the draft MedicationRequest (context.draftOrders), from plain JSON.

Drafts are often not valid R4: the CDS Hooks sandbox sends reasonCode and category as single
objects, a first draft with only status/subject/authoredOn, and doses as a tablet count
(`{pill}`, no unit) with the product's RxNorm code. Nothing here raises: what is missing is
said in plain words, and "not sirolimus" is reported distinctly (the service then answers no cards).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from ..decision import DoseRegimen, Formulation
from .facts import daily_dose_mg
from .medication import first, read_dose, read_medication
from .validate import MALFORMED
from .valuesets import match_concept

DraftKind = Literal["sirolimus", "not_sirolimus", "no_medication"]
_MG_TEXT = re.compile(r"(\d+(?:[.,]\d+)?)\s*mg\b", re.IGNORECASE)
_TABLETS_LISTED_AT_MOST = 100  # a representation bound, not a clinical limit
_ML_TEXT = re.compile(r"(\d+(?:[.,]\d+)?)\s*ml\b", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class DraftOrder:
    resource_id: str | None
    kind: DraftKind
    medication: str  # the product as written, e.g. "Sirolimus 0.5 MG Oral Tablet [Rapamune]"
    formulation: Formulation | None
    strength_mg: float | None
    mg_per_administration: float | None
    ml_per_administration: float | None
    tablets_per_administration: float | None
    administrations_per_day: float | None
    missing: tuple[str, ...]  # plain words: "no dose quantity has been entered"
    unknown_unit: str | None  # a dose amount entered in a unit that is not a dose's (nmol/L), as written
    reason_valuesets: tuple[str, ...]  # diagnosis ValueSets the reasonCode matched (khe, ihhe)
    text_mg: float | None  # a dose in mg written in the dosage text, if any
    text_ml: float | None

    @property
    def daily_dose_mg(self) -> float | None:
        return daily_dose_mg(self.mg_per_administration, self.administrations_per_day)

    @property
    def tablet_count_for_solution(self) -> bool:
        """The product is the oral solution but the dose is a tablet count: the mL must be entered."""
        return self.formulation == "solution" and self.tablets_per_administration is not None \
            and self.mg_per_administration is None

    @property
    def complete(self) -> bool:
        return self.kind == "sirolimus" and self.daily_dose_mg is not None

    def regimen(self) -> DoseRegimen | None:
        if self.mg_per_administration is None or self.administrations_per_day is None or self.formulation is None:
            return None
        return DoseRegimen(mg_per_administration=self.mg_per_administration,
                           administrations_per_day=self.administrations_per_day, formulation=self.formulation,
                           strength_mg=self.strength_mg or 0.0, ml_per_administration=self.ml_per_administration,
                           tablets_per_administration=self.tablets_per_administration,
                           tablet_strengths_mg=self._tablets_listed())

    def _tablets_listed(self) -> tuple[float, ...]:
        """One entry per tablet, for a count a person could hand out; none for an absurd count (the
        dose's plausibility check reports that), which would otherwise exhaust memory."""
        count = self.tablets_per_administration or 0
        if self.formulation != "tablet" or not self.strength_mg or not 0 < count <= _TABLETS_LISTED_AT_MOST:
            return ()
        return (self.strength_mg,) * int(count)


def _number(pattern: re.Pattern[str], text: str) -> float | None:
    found = pattern.search(text)
    return float(found.group(1).replace(",", ".")) if found else None


def _reason_valuesets(resource: dict[str, Any]) -> tuple[str, ...]:
    reasons = resource.get("reasonCode")
    if isinstance(reasons, dict):
        reasons = [reasons]
    found = []
    for concept in reasons or []:
        for name in ("khe", "ihhe", "kmp"):
            if match_concept(name, concept) and name not in found:
                found.append(name)
    return tuple(found)


def read_draft(resource: Any) -> DraftOrder:
    """The draft order, read as far as it goes; a malformed element becomes a plain-words problem."""
    try:
        return _read_draft(resource)
    except MALFORMED:
        try:
            med = read_medication(resource, "sirolimus", {})
            kind: DraftKind = "sirolimus" if med.match else "not_sirolimus" if med.has_medication else "no_medication"
        except MALFORMED:
            kind, med = "no_medication", None
        return DraftOrder(
            resource_id=None, kind=kind, medication=med.label if med else "",
            formulation=med.form if med else None, strength_mg=med.strength_mg if med else None,
            mg_per_administration=None, ml_per_administration=None, tablets_per_administration=None,
            administrations_per_day=None,
            missing=("the order's dose or timing could not be read (malformed); re-enter the dose and frequency",),
            unknown_unit=None, reason_valuesets=(), text_mg=None, text_ml=None)


def _read_draft(resource: Any) -> DraftOrder:
    if not isinstance(resource, dict):
        resource = {}
    med = read_medication(resource, "sirolimus", {})
    kind: DraftKind = "sirolimus" if med.match else "not_sirolimus" if med.has_medication else "no_medication"
    missing: list[str] = []
    dose = read_dose(resource, med) if kind == "sirolimus" else None
    if kind == "no_medication":
        missing.append("no medication has been chosen")
    elif kind == "sirolimus" and med.form is None:
        missing.append("the product (oral solution or tablet strength) is not named, only the ingredient")
    if dose is not None:
        missing.extend(dose.problems)
    dosage = first(resource.get("dosageInstruction"))
    text = " ".join(str(dosage.get(k, "")) for k in ("text", "patientInstruction")) if isinstance(dosage, dict) else ""
    return DraftOrder(
        resource_id=resource.get("id") if isinstance(resource.get("id"), str) else None,
        kind=kind, medication=med.label,
        formulation=med.form, strength_mg=med.strength_mg,
        mg_per_administration=dose.mg_per_administration if dose else None,
        ml_per_administration=dose.ml_per_administration if dose else None,
        tablets_per_administration=dose.tablets_per_administration if dose else None,
        administrations_per_day=dose.administrations_per_day if dose else None,
        missing=tuple(missing), unknown_unit=dose.unknown_unit if dose else None,
        reason_valuesets=_reason_valuesets(resource),
        text_mg=_number(_MG_TEXT, text), text_ml=_number(_ML_TEXT, text),
    )


def draft_from_context(draft_orders: Any) -> dict[str, Any] | None:
    """The sirolimus MedicationRequest (or the first MedicationRequest) of a draftOrders Bundle."""
    if not isinstance(draft_orders, dict):
        return None
    entries = draft_orders.get("entry") or []
    requests: list[dict[str, Any]] = [
        e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") == "MedicationRequest"]
    for request in requests:
        try:
            if read_medication(request, "sirolimus", {}).match:
                return request
        except MALFORMED:
            continue
    return requests[0] if requests else None
