"""MedicationRequests -> sirolimus dose history, propranolol history, interacting drugs.

"in force from timing.repeat.boundsPeriod.start (else authoredOn) until boundsPeriod.end, the next
order's start, or a status of stopped/completed/cancelled/entered-in-error" (architecture.md)
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from .facts import DosePeriod, DrugExposure, Unusable
from .medication import MedicationReading, first, read_dose, read_medication
from .validate import is_valid, parse_date, ref

# A sirolimus prescription read: its start, its own end, the request and its medication.
Selected = tuple[date, date | None, dict[str, Any], MedicationReading]

ENDED_STATUSES = {"stopped", "completed", "cancelled", "entered-in-error"}
NOT_GIVEN_STATUSES = {"cancelled", "entered-in-error", "draft"}
CURRENT_STATUSES = {"active", "on-hold"}
PRESCRIPTION_INTENTS = {None, "order", "original-order", "instance-order"}


def _bounds(request: dict[str, Any]) -> tuple[date | None, date | None]:
    dosage = first(request.get("dosageInstruction"))
    repeat = ((dosage or {}).get("timing") or {}).get("repeat") or {} if isinstance(dosage, dict) else {}
    bounds = b if isinstance(b := repeat.get("boundsPeriod"), dict) else {}
    start = parse_date(bounds.get("start")) or parse_date(request.get("authoredOn"))
    end = parse_date(bounds.get("end"))
    if end is not None and isinstance(bounds.get("end"), str) and len(bounds["end"]) == 10:
        # A date-only Period.end covers that whole day (FHIR R4 Period): the dose was still given on
        # it, so the order is out of force from the next day (DosePeriod.end is exclusive).
        end += timedelta(days=1)
    return start, end


def _still_in_force(status: str, own_end: date | None, on: date) -> bool:
    """Is an order, by its own status and end, still in force on `on` (the day a later order starts)?

    completed/stopped: it was replaced. No end: open only while active or on-hold.
    """
    if status in ENDED_STATUSES:
        return False
    if own_end is None:
        return status in CURRENT_STATUSES
    return own_end > on


def _overlap_reason(earlier: Selected, later_start: date) -> str:
    start, end, request, _ = earlier
    until = "with no end date" if end is None else f"until {(end - timedelta(days=1)).isoformat()}"
    return (f"two sirolimus orders in force at once: {ref(request)} ({request.get('status')}, from "
            f"{start.isoformat()} {until}) is still in force when this order starts on {later_start.isoformat()}, "
            "so the daily dose taken is unknown; complete or stop the order that no longer applies")


def _stop_reason(request: dict[str, Any]) -> str | None:
    """statusReason in words: its text, else the first coding's display or code (decision 0026)."""
    reason = request.get("statusReason")
    if not isinstance(reason, dict):
        return None
    text = reason.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    coding = next((c for c in reason.get("coding") or () if isinstance(c, dict)), {})
    words = coding.get("display") or coding.get("code")
    return str(words) if words else None


