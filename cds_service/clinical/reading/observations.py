"""Observations -> weights, troughs and labs (architecture.md, "What the service reads")."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import units
from .facts import LabResult, Measurement, Trough, Unusable
from .validate import codes, is_valid, parse_date, parse_instant, ref

LOINC = "http://loinc.org"
LOINC_TROUGH = "29247-4"
LOINC_WEIGHT = "29463-7"
LOINC_PLATELETS = "777-3"
LOINC_FIBRINOGEN = "3255-7"
LOINC_DDIMER = "48065-7"
LOINC_ALT = "1742-6"
LOINC_AST = "1920-8"
LOINC_BILIRUBIN = "1975-2"
LOINC_CREATININE_MASS = "2160-0"
LOINC_CREATININE_MOLES = "14682-9"
LOINC_EGFR = "50384-7"
LAB_CODES = (LOINC_PLATELETS, LOINC_FIBRINOGEN, LOINC_DDIMER, LOINC_ALT, LOINC_AST, LOINC_BILIRUBIN,
             LOINC_CREATININE_MASS, LOINC_CREATININE_MOLES, LOINC_EGFR)

# How many of the newest Observations of each code are candidates (performance, not a clinical rule).
_KEEP = {LOINC_TROUGH: 60, LOINC_WEIGHT: 5}
_KEEP_LAB = 6
# The levels and doses of about the last 18 months: what the decision page shows and the PK model fits.
HISTORY_DAYS = 548
# Labs no rule reads but through PatientRecord.latest_lab (eligibility): only the newest usable result
# of each is read and validated (decision 0138). Platelets and fibrinogen are also read since a
# taper's start (relapse signs, consumed only by a return, decision 0002): their six newest, and every
# one drawn within HISTORY_DAYS, at most _KEEP_SIGNS of them (decision 0025).
_NEWEST_ONLY = frozenset(LAB_CODES) - {LOINC_PLATELETS, LOINC_FIBRINOGEN}
_KEEP_SIGNS = 60


def _loinc(obs: dict[str, Any]) -> str | None:
    return next((c for s, c in codes(obs.get("code")) if s == LOINC), None)


def _effective(obs: dict[str, Any]) -> Any:
    period = p if isinstance(p := obs.get("effectivePeriod"), dict) else {}
    # When the sample was drawn or the child weighed; `issued` (when the report was released) is not that.
    return obs.get("effectiveDateTime") or obs.get("effectiveInstant") or period.get("start")


def _when(obs: dict[str, Any]) -> date | None:
    return parse_date(_effective(obs))


def _instant(obs: dict[str, Any]) -> datetime:
    """The full effective instant (time of day, zone): the order of levels, never the server's order."""
    return parse_instant(_effective(obs)) or datetime.min.replace(tzinfo=UTC)


ByLoinc = Mapping[str, list[dict[str, Any]]]


def index_by_loinc(observations: list[dict[str, Any]]) -> ByLoinc:
    """Observations grouped by their first LOINC code, in the order given: one pass over the bundle,
    so each selection below reads only the Observations of its own code."""
    index: dict[str, list[dict[str, Any]]] = {}
    for obs in observations:
        loinc = _loinc(obs)
        if loinc is not None:
            index.setdefault(loinc, []).append(obs)
    return index


def _select(by_loinc: ByLoinc, loinc: str, today: date, keep: int,
            unusable: list[Unusable] | None = None) -> list[tuple[date, dict[str, Any]]]:
    """Newest first, on plain JSON, dated no later than today, not entered-in-error. One with no
    readable effective date is listed as unusable, never silently dropped."""
    chosen = []
    for obs in by_loinc.get(loinc, ()):
        if obs.get("status") in {"entered-in-error", "cancelled"}:
            continue
        when = _when(obs)
        if when is None:
            if unusable is not None:
                unusable.append(Unusable(ref(obs), "no readable effective date (when drawn or measured)"))
        elif when <= today:
            chosen.append((when, obs))
    chosen.sort(key=lambda pair: _instant(pair[1]), reverse=True)
    return chosen[:keep]


def _quantity(obs: dict[str, Any]) -> tuple[float | None, str | None]:
    q = obs.get("valueQuantity")
    if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
        return None, None
    unit = q.get("code") if q.get("system", "http://unitsofmeasure.org") == "http://unitsofmeasure.org" else None
    return float(q["value"]), (unit or None)


def _comparator(obs: dict[str, Any]) -> str | None:
    """valueQuantity.comparator ("<", "<=", ">", ">="): the result lies beyond the assay's range, so
    its value is a bound, never a measurement to compute from (None = an exact value)."""
    q = obs.get("valueQuantity")
    comparator = q.get("comparator") if isinstance(q, dict) else None
    return str(comparator) if comparator else None


