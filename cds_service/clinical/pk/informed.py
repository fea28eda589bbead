"""The model's view of a Decision: predicted troughs (80 %) for the proposal and the draft, or why not.

The model informs; the protocol bounds: this never changes the proposal, it only adds a prediction to
show next to the linear rule's, and the model's own dose for the middle of the target range held inside
the protocol's limits (titration cap, sanity limits, measurable steps). Dose history: every order's
daily dose, administrations per day and formulation from its start date (DosePoint), given at 08:00
(once daily) or 08:00/20:00 (twice daily); a trough is taken 5 minutes before the 08:00 dose of its
day. No drug before the first history point.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ..decision import Decision, DoseRegimen, Formulation
from ..protocols import Protocol
from ..rules.dosing import rounded_regimen, sanity_problems
from .fit import Fit, ModelUnusable, Prediction, fit_map, predict_steady_trough
from .model import Child, Dose, regimen
from .priors import load_prior

DEFAULT_PRIOR = "chen-2020-khe"
CURVE_DAYS = 180


@dataclass(frozen=True, kw_only=True)
class ModelDose:
    """The model's dose for the middle of the target range, inside the protocol's limits: shown, never
    proposed (the proposal is the protocol's linear rule)."""

    regimen: DoseRegimen
    prediction: Prediction  # the predicted trough at this dose
    aim_ng_ml: float  # the middle of the target range
    target_low_ng_ml: float
    target_high_ng_ml: float
    unbounded_daily_mg: float  # the model's dose before the protocol's limits
    held_by: tuple[str, ...] = ()  # the protocol limits that held it back, in words


@dataclass(frozen=True, kw_only=True)
class ModelView:
    prior_id: str
    unusable_reason: str | None = None  # one line for the card when the model cannot be used
    proposal: Prediction | None = None
    draft: Prediction | None = None
    troughs_used: int = 0
    # the fitted trough-time concentration (07:55) of each of the last CURVE_DAYS days, for the page's chart
    curve: tuple[tuple[date, float], ...] = ()
    dose: ModelDose | None = None


def _hours(origin: date, day: date, hour: float) -> float:
    return (day - origin).days * 24.0 + hour


def _doses(decision: Decision, per_day: int, formulation: Formulation, today: date) -> list[Dose]:
    """Every administration of the history, each order with its own frequency and formulation (the
    current regimen's where an older point does not say)."""
    points = sorted(decision.dose_history, key=lambda p: p.on)
    if not points:
        return []
    origin = points[0].on
    doses: list[Dose] = []
    for point, nxt in zip(points, [*points[1:], None], strict=True):
        end = nxt.on if nxt else today
        times = int(point.administrations_per_day) if point.administrations_per_day in (1, 2) else per_day
        if point.daily_dose_mg > 0 and end > point.on:
            doses += regimen(_hours(origin, point.on, 8.0), _hours(origin, end, 8.0),
                             point.daily_dose_mg / times, times, point.formulation or formulation)
    return doses


def _predict(fit: Fit, dose: DoseRegimen | None) -> Prediction | None:
    if dose is None or dose.administrations_per_day not in (1, 2):
        return None
    return predict_steady_trough(fit, dose.mg_per_administration, int(dose.administrations_per_day),
                                 dose.formulation)


def model_dose(fit: Fit, protocol: Protocol, current: DoseRegimen, weight_kg: float) -> ModelDose | None:
    """The model's dose for the middle of the target range, held to the protocol: at most the titration's
    fold change from the current dose, never beyond the sanity limits, rounded to a measurable step, in
    the current frequency and formulation. None where the protocol has no target range (the taper)."""
    low, high = protocol.target_low_ng_ml, protocol.target_high_ng_ml
    if low is None or high is None or current.daily_dose_mg <= 0:
        return None
    aim = (low + high) / 2
    per_day = int(current.administrations_per_day)
    unbounded = fit.aim_dose_mg(aim, per_day, current.formulation) * per_day
    daily, held = unbounded, []
    fold = protocol.titration_max_fold_change
    if fold is not None and not current.daily_dose_mg / fold <= daily <= current.daily_dose_mg * fold:
        daily = min(max(daily, current.daily_dose_mg / fold), current.daily_dose_mg * fold)
        held.append(f"\u00d7{fold:g} cap on a change from one level")
    ceiling = min(protocol.sanity.max_daily_mg, protocol.sanity.max_mg_per_kg_day * weight_kg)
    if daily > ceiling:
        daily = ceiling
        held.append(f"sanity limit of {ceiling:.3g} mg/day")
    reg = rounded_regimen(daily, per_day, current.formulation, protocol.measuring)
    if reg.mg_per_administration <= 0 or sanity_problems(reg.daily_dose_mg, weight_kg, protocol.sanity):
        return None
    prediction = predict_steady_trough(fit, reg.mg_per_administration, per_day, reg.formulation)
    return ModelDose(regimen=reg, prediction=prediction, aim_ng_ml=aim, target_low_ng_ml=low,
                     target_high_ng_ml=high, unbounded_daily_mg=round(unbounded, 4),
                     held_by=tuple(held))


def model_view(decision: Decision, protocol: Protocol | None, age_years: float | None, today: date,
               prior_id: str = DEFAULT_PRIOR, *, exposure_changed_on: date | None = None) -> ModelView:
    """Fit the child's usable troughs; predict the proposal's and the draft's steady-state trough.

    `exposure_changed_on`: the latest start of a CYP3A4/P-gp inhibitor or inducer. The model has one
    clearance per child, so only levels drawn since then are fitted (the same day counts, as for the
    protocol's own trough rule); earlier ones describe another clearance.
    """
    usable = [t for t in decision.trough_history or decision.troughs_used
              if t.usable and t.value_ng_ml is not None
              and (exposure_changed_on is None or t.drawn_on >= exposure_changed_on)]
    current = decision.current_dose
    latest = decision.troughs_used[0] if decision.troughs_used else None
    try:
        if latest is not None and not latest.usable:
            # the protocol refuses this level (stale, before steady state or an interacting drug): the
            # model is no side door around it, it fits nothing and offers no dose (review 2026-12-02)
            raise ModelUnusable("the latest level cannot be used")
        if not usable:
            raise ModelUnusable("no usable trough to fit the model to")
        if age_years is None or decision.weight_kg is None:
            raise ModelUnusable("age or weight unknown")
        if current is None or current.administrations_per_day not in (1, 2):
            raise ModelUnusable("no once- or twice-daily current dose to fit the model to")
        per_day = int(current.administrations_per_day)
        doses = _doses(decision, per_day, current.formulation, today)
        origin = min(p.on for p in decision.dose_history) if decision.dose_history else today
        levels = [(t.drawn_on, t.value_ng_ml) for t in usable if t.drawn_on > origin]
        fit = fit_map(load_prior(prior_id), Child(weight_kg=decision.weight_kg, age_years=age_years), doses,
                      [_hours(origin, d, 8.0 - 5 / 60) for d, _ in levels], [v for _, v in levels if v is not None],
                      [age_years - (today - d).days / 365.25 for d, _ in levels])
    except ModelUnusable as why:
        return ModelView(prior_id=prior_id, unusable_reason=str(why))
    proposed = decision.proposed_dose.regimen if decision.proposed_dose else None
    dose = model_dose(fit, protocol, current, decision.weight_kg) if protocol is not None else None
    return ModelView(prior_id=prior_id, proposal=_predict(fit, proposed), draft=_predict(fit, decision.draft_dose),
                     troughs_used=fit.troughs_used, curve=_curve(fit, doses, origin, today), dose=dose)


def _curve(fit: Fit, doses: list[Dose], origin: date, today: date) -> tuple[tuple[date, float], ...]:
    first = max(origin + timedelta(days=1), today - timedelta(days=CURVE_DAYS))
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    hours = np.array([_hours(origin, d, 8.0 - 5 / 60) for d in days], dtype=np.float64)
    values = fit.curve(hours, doses) if days else np.zeros(0)
    return tuple((d, round(float(v), 2)) for d, v in zip(days, values, strict=True))
