"""The projected taper schedule (for the plan chart and the `plan` CLI).

It replays plan_taper on the timeline extended with each projected step, so the projection obeys
exactly the rules the live proposal obeys. Predicted troughs use the linear relation (rule 4) from
the last usable trough; a trough is due at steady state after each step (rule 2/3).
"""
from __future__ import annotations

from datetime import date, timedelta

from ..decision import ScheduleStep, TroughUsed
from ..protocols import Protocol
from ..reading.timeline import DoseEvent
from .dosing import predicted_trough_ng_ml
from .follow_up import follow_up_due
from .taper import TaperPlan, plan_taper

MAX_STEPS = 48


def project_schedule(timeline: tuple[DoseEvent, ...], plan: TaperPlan, taper_start: date,
                     trough: TroughUsed | None, protocol: Protocol, weight_kg: float, today: date
                     ) -> tuple[ScheduleStep, ...]:
    assert protocol.taper is not None
    if plan.current is None:
        return ()
    at_mg = plan.current.daily_mg
    steps: list[ScheduleStep] = []
    events = list(timeline)
    current_plan = plan
    for _ in range(MAX_STEPS):
        step = current_plan.step or current_plan.solution_step
        if step is None:
            if current_plan.stop_due_on is not None:
                stop_on = current_plan.stop_due_on
                monitor_on = stop_on + timedelta(days=protocol.trough.monitoring_interval_days)
                steps.append(ScheduleStep(due_on=stop_on, daily_dose_mg=0.0, mg_per_administration=0.0,
                                          ml_per_administration=0.0, predicted_trough_ng_ml=None,
                                          trough_due_on=monitor_on, note="stop (stop rule met), then monitor monthly"))
            break
        reg = step.regimen
        due_on = max(step.due_on, today)  # a step overdue is taken today, not in the past
        predicted = None
        if trough is not None and trough.value_ng_ml is not None and at_mg > 0:
            predicted = round(predicted_trough_ng_ml(trough.value_ng_ml, at_mg, reg.daily_dose_mg), 1)
        steps.append(ScheduleStep(due_on=due_on, daily_dose_mg=reg.daily_dose_mg,
                                  mg_per_administration=reg.mg_per_administration,
                                  ml_per_administration=reg.ml_per_administration, predicted_trough_ng_ml=predicted,
                                  trough_due_on=follow_up_due(due_on, protocol.trough.follow_up_days), note=step.rule))
        events.append(DoseEvent(on=due_on, daily_mg=reg.daily_dose_mg,
                                mg_per_administration=reg.mg_per_administration, per_day=reg.administrations_per_day,
                                formulation=reg.formulation))
        current_plan = plan_taper(events, taper_start, (), protocol.taper, protocol.measuring, weight_kg,
                                  due_on + timedelta(days=1))
        # plan_taper is asked "the day after the step": the next step's due date comes from the rules
    return tuple(steps)
