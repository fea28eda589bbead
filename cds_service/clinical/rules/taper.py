"""KHE guided discontinuation: the taper's phase and its next step (clinical-protocol.md 1.B).

The rules, as the protocol states them:
 1. "Each reduction is at most 10 % of the previous dose, and reductions come at most monthly."
    (choice) "monthly" = a rolling window of `window_days`; the cap is on the cumulative reduction
    in that window relative to the highest dose in force in it (docs/decisions/0001).
 2. "At least 5 half-lives, stated as 2 weeks, between two reductions."
 5. "The taper lasts at least 6 months."
 7. "If the disease relapses or worsens, go back to the previously effective dose."
 8. "After a 3-month stabilisation at that dose, reductions of at most 5 % a month may be considered."
The trough (rule 3) and eligibility are checked by the caller (decide.py); this module is about
dates and doses only, so that the schedule projection can reuse it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

from ..decision import AS_SOLUTION, DoseRegimen, Phase, Rule
from ..protocols import Measuring, TaperRules
from ..reading.timeline import DoseEvent, dose_changes, event_on, max_dose_in_window
from .dosing import measuring_step_mg, product_of, regimen, rounded_regimen
from .relapse import RelapseSignal

RULE_7 = "If the disease relapses or worsens, go back to the previously effective dose."
RELAPSE_RETURN = Rule.RELAPSE_RETURN  # the rule id of rule 7's return
PRODUCT_UNKNOWN = "the product (oral solution or tablets) is unknown"  # decision 0020
_EPS = 1e-9


@dataclass(frozen=True)
class TaperStep:
    due_on: date
    regimen: DoseRegimen
    fraction: float  # the step's cap: 0.10, or 0.05 after a relapse
    rule: Rule
    protocol_line: str

    @property
    def daily_dose_mg(self) -> float:
        return self.regimen.daily_dose_mg


@dataclass(frozen=True, kw_only=True)
class TaperPlan:
    phase: Phase
    current: DoseEvent | None
    last_change_on: date | None
    step: TaperStep | None  # the next reduction (its due date may be in the future)
    relapse_return: TaperStep | None  # rule 7: back to the previously effective dose, due now
    solution_step: TaperStep | None  # when whole tablets cannot make the step
    stop_due_on: date | None  # the stop rule is met from this date
    reasons: tuple[str, ...]  # why there is no step to take now (timing, relapse, tablets)
    warnings: tuple[RelapseSignal, ...]
    return_signals: tuple[RelapseSignal, ...]

    @property
    def next_step_due(self) -> date | None:
        if self.relapse_return:
            return self.relapse_return.due_on
        if self.step:
            return self.step.due_on
        if self.solution_step:
            return self.solution_step.due_on
        return self.stop_due_on


def window_cap_allows(timeline: Sequence[DoseEvent], day: date, new_daily_mg: float, cap: float,
                      window_days: int) -> bool:
    """Rule 1: the new dose is at least (1 - cap) x the highest dose of the `window_days` before."""
    return new_daily_mg + _EPS >= (1 - cap) * max_dose_in_window(timeline, day, window_days)


def earliest_step_day(timeline: Sequence[DoseEvent], not_before: date, new_daily_mg: float, cap: float,
                      window_days: int) -> date:
    """First day on or after `not_before` on which a step to `new_daily_mg` respects rule 1."""
    day = not_before
    for _ in range(window_days + 1):
        if window_cap_allows(timeline, day, new_daily_mg, cap, window_days):
            return day
        day += timedelta(days=1)
    return day


def previously_effective(timeline: Sequence[DoseEvent], taper_start: date, signal_on: date, *,
                         stop_counts: bool = False) -> DoseEvent | None:
    """(choice) "the dose in force before the reduction after which the relapse appeared". After a
    completed taper the stop is that reduction (`stop_counts`, decision 0018): the last dose given."""
    reductions = [c for c in dose_changes(timeline)
                  if taper_start <= c.changed_on <= signal_on and c.to_daily_mg < c.from_daily_mg
                  and (stop_counts or c.to_daily_mg > 0)]
    if not reductions:
        return None
    return event_on(timeline, reductions[-1].changed_on - timedelta(days=1))


def reduction(current: DoseEvent, fraction: float, measuring: Measuring
               ) -> tuple[DoseRegimen | None, Literal["ok", "not_measurable", "tablets"]]:
    """The step `current x (1 - fraction)`, rounded to what can be measured out, never over the cap."""
    formulation = product_of(current)
    ideal = current.daily_mg * (1 - fraction)
    proposed = rounded_regimen(ideal, current.per_day, formulation, measuring)
    floor_mg = (1 - fraction) * current.daily_mg
    if formulation == "tablet":
        if proposed.daily_dose_mg + _EPS < floor_mg or proposed.daily_dose_mg >= current.daily_mg - _EPS:
            return None, "tablets"
        return proposed, "ok"
    step = measuring_step_mg("solution", measuring)
    mg = proposed.mg_per_administration
    while mg * current.per_day + _EPS < floor_mg:  # rounding down must not break the cap: one step up
        mg = round(mg + step, 6)
    proposed = regimen(mg, current.per_day, "solution", measuring)
    if proposed.daily_dose_mg >= current.daily_mg - _EPS or mg <= 0:
        return None, "not_measurable"
    return proposed, "ok"


def plan_taper(timeline: Sequence[DoseEvent], taper_start: date, signals: Sequence[RelapseSignal],
               rules: TaperRules, measuring: Measuring, weight_kg: float | None, today: date) -> TaperPlan:
    current = event_on(timeline, today)
    changes = [c for c in dose_changes(timeline) if c.changed_on <= today]
    last_change_on = changes[-1].changed_on if changes else None
    if current is None or current.daily_mg <= 0:
        return TaperPlan(phase=Phase.STOPPED, current=None, last_change_on=last_change_on, step=None,
                         relapse_return=None, solution_step=None, stop_due_on=None,
                         reasons=("sirolimus has been stopped",), warnings=(), return_signals=())
    returns = [c for c in changes if c.changed_on >= taper_start and 0 < c.from_daily_mg < c.to_daily_mg]
    last_return_on = returns[-1].changed_on if returns else None
    fresh = [s for s in signals if last_return_on is None or s.on > last_return_on]
    return_signals = tuple(s for s in fresh if s.kind in rules.relapse.return_triggers)
    warnings = tuple(s for s in fresh if s.kind in rules.relapse.warning_signals)
    phase, fraction, not_before = _phase(last_return_on, taper_start, rules, today)
    plan = TaperPlan(phase=phase, current=current, last_change_on=last_change_on, step=None, relapse_return=None,
                     solution_step=None, stop_due_on=None, reasons=(), warnings=warnings,
                     return_signals=return_signals)
    if return_signals:
        return _relapse_return(plan, current, timeline, taper_start, measuring, today)
    if last_change_on is not None:
        not_before = max(not_before, last_change_on + timedelta(days=rules.min_days_between_changes))
    return _next_reduction(plan, current, timeline, taper_start, rules, measuring, weight_kg, today,
                           fraction=fraction, not_before=not_before)


def _phase(last_return_on: date | None, taper_start: date, rules: TaperRules, today: date
           ) -> tuple[Phase, float, date]:
    """Rules 1 and 8: the phase, the step's cap and the first day a step may come (before rule 2)."""
    if last_return_on is None:
        return Phase.TAPERING, rules.max_reduction_fraction, taper_start
    days = (today - last_return_on).days
    phase = (Phase.RETURNED_AFTER_RELAPSE if days < rules.min_days_between_changes
             else Phase.STABILISING if days < rules.stabilisation_days else Phase.TAPERING_AFTER_RELAPSE)
    return phase, rules.after_relapse_max_reduction_fraction, last_return_on + timedelta(days=rules.stabilisation_days)


