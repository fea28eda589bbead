"""The drafted sirolimus order compared with the protocol (issue #10): follows, departs, dangerous.

The draft's daily dose, its change from the current dose and its predicted steady-state trough by the
protocol's linear relation (rule 4), with the tablet/solution exposure difference (protocol data,
`measuring.tablet_exposure_vs_solution`) when the draft changes formulation. `cards/` reads this typed
value; it never parses the findings' words.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from ..decision import LINEAR_RULES, Finding, Formulation, Phase, ProposedDose
from ..protocols import IHHE_SEQUENTIAL, Measuring, Protocol
from .dosing import exposure_factor, predicted_trough_ng_ml
from .taper import RELAPSE_RETURN


class DraftVerdict(StrEnum):
    FOLLOWS = "follows"  # within rounding of the proposal, an allowed alternative, or a keep-dose in range
    DEPARTS = "departs"  # departs from the protocol, not dangerous: a warning
    DANGEROUS = "dangerous"  # sanity limits, ~10-fold volume errors: critical
    NOT_COMPARABLE = "not_comparable"  # no proposal and no prediction to compare with (says why elsewhere)


class Departure(StrEnum):
    TROUGH_ABOVE_TARGET = "trough_above_target"
    TROUGH_BELOW_TARGET = "trough_below_target"
    STEP_OVER_CAP = "step_over_cap"
    STEP_TOO_SOON = "step_too_soon"
    REDUCTION_DURING_STABILISATION = "reduction_during_stabilisation"
    INCREASE_DURING_TAPER = "increase_during_taper"
    START_OFF_WEIGHT_DOSE = "start_off_weight_dose"
    INCREASE_BEYOND_LINEAR = "increase_beyond_linear"
    NO_RETURN_AFTER_RELAPSE = "no_return_after_relapse"


# The draft findings (clinical/findings.py codes) that are departures from the protocol.
_FINDING_DEPARTURES = {
    "reduction-exceeds-cap": Departure.STEP_OVER_CAP,
    "change-too-soon": Departure.STEP_TOO_SOON,
    "reduction-during-stabilisation": Departure.REDUCTION_DURING_STABILISATION,
    "increase-during-taper": Departure.INCREASE_DURING_TAPER,
}
_TITRATION_PHASES = {Phase.MAINTENANCE, Phase.SEQUENTIAL}


@dataclass(frozen=True, kw_only=True)
class DraftCheck:
    verdict: DraftVerdict
    departures: tuple[Departure, ...]
    draft_daily_mg: float
    current_daily_mg: float | None
    change_percent: float | None  # from the current daily dose; None when starting
    predicted_trough_ng_ml: float | None  # steady state on the draft, from the usable trough
    exposure_factor: float  # applied for a tablet <-> solution switch (1.0 when none)
    exposure_source: str  # where the factor comes from (protocol data), "" when none applied
    target_low_ng_ml: float | None
    target_high_ng_ml: float | None
    draft_mg_per_kg_day: float | None
    protocol_start_mg_per_kg_day: float | None  # IHHE start only


@dataclass(frozen=True, kw_only=True)
class DraftFacts:
    """What the comparison needs, gathered by decide_dosing."""

    daily_mg: float
    formulation: Formulation | None
    current_daily_mg: float | None
    current_formulation: Formulation | None
    trough_ng_ml: float | None  # the usable trough at the current dose
    weight_kg: float | None
    phase: Phase | None
    proposed: ProposedDose | None
    allowed: tuple[ProposedDose, ...]  # the protocol's alternatives (keep, smaller step, solution)
    draft_findings: tuple[Finding, ...]


def _predicted(facts: DraftFacts, factor: float) -> float | None:
    """None when a product is unknown: a prediction across it could be about 27 % off (decision 0024)."""
    if facts.trough_ng_ml is None or not facts.current_daily_mg:
        return None
    if not _products_known(facts):
        return None
    return round(predicted_trough_ng_ml(facts.trough_ng_ml, facts.current_daily_mg, facts.daily_mg) * factor, 1)


def _products_known(facts: DraftFacts) -> bool:
    """A change from a current dose compares like with like only when both products are known: the same
    mg of tablets gives about 27 % more exposure than the solution (decision 0024). A start (no current
    dose) is compared per kg whatever the product."""
    return not facts.current_daily_mg or (facts.formulation is not None and facts.current_formulation is not None)


def _close(daily_mg: float, proposal: ProposedDose, measuring: Measuring) -> bool:
    """Within rounding: half a measuring step per administration of the proposal's formulation."""
    step = measuring.solution_step_mg if proposal.regimen.formulation == "solution" else measuring.tablet_step_mg
    return abs(daily_mg - proposal.daily_dose_mg) <= step * proposal.regimen.administrations_per_day / 2 + 1e-9


