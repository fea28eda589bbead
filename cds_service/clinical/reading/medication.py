"""Read a MedicationRequest's medication, dose and timing from plain JSON, tolerantly.

Shared by the record (dose history) and the draft order. Never raises on odd input: every gap is
returned in plain words in `problems`.

"A daily dose comes from dosageInstruction.doseAndRate.doseQuantity (mg, or mL x the product's
concentration) times timing.repeat frequency per period." (clinical-protocol.md section 3)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..decision import Formulation
from .facts import daily_dose_mg
from .valuesets import CodeMatch, match_concept

TABLET_UNITS = {"{pill}", "{tbl}", "{tablet}", "{tab}", "tablet", "tab", "tabs", "tablets", "pill"}
MG_UNITS = {"mg"}
ML_UNITS = {"mL", "ml"}
_PER_DAY = {"d": 1.0, "h": 24.0, "min": 1440.0, "wk": 1 / 7, "mo": 1 / 30, "a": 1 / 365}
_TIMING_CODES = {"QD": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0, "AM": 1.0, "PM": 1.0, "Q12H": 2.0, "Q24H": 1.0}


@dataclass(frozen=True, kw_only=True)
class MedicationReading:
    match: CodeMatch | None  # None: not sirolimus (or no medication at all)
    has_medication: bool
    form: Formulation | None
    strength_mg: float | None  # mg per tablet, or mg per mL of solution
    label: str


@dataclass(frozen=True, kw_only=True)
class DoseReading:
    mg_per_administration: float | None
    ml_per_administration: float | None
    tablets_per_administration: float | None
    administrations_per_day: float | None
    problems: tuple[str, ...]
    unknown_unit: str | None = None  # a dose amount in a unit that is not a dose's (e.g. nmol/L), as written

    @property
    def daily_dose_mg(self) -> float | None:
        return daily_dose_mg(self.mg_per_administration, self.administrations_per_day)


def first(value: Any) -> Any:
    """R4 arrays sometimes arrive as single objects (the CDS Hooks sandbox): accept both."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


SPLIT_DOSE = "the dose is split over several dosage lines; enter one dose and frequency"


def dosage_lines(request: dict[str, Any]) -> list[Any]:
    """The dosageInstruction lines, a second line identical to the first dropped (a duplicate, not a dose)."""
    value = request.get("dosageInstruction")
    lines = list(value) if isinstance(value, list) else [] if value is None else [value]
    return [line for i, line in enumerate(lines) if i == 0 or line != lines[0]]


def medication_concept(request: dict[str, Any], medications: dict[str, dict[str, Any]]) -> Any:
    """medicationCodeableConcept, or the code of a referenced (contained or gathered) Medication."""
    if "medicationCodeableConcept" in request:
        return request["medicationCodeableConcept"]
    ref = (request.get("medicationReference") or {}).get("reference")
    if not isinstance(ref, str):
        return None
    if ref.startswith("#"):
        for contained in request.get("contained") or []:
            if isinstance(contained, dict) and contained.get("id") == ref[1:]:
                return contained.get("code")
        return None
    return (medications.get(ref) or {}).get("code")


def read_medication(
    request: dict[str, Any], valueset: str, medications: dict[str, dict[str, Any]] | None = None
) -> MedicationReading:
    concept = medication_concept(request, medications or {})
    match = match_concept(valueset, concept)
    label = ""
    if isinstance(concept, dict):
        coding = first(concept.get("coding")) or {}
        label = str(concept.get("text") or (coding.get("display") if isinstance(coding, dict) else "") or "")
    return MedicationReading(match=match, has_medication=concept is not None, form=match.form if match else None,
                             strength_mg=match.strength_mg if match else None, label=label)