def _relapse_return(plan: TaperPlan, current: DoseEvent, timeline: Sequence[DoseEvent], taper_start: date,
                    measuring: Measuring, today: date) -> TaperPlan:
    """Rule 7: back to the previously effective dose, now; without a reduction since the taper began
    the current dose is the effective one (review clinically)."""
    signal = plan.return_signals[0]
    effective = previously_effective(timeline, taper_start, signal.on)
    if effective is not None and effective.daily_mg > current.daily_mg + _EPS and effective.formulation is None:
        # decision 0020: the current order's product is not borrowed (it may be the other product)
        return replace(plan, reasons=(f"relapse signal: {signal.message}; {PRODUCT_UNKNOWN} of the previously "
                                      f"effective dose (from {effective.on.isoformat()}): no return dose is computed",))
    if effective is not None and effective.daily_mg > current.daily_mg + _EPS:
        back = regimen(effective.mg_per_administration, effective.per_day, product_of(effective), measuring)
        return replace(plan, relapse_return=TaperStep(today, back, 0.0, RELAPSE_RETURN, RULE_7),
                       reasons=(f"relapse signal: {signal.message}",))
    return replace(plan, reasons=(f"relapse signal: {signal.message}; no reduction has been made since the "
                                  "taper began, so the current dose is the effective dose: review clinically",))


