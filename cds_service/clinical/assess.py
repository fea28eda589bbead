"""The assessment shared by both entry points: protocol and arm, eligibility, trough, taper or
titration, findings, missing data and the projected schedule."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from .decision import (
    Alternative,
    ArmAssignment,
    Decision,
    DosePoint,
    Eligibility,
    Finding,
    MissingData,
    Phase,
    ProposedDose,
    ScheduleStep,
    TroughUsed,
    Unusable,
)
from .dosing import NOT_BIOEQUIVALENT, assess_trough, predicted_trough_ng_ml, regimen, weight_problems
from .eligibility import guided_discontinuation, ihhe_sequential
from .facts import Measurement
from .findings import interacting_drugs, same_day_levels, trough_findings
from .follow_up import NextTrough, TroughClock, next_trough_due, proposes_change
from .protocols import IHHE_SEQUENTIAL, KHE_GUIDED, KHE_MAINTENANCE, Protocol, Protocols, share
from .record import PatientRecord
from .relapse import RelapseSignal, relapse_signals
from .schedule import project_schedule
from .taper import TaperPlan, TaperStep, _reduction, plan_taper
from .taper_guard import TaperPause, taper_pauses
from .timeline import DoseEvent, dose_changes, dose_timeline, event_on
from .titration import _proposal, checked, starting_dose, titrate

MAX_AGE_YEARS = 21  # both protocols are paediatric: an older "child" is a record error (not a rule)


def _plausible_patient(record: PatientRecord, today: date) -> bool:
    age = record.age_years(today)
    return not record.deceased and age is not None and 0 <= age <= MAX_AGE_YEARS \
        and record.birth_date is not None and record.birth_date <= today


HISTORY_DAYS = 548  # what the decision page's chart shows: about 18 months (display only, not a rule)


def _dose_history(timeline: tuple[DoseEvent, ...], today: date) -> tuple[DosePoint, ...]:
    start = today - timedelta(days=HISTORY_DAYS)
    points = [DosePoint(e.on, e.daily_mg, e.per_day, e.formulation) for e in timeline if start < e.on <= today]
    before = event_on(timeline, start)
    if before is not None:
        points.insert(0, DosePoint(start, before.daily_mg, before.per_day, before.formulation))
    return tuple(points)


@dataclass(frozen=True)
class Assessment:
    decision: Decision
    protocol: Protocol | None
    timeline: tuple[DoseEvent, ...] | None
    current: DoseEvent | None
    last_change_on: date | None
    signals: tuple[RelapseSignal, ...]
    warnings: tuple[RelapseSignal, ...]


def _step_proposal(step: TaperStep, current: DoseEvent, trough: TroughUsed | None, weight_kg: float
                   ) -> ProposedDose:
    predicted = None
    if trough is not None and trough.usable and trough.value_ng_ml is not None:
        predicted = predicted_trough_ng_ml(trough.value_ng_ml, current.daily_mg, step.daily_dose_mg)
    return _proposal(step.regimen, current.daily_mg, weight_kg, predicted, step.rule, step.protocol_line)


def _next_trough(trough: TroughUsed | None, last_change_on: date | None, proposed: ProposedDose | None,
                 current: DoseEvent | None, protocol: Protocol, today: date, *, starting: bool,
                 next_change_on: date | None) -> NextTrough | None:
    """The inputs of follow_up.next_trough_due, read from this assessment. None: the child is not on
    sirolimus and no start is being ordered (a first trough is due only after a first dose)."""
    on_therapy = current is not None and current.daily_mg > 0
    if not on_therapy and (proposed is None or not starting):
        return None
    changing = proposed is not None and (current is None or not on_therapy or proposes_change(proposed, current))
    stale_only = trough is not None and all(k is Unusable.TOO_OLD for k in trough.unusable_kinds)
    clock = TroughClock(today=today, last_change_on=last_change_on, change_proposed=changing,
                        level_drawn_on=trough.drawn_on if trough else None,
                        level_usable=trough is not None and trough.usable, level_only_stale=stale_only,
                        next_change_on=next_change_on)
    return next_trough_due(clock, follow_up_days=protocol.trough.follow_up_days,
                           monitoring_interval_days=protocol.trough.monitoring_interval_days)


def _upcoming_step(schedule: tuple[ScheduleStep, ...], on_hold: bool, pauses: bool, today: date) -> date | None:
    """The next projected taper step, when it lies ahead and nothing holds the taper."""
    if not schedule or on_hold or pauses or schedule[0].daily_dose_mg <= 0 or schedule[0].due_on <= today:
        return None
    return schedule[0].due_on


def assess(record: PatientRecord, arm: ArmAssignment | None, protocols: Protocols, today: date,
           *, sirolimus_ordered: bool) -> Assessment:
    if arm is None:
        no_arm = (MissingData("a KHE or IHHE diagnosis (Condition) or a CarePlan naming the protocol",
                              "record the diagnosis"),)
        return Assessment(Decision(kind="dosing", patient_id=record.patient_id, decided_on=today,
                                   missing_data=no_arm,
                                   no_proposal_reasons=("the protocol cannot be known from the record",)),
                          None, None, None, None, (), ())
    protocol = protocols[arm.protocol_id]
    missing: list[MissingData] = [MissingData(f"{u.resource} is unusable: {u.reason}", None)
                                  for u in record.unusable]
    findings: list[Finding] = list(interacting_drugs(record))
    reasons: list[str] = []
    eligibility: list[Eligibility] = []
    if protocol.ref.protocol_id == IHHE_SEQUENTIAL:
        eligibility.append(ihhe_sequential(record, protocol, today, sirolimus_ordered))
        if not record.propranolol:
            # "checks that propranolol was given before ... and says so plainly when it finds none"
            findings.append(Finding("no-propranolol-on-record", "warning",
                                    "no propranolol order is on record: this protocol sequences sirolimus after "
                                    "propranolol failed; confirm propranolol was given"))
    else:
        eligibility.append(guided_discontinuation(record, protocols[KHE_GUIDED], today))

    timeline = dose_timeline(record.sirolimus_doses)
    if timeline is None:
        missing.append(MissingData("a readable dose on every sirolimus order", "correct the order's dose"))
        reasons.append("the sirolimus dose history cannot be read")
    current = event_on(timeline, today) if timeline else None
    changes = [c for c in dose_changes(timeline or ()) if c.changed_on <= today]
    last_change = changes[-1] if changes else None
    last_change_on = last_change.changed_on if last_change else None

    weight: Measurement | None = record.latest_weight(today, protocol.sanity.weight_max_age_days)
    weight_issues = (weight_problems(record.weights_kg, today, protocol.sanity, record.age_days(weight.on))
                     if weight is not None else ())
    if weight_issues:  # decision 0013: an implausible weight counts as missing
        reasons += weight_issues
        missing.append(MissingData("a confirmed body weight",
                                   "check the weight and its unit; mark a wrong one entered-in-error"))
        weight = None
    elif not _plausible_patient(record, today):
        reasons.append("the patient record is not plausible for dosing (date of birth in the future or over "
                       f"{MAX_AGE_YEARS} years ago, or recorded as deceased)")
        missing.append(MissingData("a plausible date of birth (and a living patient)", "correct the Patient record"))
        weight = None
    elif weight is None:
        missing.append(MissingData(f"a body weight within {protocol.sanity.weight_max_age_days} days",
                                   "weigh the child (LOINC 29463-7)"))
        reasons.append("no recent weight, so the dose cannot be checked in mg/kg/day")
    newest = record.troughs[0] if record.troughs else None
    trough = assess_trough(newest, last_change_on, protocol.trough, today) if newest else None
    on_therapy = current is not None and current.daily_mg > 0
    if trough is None:
        if on_therapy:  # before a first dose no level can exist yet: nothing is missing
            missing.append(MissingData("a sirolimus trough level", "order a whole-blood trough (LOINC 29247-4)"))
    elif not trough.usable:
        reasons.append("the latest level cannot be used: " + "; ".join(trough.reasons_unusable))
        missing.append(MissingData("a usable sirolimus trough at steady state",
                                   "order a whole-blood trough before the next dose (LOINC 29247-4)"))
    if trough is not None and trough.usable:
        started_since = [d for d in record.interacting_drugs if d.start is not None and d.start > trough.drawn_on]
        if started_since:
            # CYP3A4/P-gp inhibitors and inducers move the level: one drawn before the drug started no
            # longer describes the exposure, so no dose is computed from it.
            why = "; ".join(f"drawn before {d.name} started on {d.start.isoformat()}" for d in started_since
                            if d.start is not None)
            trough = replace(trough, usable=False, reasons_unusable=trough.reasons_unusable + (why,),
                             unusable_kinds=trough.unusable_kinds + (Unusable.DRUG_STARTED_SINCE,))
            reasons.append("the latest level cannot be used: " + why)
            missing.append(MissingData("a sirolimus trough drawn since the interacting drug started",
                                       "order a whole-blood trough before the next dose (LOINC 29247-4)"))
    findings += trough_findings(trough, protocol.trough.plausible_max_ng_ml)
    findings += same_day_levels(record.troughs)
    usable_trough = trough if trough is not None and trough.usable else None

    phase: Phase | None = None
    proposed: ProposedDose | None = None
    alternatives: list[Alternative] = []
    next_step_due: date | None = None
    signals: tuple[RelapseSignal, ...] = ()
    warnings: tuple[RelapseSignal, ...] = ()
    schedule: tuple[ScheduleStep, ...] = ()
    next_change_on: date | None = None  # a taper step projected after today
    paused_by: tuple[str, ...] = ()  # the criteria pausing a started taper (decision 0016)
    if protocol.ref.protocol_id == KHE_GUIDED and protocol.taper is not None and timeline is not None:
        if arm.taper_started_on is None:
            missing.append(MissingData("the date the taper began", "set CarePlan.period.start"))
            reasons.append("the taper's start date is unknown")
        else:
            signals_all = relapse_signals(record, arm.taper_started_on, protocol.taper.relapse, today)
            plan = plan_taper(timeline, arm.taper_started_on, signals_all, protocol.taper, protocol.measuring,
                              weight.value if weight else None, today)
            phase, signals, warnings = plan.phase, plan.return_signals, plan.warnings
            next_step_due = plan.next_step_due
            reasons += plan.reasons
            findings += [Finding("relapse-signal", "critical" if s in signals else "warning", s.message,
                                 (s.evidence,)) for s in (*signals, *warnings)]
            pauses = taper_pauses(eligibility[0], protocol.eligibility.get("criterion_roles", {}),
                                  arm.taper_started_on)
            proposed, alternatives, more = _taper_proposal(plan, usable_trough, weight, protocol, today,
                                                         paused=arm.on_hold, pauses=pauses)
            reasons += more
            if proposed is None and not arm.on_hold and plan.relapse_return is None:
                paused_by = tuple(p.why for p in pauses)
            if weight is not None and plan.step is not None and not signals:
                schedule = project_schedule(timeline, plan, arm.taper_started_on, usable_trough, protocol,
                                            weight.value, today)
                next_change_on = _upcoming_step(schedule, arm.on_hold, bool(pauses), today)
    elif current is not None and current.daily_mg > 0:
        phase = Phase.SEQUENTIAL if protocol.ref.protocol_id == IHHE_SEQUENTIAL else Phase.MAINTENANCE
        if usable_trough is not None and weight is not None:
            proposed, extra = titrate(current, usable_trough, protocol, weight.value)
            findings += extra
            if proposed is not None and proposed.rule == "linear_adjustment_to_target_as_solution":
                alternatives.append(Alternative("solution_equivalent", proposed, NOT_BIOEQUIVALENT))
            if proposed is not None and proposed.rule != "within_target_keep_dose":
                keep = regimen(current.mg_per_administration, current.per_day,
                               current.formulation or "solution", protocol.measuring)
                kept, over = checked(_proposal(keep, current.daily_mg, weight.value, usable_trough.value_ng_ml,
                                               "keep_current_dose", ""), weight.value, protocol)
                if kept is not None and not over:
                    alternatives.append(Alternative("keep_current", kept, ""))
        next_step_due = None
        guided = protocols[KHE_GUIDED]
        if (protocol.ref.protocol_id == KHE_MAINTENANCE and eligibility[0].answer != "not_met"
                and weight is not None and timeline is not None and guided.taper is not None):
            # What the taper would look like if the clinician starts it today (the eligibility card
            # and the decision page show it; nothing is proposed until a CarePlan starts the taper).
            preview = plan_taper(timeline, today, (), guided.taper, guided.measuring, weight.value, today)
            if preview.step is not None:
                schedule = project_schedule(timeline, preview, today, usable_trough, guided, weight.value, today)
    elif protocol.ref.protocol_id == IHHE_SEQUENTIAL and timeline is not None:
        phase = Phase.SEQUENTIAL
        if weight is not None:
            proposed, extra = starting_dose(protocol, weight.value)
            findings += extra
    else:
        phase = Phase.STOPPED if changes else None
        if timeline is not None:  # an unreadable history already says why
            reasons.append("no sirolimus order is in force")
    if any(f.code == "change-needs-confirmation" for f in findings):
        reasons.append("one level asks for more than a 2-fold change: repeat the trough to confirm it")
    if any(f.severity == "critical" and f.code == "proposal-above-limit" for f in findings):
        reasons.append("the computed dose is beyond the sanity limits")

    next_trough = _next_trough(trough, last_change_on, proposed, current, protocol, today,
                               starting=sirolimus_ordered, next_change_on=next_change_on)
    decision = Decision(
        kind="dosing", patient_id=record.patient_id, decided_on=today, protocol=protocol.ref, arm=arm,
        phase=phase, eligibility=tuple(eligibility), troughs_used=(trough,) if trough else (),
        last_dose_change=last_change,
        current_dose=None if current is None or current.daily_mg <= 0 else regimen(
            current.mg_per_administration, current.per_day, current.formulation or "solution", protocol.measuring),
        proposed_dose=proposed,
        no_proposal_reasons=() if proposed is not None else tuple(dict.fromkeys(reasons)),
        alternatives=tuple(alternatives),
        next_trough_due=next_trough.draw_on if next_trough else None,
        trough_overdue_since=next_trough.overdue_since if next_trough else None,
        next_step_due=next_step_due, taper_paused_by=paused_by, findings=tuple(findings),
        missing_data=tuple(missing), schedule=schedule,
        weight_kg=weight.value if weight else None,
        notes=(arm.note,),
        dose_history=_dose_history(timeline or (), today),
        trough_history=tuple(
            # Past levels as measured: "usable" here means only that the value has a known unit.
            TroughUsed(t.value_ng_ml, t.original_value, t.original_unit, t.drawn_on, t.resource,
                       t.value_ng_ml is not None, () if t.value_ng_ml is not None else ("no known unit",), t.method,
                       () if t.value_ng_ml is not None else (Unusable.UNKNOWN_UNIT,))
            for t in record.troughs if today - timedelta(days=HISTORY_DAYS) <= t.drawn_on <= today
        ),
    )
    return Assessment(decision, protocol, timeline, current, last_change_on, signals, warnings)


def _taper_proposal(plan: TaperPlan, trough: TroughUsed | None, weight: Measurement | None,
                    protocol: Protocol, today: date, *, paused: bool = False, pauses: tuple[TaperPause, ...] = ()
                    ) -> tuple[ProposedDose | None, list[Alternative], list[str]]:
    """A taper step is proposed only when due, from a usable trough, with a weight, while eligible."""
    reasons: list[str] = []
    alternatives: list[Alternative] = []
    current = plan.current
    if current is None or weight is None:
        return None, alternatives, reasons
    if plan.relapse_return is not None:  # rule 7 does not wait for a trough: go back now
        back, _ = checked(_step_proposal(plan.relapse_return, current, trough, weight.value), weight.value, protocol)
        return back, alternatives, reasons
    if paused:  # relapse returns above still apply; reductions wait until the CarePlan is active again
        reasons.append("the taper's CarePlan is on hold: no reduction is proposed")
        return None, alternatives, reasons
    if pauses:  # enrolment-only criteria never stop a started taper (decision 0016)
        reasons.append("the taper is paused: " + "; ".join(p.what_to_do for p in pauses))
        return None, alternatives, reasons
    if plan.stop_due_on is not None and plan.phase is Phase.READY_TO_STOP:
        alternatives.append(Alternative("stop", None, "stop sirolimus, then monitor the trough and platelets monthly",
                                        then="monitor the trough and platelets monthly"))
        return None, alternatives, reasons
    step = plan.step or plan.solution_step
    if step is None:
        return None, alternatives, reasons
    candidate = _step_proposal(step, current, trough, weight.value)
    if plan.solution_step is not None and plan.step is None:
        alternatives.append(Alternative("solution_equivalent", candidate, NOT_BIOEQUIVALENT))
    if step.due_on > today:
        reasons.append(f"too soon: the next step is due on {step.due_on.isoformat()}")
        # Until then the current dose stands: it is what a draft breaking the rules is corrected to.
        kept, over = checked(_proposal(regimen(current.mg_per_administration, current.per_day,
                                               current.formulation or "solution", protocol.measuring),
                                       current.daily_mg, weight.value, None, "keep_current_dose", ""),
                             weight.value, protocol)
        if kept is not None and not over:
            alternatives.append(Alternative("keep_current", kept, "keep the current dose until the next step"))
        return None, alternatives, reasons
    if trough is None:
        reasons.append("no usable trough at the current dose (missing, stale or before steady state)")
        return None, alternatives, reasons
    # When whole tablets cannot make the step, the step is proposed as the oral solution (decision
    # 0005); the solution_equivalent alternative carries the non-bioequivalence note for the card.
    safe, _ = checked(candidate, weight.value, protocol)
    keep = _proposal(regimen(current.mg_per_administration, current.per_day, current.formulation or "solution",
                             protocol.measuring), current.daily_mg, weight.value, trough.value_ng_ml,
                     "keep_current_dose", "")
    kept, over = checked(keep, weight.value, protocol)
    if kept is not None and not over:
        alternatives.append(Alternative("keep_current", kept, "keep the current dose"))
    smaller = _smaller_step(current, step, protocol, trough, weight.value)
    if smaller is not None and safe is not None:
        alternatives.append(Alternative("five_percent_step", smaller, "a smaller step, within the protocol's cap"))
    return safe, alternatives, reasons


def _smaller_step(current: DoseEvent, step: TaperStep, protocol: Protocol, trough: TroughUsed,
                  weight_kg: float) -> ProposedDose | None:
    """Rule 1 caps a reduction at 10 %; a 5 % step (rule 8's size) is always within it, so it is offered
    as an alternative when it can be measured out and differs from the recommended step."""
    assert protocol.taper is not None
    fraction = protocol.taper.after_relapse_max_reduction_fraction
    if fraction >= step.fraction:
        return None
    smaller, status = _reduction(current, fraction, protocol.measuring)
    if status != "ok" or smaller is None or abs(smaller.daily_dose_mg - step.daily_dose_mg) < 1e-9:
        return None
    rule = "taper_step_rule_8"
    line = (f"Each reduction is at most {share(protocol.taper.max_reduction_fraction)} of the previous dose "
            "(a smaller step stays within the cap).")
    candidate = _step_proposal(TaperStep(step.due_on, smaller, fraction, rule, line), current, trough, weight_kg)
    safe, _ = checked(candidate, weight_kg, protocol)
    return safe