def read_dose_history(requests: list[dict[str, Any]], medications: dict[str, dict[str, Any]], today: date,
                      unusable: list[Unusable]) -> tuple[DosePeriod, ...]:
    """Sirolimus orders, oldest first; each ends at its bounds end, the next order's start, or its stop.

    An order still in force (active/on-hold, its own end after) when a later one starts is not replaced by
    it: both stay in force and the later one carries a problem (the history is then unreadable)."""
    selected = _prescriptions(requests, medications, today, unusable)
    overlaps, overlapped = _overlaps(selected)
    periods: list[DosePeriod] = []
    for i, (start, end, request, med) in enumerate(selected):
        next_start = selected[i + 1][0] if i + 1 < len(selected) else None
        status = str(request.get("status", "unknown"))
        if next_start is not None and i not in overlapped and (end is None or next_start < end):
            end = next_start  # replaced by the next order
        if end is None and status in ENDED_STATUSES:
            # stopped without an end date: it ended, and the last day we know of is its own record
            end = parse_date(request.get("dispenseRequest", {}).get("validityPeriod", {}).get("end")) or today
        dose = read_dose(request, med)
        periods.append(DosePeriod(
            resource=ref(request), start=start, end=end, status=status,
            mg_per_administration=dose.mg_per_administration,
            administrations_per_day=dose.administrations_per_day,
            formulation=med.form, strength_mg=med.strength_mg,
            ml_per_administration=dose.ml_per_administration,
            tablets_per_administration=dose.tablets_per_administration,
            problems=dose.problems + tuple(overlaps.get(i, ())),
            stop_reason=_stop_reason(request) if status == "stopped" else None,
        ))
        if dose.problems:
            unusable.append(Unusable(ref(request), "sirolimus dose unreadable: " + "; ".join(dose.problems)))
        for reason in overlaps.get(i, ()):
            unusable.append(Unusable(ref(request), reason))
    return tuple(periods)


def _prescriptions(requests: list[dict[str, Any]], medications: dict[str, dict[str, Any]], today: date,
                   unusable: list[Unusable]) -> list[Selected]:
    """The sirolimus prescriptions given (not plans, not entered-in-error), started by today, oldest first."""
    selected = []
    for request in requests:
        med = read_medication(request, "sirolimus", medications)
        if med.match is None or request.get("status") in NOT_GIVEN_STATUSES:
            continue
        if request.get("intent") not in PRESCRIPTION_INTENTS:  # a plan or proposal is not a prescription
            continue
        start, end = _bounds(request)
        if start is None or start > today:
            if start is None:
                unusable.append(Unusable(ref(request), "sirolimus order without a start date or authoredOn"))
            continue
        if not is_valid(request, unusable):
            continue
        selected.append((start, end, request, med))
    selected.sort(key=lambda item: (item[0], str(item[2].get("authoredOn", ""))))
    return selected


def _overlaps(selected: list[Selected]) -> tuple[dict[int, list[str]], set[int]]:
    """Two orders in force at once (neither replaces the other): the daily dose taken cannot be known.
    The later order's reasons, and the earlier orders that stay in force."""
    overlaps: dict[int, list[str]] = {}
    overlapped: set[int] = set()
    # An order stopped, completed, cancelled or entered-in-error is in force on no later day: only the
    # others are compared (a 10-year history holds hundreds of completed orders and one or two others).
    maybe_in_force = [i for i, item in enumerate(selected) if str(item[2].get("status")) not in ENDED_STATUSES]
    for j, (later_start, _, _, _) in enumerate(selected):
        for i in maybe_in_force:
            if i >= j:
                break
            earlier = selected[i]
            if _still_in_force(str(earlier[2].get("status")), earlier[1], later_start):
                overlaps.setdefault(j, []).append(_overlap_reason(earlier, later_start))
                overlapped.add(i)
    return overlaps, overlapped


def read_drug_exposures(requests: list[dict[str, Any]], medications: dict[str, dict[str, Any]],
                        valueset: str, today: date, unusable: list[Unusable], *, current: bool
                        ) -> tuple[DrugExposure, ...]:
    """Orders matching `valueset`; with current=True only those active or on-hold (currently taken)."""
    result = []
    for request in requests:
        med = read_medication(request, valueset, medications)
        if med.match is None or request.get("status") in NOT_GIVEN_STATUSES:
            continue
        if request.get("intent") not in PRESCRIPTION_INTENTS:  # a propranolol plan is not propranolol given
            continue
        if current and request.get("status") not in CURRENT_STATUSES:
            continue
        start, end = _bounds(request)
        if current and end is not None and end <= today:
            continue
        if not is_valid(request, unusable):
            continue
        result.append(DrugExposure(resource=ref(request), name=med.label or med.match.display or med.match.code,
                                   how=med.match.how, status=str(request.get("status")), start=start,
                                   severity=med.match.severity))
    return tuple(result)