def _next_reduction(plan: TaperPlan, current: DoseEvent, timeline: Sequence[DoseEvent], taper_start: date,
                    rules: TaperRules, measuring: Measuring, weight_kg: float | None, today: date,
                    *, fraction: float, not_before: date) -> TaperPlan:
    """The next step (rules 1, 2, 8), as the oral solution when whole tablets cannot make it, or the
    stop rule (rule 5's minimum duration first)."""
    if current.formulation is None:  # decision 0020: no step from a product the record does not give
        return replace(plan, reasons=(f"{PRODUCT_UNKNOWN} of the sirolimus order in force: no step is computed",))
    line = rules.rule_8 if plan.phase is not Phase.TAPERING else rules.rule_1
    rule = Rule.TAPER_STEP_RULE_8 if plan.phase is not Phase.TAPERING else Rule.TAPER_STEP_RULE_1
    proposed, status = reduction(current, fraction, measuring)
    reasons: list[str] = []
    solution_step = None
    if status == "tablets":
        solution_event = DoseEvent(on=current.on, daily_mg=current.daily_mg,
                                   mg_per_administration=current.mg_per_administration, per_day=current.per_day,
                                   formulation="solution")
        solution, _ = reduction(solution_event, fraction, measuring)
        if solution is not None:
            due = earliest_step_day(timeline, not_before, solution.daily_dose_mg, fraction, rules.window_days)
            solution_step = TaperStep(due, solution, fraction, AS_SOLUTION[rule], line)
        reasons.append(f"a {fraction:.0%} step cannot be made with whole tablets (tablets are never split)")
    below_floor = (proposed is not None and weight_kg is not None
                   and proposed.daily_dose_mg / weight_kg < rules.stop_below_mg_per_kg_day)
    if (status == "not_measurable" and rules.stop_when_step_not_measurable) or below_floor:
        stop_due = max(not_before, taper_start + timedelta(days=rules.min_taper_days))
        if stop_due > today:
            reasons.append(f"the stop rule is met but the minimum taper duration is not reached: taper began "
                           f"{taper_start.isoformat()}, stopping possible from {stop_due.isoformat()}")
        return replace(plan, phase=Phase.READY_TO_STOP if stop_due <= today else plan.phase, stop_due_on=stop_due,
                       reasons=tuple(reasons))
    step = None
    if proposed is not None:
        due = earliest_step_day(timeline, not_before, proposed.daily_dose_mg, fraction, rules.window_days)
        step = TaperStep(due, proposed, fraction, rule, line)
    return replace(plan, step=step, solution_step=solution_step, reasons=tuple(reasons))


def completed_by_stop(timeline: Sequence[DoseEvent], taper_start: date, stopped_on: date, rules: TaperRules,
                      measuring: Measuring, weight_kg: float | None) -> bool | None:
    """(choice, decision 0021) A stop completes the guided discontinuation when the taper's own rules
    proposed it on the day it took effect, from the dose then in force: "The taper lasts at least 6
    months" (rule 5) and the stop rule's last step (decision 0004), 2 weeks after the last change (rule 2).
    A stop for toxicity at month 2 is not the taper's end. None: the record cannot tell (the dose's
    product unknown, or no weight to judge the stop rule's floor with), which is never "completed"."""
    before = tuple(e for e in timeline if e.on < stopped_on)
    current = event_on(before, stopped_on)
    if stopped_on < taper_start or current is None or current.daily_mg <= 0:
        return False
    if stopped_on < taper_start + timedelta(days=rules.min_taper_days):
        return False  # rule 5, whatever the dose
    plan = plan_taper(before, taper_start, (), rules, measuring, weight_kg, stopped_on)
    if plan.phase is Phase.READY_TO_STOP:
        return True
    return None if current.formulation is None or weight_kg is None else False
