"""Titration towards the target range (KHE maintenance 5-7 ng/mL; IHHE 8-15 ng/mL) and the IHHE start.

Label: "new dose = current dose x (target level / current level)", only from a usable trough.
"""
from __future__ import annotations

import math
from dataclasses import replace

from ..decision import AS_SOLUTION, DoseRegimen, Finding, ProposedDose, Rule, TroughUsed
from ..protocols import Protocol
from ..reading.timeline import DoseEvent
from .dosing import (
    current_regimen,
    exposure_factor,
    linear_dose_mg,
    predicted_trough_ng_ml,
    product_of,
    rounded_regimen,
    sanity_problems,
)

START_LINE = "When IHHE does not respond to propranolol, sirolimus is added/sequenced: 0.1 mg/kg/day orally"


def proposal_of(reg: DoseRegimen, current_daily_mg: float | None, weight_kg: float, predicted: float | None,
              rule: Rule, line: str) -> ProposedDose:
    daily = reg.daily_dose_mg
    change = None if not current_daily_mg else round(100 * (daily - current_daily_mg) / current_daily_mg, 1)
    # No loading dose here: during therapy the dose is changed and held 7-14 days (decision 0015).
    return ProposedDose(regimen=reg, daily_dose_mg=daily, dose_mg_per_kg_day=round(daily / weight_kg, 4),
                        percent_change=change,
                        predicted_trough_ng_ml=None if predicted is None else round(predicted, 1), rule=rule,
                        protocol_line=line)


def checked(proposal: ProposedDose, weight_kg: float, protocol: Protocol
            ) -> tuple[ProposedDose | None, tuple[Finding, ...]]:
    """No dose beyond the sanity limits (choice): none is proposed and a critical finding is raised."""
    problems = sanity_problems(proposal.daily_dose_mg, weight_kg, protocol.sanity)
    if not problems:
        return proposal, ()
    return None, tuple(Finding("proposal-above-limit", "critical",
                               f"the computed dose {proposal.daily_dose_mg:g} mg/day is not proposed: {p}")
                       for p in problems)


def titrate(current: DoseEvent, trough: TroughUsed, protocol: Protocol, weight_kg: float
            ) -> tuple[ProposedDose | None, tuple[Finding, ...]]:
    """Within the target range: keep the dose. Outside: the linear relation, rounded, checked; a change
    beyond `titration.max_fold_change` from one level is not proposed (repeat the trough first)."""
    assert trough.value_ng_ml is not None and protocol.target_ng_ml is not None
    low, high = protocol.target_low_ng_ml or 0.0, protocol.target_high_ng_ml or 0.0
    formulation = product_of(current)
    if low <= trough.value_ng_ml <= high:
        keep = current_regimen(current, protocol.measuring)
        # Even "keep the dose" is a proposal: a current dose beyond the sanity limits is not endorsed.
        return checked(proposal_of(keep, current.daily_mg, weight_kg, trough.value_ng_ml, Rule.WITHIN_TARGET_KEEP_DOSE,
                                 protocol.titration_line), weight_kg, protocol)
    ideal = linear_dose_mg(current.daily_mg, trough.value_ng_ml, protocol.target_ng_ml)
    if not math.isfinite(ideal) or sanity_problems(ideal, weight_kg, protocol.sanity):
        # A level near zero scales the dose towards infinity: refuse before rounding, not after.
        shown = f"{ideal:.3g}" if math.isfinite(ideal) else "unbounded"
        return None, (Finding("proposal-above-limit", "critical",
                              f"the computed dose ({shown} mg/day) is beyond the sanity limits: not proposed"),)
    fold = protocol.titration_max_fold_change
    ratio = ideal / current.daily_mg if current.daily_mg > 0 else math.inf
    if fold is not None and not 1 / fold - 1e-9 <= ratio <= fold + 1e-9:
        # (choice, decision 0012) one level never changes the dose by more than `max_fold_change` either
        # way: a level that far from the target is more often a sampling or timing error than a true change.
        return None, (Finding("change-needs-confirmation", "warning",
                              f"a single level of {trough.value_ng_ml:g} ng/mL would change the dose "
                              f"×{ratio:.2g}: repeat the trough to confirm it before a change this large"),)
    rule = Rule.LINEAR_ADJUSTMENT
    reg = rounded_regimen(ideal, current.per_day, formulation, protocol.measuring)
    predicted = predicted_trough_ng_ml(trough.value_ng_ml, current.daily_mg, reg.daily_dose_mg)
    if reg.mg_per_administration <= 0 or (formulation == "tablet" and not low <= predicted <= high):
        # Whole tablets (never split) cannot bring the level into the range: the oral solution can,
        # measured in 0.01 mL. The switch itself needs a new trough (not bioequivalent, section 2).
        # The solution gives less exposure than tablets at the same mg (decision 0106): the mg is raised
        # by that factor so the predicted trough stays at the aim.
        rule = AS_SOLUTION[Rule.LINEAR_ADJUSTMENT]
        factor = exposure_factor(formulation, "solution", protocol.measuring)
        reg = rounded_regimen(ideal / factor, current.per_day, "solution", protocol.measuring)
        predicted = predicted_trough_ng_ml(trough.value_ng_ml, current.daily_mg, reg.daily_dose_mg) * factor
    proposal = proposal_of(reg, current.daily_mg, weight_kg, predicted, rule,
                         protocol.titration_line + "; new dose = current dose x (target level / current level)")
    return checked(proposal, weight_kg, protocol)


def starting_dose(protocol: Protocol, weight_kg: float) -> tuple[ProposedDose | None, tuple[Finding, ...]]:
    """IHHE: "sirolimus is added/sequenced: 0.1 mg/kg/day orally", as the oral solution."""
    assert protocol.starting_dose_mg_per_kg_day is not None
    daily = protocol.starting_dose_mg_per_kg_day * weight_kg
    reg = rounded_regimen(daily, protocol.starting_administrations_per_day, "solution", protocol.measuring)
    proposal = proposal_of(reg, None, weight_kg, None, Rule.IHHE_STARTING_DOSE, START_LINE)
    if protocol.loading_dose_at_start:  # label: 3 x (new - current maintenance dose), current being 0
        proposal = replace(proposal, loading_dose_mg=round(3 * reg.daily_dose_mg, 3))
    return checked(proposal, weight_kg, protocol)