def administrations_per_day(dosage: dict[str, Any]) -> float | None:
    timing = dosage.get("timing") or {}
    repeat = timing.get("repeat") or {}
    freq, period, unit = repeat.get("frequency"), repeat.get("period"), repeat.get("periodUnit")
    if isinstance(freq, int | float) and isinstance(period, int | float) and period > 0 and unit in _PER_DAY:
        return float(freq) / float(period) * _PER_DAY[unit]
    code = first((timing.get("code") or {}).get("coding"))
    if isinstance(code, dict) and str(code.get("code", "")).upper() in _TIMING_CODES:
        return _TIMING_CODES[str(code["code"]).upper()]
    return None


TABLET_COUNT_FOR_SOLUTION = "a tablet count was given for the oral solution: enter the dose in mL"


def read_dose(request: dict[str, Any], med: MedicationReading) -> DoseReading:
    """Dose per administration (mg, and mL or tablets) and administrations per day."""
    problems: list[str] = []
    lines = dosage_lines(request)
    if len(lines) > 1:
        # e.g. 1 mg at 08:00 and 0.5 mg at 20:00: one regimen (mg x times a day) cannot hold an uneven
        # split, and reading only the first line would misstate the daily dose.
        return _no_dose(SPLIT_DOSE)
    dosage = lines[0] if lines else None
    if not isinstance(dosage, dict):
        return _no_dose("no dose or frequency has been entered")
    per_day = administrations_per_day(dosage)
    if per_day is None:
        problems.append("no frequency (timing.repeat frequency/period) has been entered")
    dose_and_rate = first(dosage.get("doseAndRate"))
    quantity = (dose_and_rate or {}).get("doseQuantity") if isinstance(dose_and_rate, dict) else None
    mg = ml = tablets = unknown_unit = None
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        problems.append("no dose quantity has been entered")
    else:
        unit = quantity.get("code") or quantity.get("unit")
        mg, ml, tablets, unknown_unit = _amounts(float(quantity["value"]), unit, med, problems)
    return DoseReading(mg_per_administration=mg, ml_per_administration=ml, tablets_per_administration=tablets,
                       administrations_per_day=per_day, problems=tuple(problems), unknown_unit=unknown_unit)


def _no_dose(problem: str) -> DoseReading:
    """Nothing of the dose can be read, for this one reason."""
    return DoseReading(mg_per_administration=None, ml_per_administration=None, tablets_per_administration=None,
                       administrations_per_day=None, problems=(problem,))


def _amounts(value: float, unit: Any, med: MedicationReading, problems: list[str]
             ) -> tuple[float | None, float | None, float | None, str | None]:
    """mg, mL and tablets per administration from the entered amount and its unit, and the unit as written
    when it is not a dose's; what cannot be known is added to `problems`, never guessed."""
    mg = ml = tablets = None
    if value <= 0:
        problems.append(f"the dose quantity {value:g} is not a positive amount")
    elif unit in MG_UNITS:
        mg = value
        if med.form == "solution" and med.strength_mg:
            ml = value / med.strength_mg
        elif med.form == "tablet" and med.strength_mg:
            tablets = value / med.strength_mg
    elif unit in ML_UNITS:
        ml = value
        if med.form == "solution" and med.strength_mg:
            mg = value * med.strength_mg
        else:
            problems.append("a volume in mL was given but the product is not an oral solution of known "
                            "concentration, so the dose in mg is unknown")
    elif unit in TABLET_UNITS or (isinstance(unit, str) and unit.lower() in TABLET_UNITS):
        tablets = value
        if med.form == "tablet" and med.strength_mg:
            mg = value * med.strength_mg
        elif med.form == "solution":
            # e.g. a client that swapped only the product after "Switch to oral solution" (issue #10)
            problems.append(TABLET_COUNT_FOR_SOLUTION)
        else:
            problems.append("a tablet count was given but the product's tablet strength is unknown")
    else:
        unknown_unit = str(unit) if unit else "(none)"
        problems.append(f"the dose unit {unknown_unit!r} is not mg, mL or a tablet count")
        return None, None, None, unknown_unit
    return mg, ml, tablets, None