def _trough_departure(predicted: float | None, protocol: Protocol, phase: Phase | None) -> Departure | None:
    low, high = protocol.target_low_ng_ml, protocol.target_high_ng_ml
    if predicted is None or low is None or high is None or phase not in _TITRATION_PHASES:
        return None
    if predicted > high:
        return Departure.TROUGH_ABOVE_TARGET
    return Departure.TROUGH_BELOW_TARGET if predicted < low else None


def _start_off_by(facts: DraftFacts, protocol: Protocol) -> float | None:
    """IHHE start: the draft's fractional distance from the starting dose per kg (None: not a start)."""
    per_kg, tolerance = protocol.starting_dose_mg_per_kg_day, protocol.starting_dose_tolerance_fraction
    if facts.current_daily_mg or protocol.ref.protocol_id != IHHE_SEQUENTIAL or per_kg is None \
            or tolerance is None or not facts.weight_kg:
        return None
    return abs(facts.daily_mg / facts.weight_kg / per_kg - 1)


def _start_departure(facts: DraftFacts, protocol: Protocol) -> Departure | None:
    """More than the tolerance (protocol data, decision 0106) from the starting dose per kg."""
    off = _start_off_by(facts, protocol)
    tolerance = protocol.starting_dose_tolerance_fraction or 0.0
    return Departure.START_OFF_WEIGHT_DOSE if off is not None and off > tolerance + 1e-9 else None


def _beyond_linear(facts: DraftFacts, protocol: Protocol) -> Departure | None:
    proposed, current = facts.proposed, facts.current_daily_mg
    if proposed is None or not current or proposed.rule not in LINEAR_RULES:
        return None
    if facts.daily_mg > current and facts.daily_mg > proposed.daily_dose_mg \
            and not _close(facts.daily_mg, proposed, protocol.measuring):
        return Departure.INCREASE_BEYOND_LINEAR
    return None


def _no_return(facts: DraftFacts, protocol: Protocol) -> Departure | None:
    """Rule 7 asks to go back to the previously effective dose: a draft below it (keeping the tapered dose,
    or the next step) does not follow the protocol (review 2026-12-02)."""
    proposed = facts.proposed
    if proposed is None or proposed.rule != RELAPSE_RETURN or facts.daily_mg >= proposed.daily_dose_mg \
            or _close(facts.daily_mg, proposed, protocol.measuring):
        return None
    return Departure.NO_RETURN_AFTER_RELAPSE


def check_draft(facts: DraftFacts, protocol: Protocol) -> DraftCheck:
    factor = exposure_factor(facts.current_formulation, facts.formulation, protocol.measuring)
    predicted = _predicted(facts, factor)
    departures = [_FINDING_DEPARTURES[f.code] for f in facts.draft_findings if f.code in _FINDING_DEPARTURES]
    departures += [d for d in (_trough_departure(predicted, protocol, facts.phase), _start_departure(facts, protocol),
                               _beyond_linear(facts, protocol), _no_return(facts, protocol)) if d is not None]
    matches = any(_close(facts.daily_mg, p, protocol.measuring) for p in (facts.proposed, *facts.allowed)
                  if p is not None) or _start_off_by(facts, protocol) is not None
    if any(f.severity == "critical" for f in facts.draft_findings):
        verdict = DraftVerdict.DANGEROUS
    elif departures:
        verdict = DraftVerdict.DEPARTS
    elif _products_known(facts) and (matches or (predicted is not None and facts.phase is not None)):
        # phase or a product unknown: not comparable
        verdict = DraftVerdict.FOLLOWS
    else:
        verdict = DraftVerdict.NOT_COMPARABLE
    current = facts.current_daily_mg or None
    change = None if current is None else round(100 * (facts.daily_mg - current) / current, 1)
    return DraftCheck(
        verdict=verdict, departures=tuple(dict.fromkeys(departures)), draft_daily_mg=facts.daily_mg,
        current_daily_mg=current,
        change_percent=_finite(change), predicted_trough_ng_ml=_finite(predicted), exposure_factor=factor,
        exposure_source=protocol.measuring.exposure_source if factor != 1.0 else "",
        target_low_ng_ml=protocol.target_low_ng_ml, target_high_ng_ml=protocol.target_high_ng_ml,
        draft_mg_per_kg_day=_finite(round(facts.daily_mg / facts.weight_kg, 4)) if facts.weight_kg else None,
        protocol_start_mg_per_kg_day=protocol.starting_dose_mg_per_kg_day if current is None else None,
    )


def _finite(value: float | None) -> float | None:
    """A malformed draft (e.g. 1e305 mg) is dangerous, not a number to print: no change or level then."""
    return value if value is not None and math.isfinite(value) and abs(value) < 1e9 else None