def read_weights(by_loinc: ByLoinc, today: date, unusable: list[Unusable]) -> tuple[Measurement, ...]:
    """Body weights in kg, newest first (no rule reads a height: none is read)."""
    result = []
    for when, obs in _select(by_loinc, LOINC_WEIGHT, today, _KEEP[LOINC_WEIGHT], unusable):
        if not is_valid(obs, unusable):
            continue
        value, unit = _quantity(obs)
        converted = None if value is None else units.weight_to_kg(value, unit)
        if converted is None or value is None or converted <= 0:
            unusable.append(Unusable(ref(obs), f"no usable value with a known unit ({value} {unit})"))
            continue
        if (comparator := _comparator(obs)) is not None:
            unusable.append(Unusable(ref(obs), f"reported as {comparator}{value:g} {unit}: a bound, not a value"))
            continue
        result.append(Measurement(converted, value, str(unit), when, ref(obs)))
    return tuple(result)


def _sample_text(obs: dict[str, Any]) -> str:
    """Free text about the sample (code text, notes): the rules look there for "peak", "random"."""
    texts = [str((obs.get("code") or {}).get("text", ""))]
    texts += [str(n.get("text", "")) for n in obs.get("note") or [] if isinstance(n, dict)]
    return " ".join(t for t in texts if t).lower()


def read_troughs(by_loinc: ByLoinc, loinc: str, today: date,
                 unusable: list[Unusable]) -> tuple[Trough, ...]:
    """Sirolimus levels in ng/mL, newest first. An unknown unit keeps the level but with value_ng_ml None.

    Read (validated) are the levels drawn within HISTORY_DAYS (the PK fit, the decision page), and the
    newest valid level whatever its age with any drawn the same day (the trough rule, the same-day
    finding); an older level no rule reads is not (decision 0138)."""
    window_start = today - timedelta(days=HISTORY_DAYS)
    result: list[Trough] = []
    for when, obs in _select(by_loinc, loinc, today, _KEEP[loinc], unusable):
        if when < window_start and result and when != result[0].drawn_on:
            continue
        if not is_valid(obs, unusable):
            continue
        value, unit = _quantity(obs)
        method = (obs.get("method") or {}).get("text") if isinstance(obs.get("method"), dict) else None
        result.append(Trough(
            resource=ref(obs), drawn_on=when,
            value_ng_ml=None if value is None else units.trough_to_ng_ml(value, unit),
            original_value=value, original_unit=unit, status=str(obs.get("status", "")),
            method=method, sample_text=_sample_text(obs), comparator=_comparator(obs),
        ))
    return tuple(result)


def _reference_range(obs: dict[str, Any], loinc: str) -> tuple[float | None, float | None]:
    ranges = obs.get("referenceRange") or []
    first = ranges[0] if isinstance(ranges, list) and ranges and isinstance(ranges[0], dict) else {}
    bounds: list[float | None] = []
    for key in ("low", "high"):
        q = first.get(key)
        if isinstance(q, dict) and isinstance(q.get("value"), int | float):
            converted = units.lab_to_unit(loinc, float(q["value"]), q.get("code") or q.get("unit"))
            bounds.append(None if converted is None else converted[0])
        else:
            bounds.append(None)
    return bounds[0], bounds[1]


def read_labs(by_loinc: ByLoinc, loincs: tuple[str, ...], today: date,
              unusable: list[Unusable]) -> tuple[LabResult, ...]:
    """Lab results converted to the unit the rules use, newest first: only the newest usable one of a code
    read through `latest_lab` alone (_NEWEST_ONLY); of platelets and fibrinogen (relapse signs since a
    taper's start) the six newest and every one within HISTORY_DAYS (decision 0025)."""
    window_start = today - timedelta(days=HISTORY_DAYS)
    result = []
    for loinc in loincs:
        keep = _KEEP_LAB if loinc in _NEWEST_ONLY else _KEEP_SIGNS
        for position, (when, obs) in enumerate(_select(by_loinc, loinc, today, keep, unusable)):
            if position >= _KEEP_LAB and when < window_start:
                break  # newest first: every later one is older still
            lab = _lab(obs, loinc, when, unusable)
            if lab is not None:
                result.append(lab)
                if loinc in _NEWEST_ONLY:
                    break
    result.sort(key=lambda lab: lab.on, reverse=True)
    return tuple(result)


def _lab(obs: dict[str, Any], loinc: str, when: date, unusable: list[Unusable]) -> LabResult | None:
    """A valid result with a known unit, else None (and the reason listed as unusable)."""
    if not is_valid(obs, unusable):
        return None
    value, unit = _quantity(obs)
    converted = None if value is None else units.lab_to_unit(loinc, value, unit)
    if converted is None:
        unusable.append(Unusable(ref(obs), f"lab {loinc}: no value with a known unit ({value} {unit})"))
        return None
    # creatinine by mass and by moles are one analyte in umol/L
    code = LOINC_CREATININE_MOLES if loinc == LOINC_CREATININE_MASS else loinc
    low, high = _reference_range(obs, loinc)
    return LabResult(loinc=code, value=converted[0], unit=converted[1], on=when, resource=ref(obs), ref_low=low,
                     ref_high=high)
