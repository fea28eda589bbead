"""The typed, dated facts a PatientRecord holds (one small dataclass per kind of fact)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..decision import Formulation


def daily_dose_mg(mg_per_administration: float | None, administrations_per_day: float | None) -> float | None:
    """mg per dose x doses per day (clinical-protocol.md 3); None when either is unknown."""
    if mg_per_administration is None or administrations_per_day is None:
        return None
    return round(mg_per_administration * administrations_per_day, 6)


@dataclass(frozen=True)
class Unusable:
    resource: str  # "Observation/abc"
    reason: str


@dataclass(frozen=True)
class Measurement:
    value: float  # in the unit named by the field holding it (kg, cm)
    original_value: float
    original_unit: str
    on: date
    resource: str


@dataclass(frozen=True, kw_only=True)
class Trough:
    resource: str
    drawn_on: date
    value_ng_ml: float | None  # None: unit unknown or missing, never guessed
    original_value: float | None
    original_unit: str | None
    status: str
    method: str | None
    sample_text: str  # code text and notes, lower case: may say "peak" or "random"
    # valueQuantity.comparator ("<", "<=", ">", ">="): a censored result outside the assay's range,
    # never an exact value (None = an exact value)
    comparator: str | None = None


@dataclass(frozen=True, kw_only=True)
class LabResult:
    loinc: str
    value: float
    unit: str
    on: date
    resource: str
    ref_low: float | None  # the lab's own referenceRange, converted to `unit`, when present
    ref_high: float | None


@dataclass(frozen=True, kw_only=True)
class DosePeriod:
    """One sirolimus order: its dose and the dates it was in force."""

    resource: str
    start: date
    end: date | None  # exclusive; None = open
    status: str
    mg_per_administration: float | None
    administrations_per_day: float | None
    formulation: Formulation | None
    strength_mg: float | None
    ml_per_administration: float | None
    tablets_per_administration: float | None
    problems: tuple[str, ...]
    # A stopped order's statusReason, in its own words (text, else a coding's display or code): why it was
    # halted before its end, which a restart after the stop must not ignore (decision 0026)
    stop_reason: str | None = None

    @property
    def daily_dose_mg(self) -> float | None:
        return daily_dose_mg(self.mg_per_administration, self.administrations_per_day)

    def in_force_on(self, on: date) -> bool:
        return self.start <= on and (self.end is None or on < self.end)


@dataclass(frozen=True, kw_only=True)
class DrugExposure:
    resource: str
    name: str
    how: str  # "ATC C07AA05"
    status: str
    start: date | None
    severity: str | None  # for interacting drugs: "avoid" / "caution"


@dataclass(frozen=True, kw_only=True)
class ConditionFact:
    resource: str
    valuesets: tuple[str, ...]  # every ValueSet the code matched (e.g. ("khe",))
    how: str  # how the diagnosis was recognised, for the card
    specific: bool
    clinical_status: str | None
    verification_status: str | None
    recorded_on: date | None
    abatement_on: date | None
    broad_without_text: str | None  # a broad code present without supporting text


@dataclass(frozen=True, kw_only=True)
class CarePlanFact:
    resource: str
    canonicals: tuple[str, ...]
    status: str
    period_start: date | None
    period_end: date | None


@dataclass(frozen=True, kw_only=True)
class ResearchSubjectFact:
    resource: str
    arm: str | None
    status: str
    study: str | None
    period_start: date | None


@dataclass(frozen=True)
class ConsentFact:
    resource: str
    status: str
    on: date | None
    names_trial: bool


@dataclass(frozen=True)
class ToxicityFact:
    resource: str
    what: str
    on: date | None
