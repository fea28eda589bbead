"""UCUM conversions the dose logic depends on (clinical-protocol.md section 3).

A unit not listed here returns None: an unknown or missing unit is never guessed.
"""
from __future__ import annotations

import math

SIROLIMUS_NG_ML_PER_NMOL_L = 0.914  # "1 nmol/L = 0.914 ng/mL" (molar mass 914.19 g/mol)

_TROUGH_TO_NG_ML = {"ng/mL": 1.0, "ug/L": 1.0, "µg/L": 1.0, "nmol/L": SIROLIMUS_NG_ML_PER_NMOL_L}
_WEIGHT_TO_KG = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237}
_PLATELETS_TO_10E9_L = {"10*9/L": 1.0, "10*3/uL": 1.0, "10*3/mm3": 1.0, "/nL": 1.0}
_FIBRINOGEN_TO_G_L = {"g/L": 1.0, "mg/dL": 0.01}
_CREATININE_TO_UMOL_L = {"umol/L": 1.0, "mg/dL": 88.42}  # "creatinine mg/dL = umol/L / 88.42"
_BILIRUBIN_TO_UMOL_L = {"umol/L": 1.0, "mg/dL": 17.1}
_ENZYME_TO_U_L = {"U/L": 1.0, "[IU]/L": 1.0}


def _convert(value: float, unit: str | None, table: dict[str, float]) -> float | None:
    if unit is None or unit not in table or not math.isfinite(value):
        return None
    return value * table[unit]


def trough_to_ng_ml(value: float, unit: str | None) -> float | None:
    """ng/mL = ug/L; 1 nmol/L = 0.914 ng/mL; anything else is unusable (None)."""
    return _convert(value, unit, _TROUGH_TO_NG_ML)


def weight_to_kg(value: float, unit: str | None) -> float | None:
    return _convert(value, unit, _WEIGHT_TO_KG)


def lab_to_unit(loinc: str, value: float, unit: str | None) -> tuple[float, str] | None:
    """Convert a lab to the unit its reference interval is kept in, or None."""
    tables: dict[str, tuple[dict[str, float], str]] = {
        "777-3": (_PLATELETS_TO_10E9_L, "10*9/L"),
        "3255-7": (_FIBRINOGEN_TO_G_L, "g/L"),
        "2160-0": (_CREATININE_TO_UMOL_L, "umol/L"),
        "14682-9": (_CREATININE_TO_UMOL_L, "umol/L"),
        "1975-2": (_BILIRUBIN_TO_UMOL_L, "umol/L"),
        "1742-6": (_ENZYME_TO_U_L, "U/L"),
        "1920-8": (_ENZYME_TO_U_L, "U/L"),
    }
    if loinc not in tables:
        return (value, unit) if unit else None
    table, target = tables[loinc]
    converted = _convert(value, unit, table)
    return None if converted is None else (converted, target)
