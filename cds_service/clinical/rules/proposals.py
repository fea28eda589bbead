"""One proposal per protocol and phase, each a typed `Proposal` read from the same `Readings`:

    taper_proposal        KHE guided discontinuation: relapse return, pause, stop, the next step
    titration_proposal    KHE maintenance / IHHE on sirolimus: towards the target range
    maintenance_preview   KHE maintenance: the taper as it would run if started today (display only)
    ihhe_start_proposal   IHHE, not yet on sirolimus: the starting dose
    after_stop_proposal   KHE, stopped after a taper began: a relapse since the stop (decisions 0018, 0021)
    off_sirolimus         no sirolimus order in force

`assess.py` reads the record into `Readings`, picks the proposal and words the Decision.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from ..decision import (
    Alternative,
    ArmAssignment,
    CriterionResult,
    DoseChange,
    Eligibility,
    Finding,
    MissingData,
    Phase,
    ProposedDose,
    Rule,
    ScheduleStep,
    TaperStop,
    TroughUsed,
)
from ..protocols import IHHE_SEQUENTIAL, KHE_MAINTENANCE, Protocol, share
from ..reading.facts import Measurement
from ..reading.record import PatientRecord
from ..reading.timeline import DoseEvent
from .dosing import current_regimen, not_bioequivalent, predicted_trough_ng_ml, product_missing, product_of, regimen
from .eligibility import NO_TOXICITY
from .relapse import RelapseSignal, relapse_signals
from .schedule import project_schedule
from .taper import RULE_7, TaperPlan, TaperStep, completed_by_stop, plan_taper, previously_effective, reduction
from .taper_guard import TaperPause, taper_pauses, taper_to_confirm
from .titration import checked, proposal_of, starting_dose, titrate


@dataclass(frozen=True, kw_only=True)
class Readings:
    """What the record says, read once for every proposal (assess.py reads it)."""

    protocol: Protocol
    today: date
    timeline: tuple[DoseEvent, ...] | None  # None: the dose history cannot be read
    current: DoseEvent | None  # the dose in force today
    changes: tuple[DoseChange, ...]  # up to today
    weight: Measurement | None  # None: missing, stale or implausible
    trough: TroughUsed | None  # the newest level, assessed (usable or not)
    eligibility: Eligibility  # for the protocol the child may move to (or the IHHE one)

    @property
    def on_therapy(self) -> bool:
        return self.current is not None and self.current.daily_mg > 0

    @property
    def usable_trough(self) -> TroughUsed | None:
        return self.trough if self.trough is not None and self.trough.usable else None


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """A protocol's answer for today: a dose (or None, with reasons) and what the cards show with it."""

    phase: Phase | None
    dose: ProposedDose | None = None
    alternatives: tuple[Alternative, ...] = ()
    reasons: tuple[str, ...] = ()  # why no dose (timing, pauses, missing inputs)
    findings: tuple[Finding, ...] = ()
    missing: tuple[MissingData, ...] = ()
    schedule: tuple[ScheduleStep, ...] = ()  # the projected taper
    next_step_due: date | None = None
    next_change_on: date | None = None  # a taper step projected after today
    paused_by: tuple[str, ...] = ()  # the criteria pausing a started taper (decision 0016)
    to_confirm: tuple[CriterionResult, ...] = ()  # unknown protecting criteria the prescriber confirms (0019)
    signals: tuple[RelapseSignal, ...] = field(default=())  # relapse signals that return to the effective dose
    warnings: tuple[RelapseSignal, ...] = field(default=())  # relapse signals that only warn
    stop: TaperStop | None = None  # sirolimus stopped after the taper began (a relapse since: 0018, 0021)


def keep_current(current: DoseEvent, protocol: Protocol, weight_kg: float, *, level_ng_ml: float | None,
                 note: str) -> Alternative | None:
    """Keeping the current dose, offered next to a change; None when the current dose is beyond the
    sanity limits (a dose the service would not propose is not endorsed either)."""
    keep = proposal_of(current_regimen(current, protocol.measuring), current.daily_mg, weight_kg, level_ng_ml,
                       Rule.KEEP_CURRENT_DOSE, "")
    kept, _ = checked(keep, weight_kg, protocol)
    return None if kept is None else Alternative("keep_current", kept, note)


# --- KHE guided discontinuation -------------------------------------------------------------------

def taper_proposal(r: Readings, record: PatientRecord, arm: ArmAssignment) -> Proposal:
    """The taper (rules 1-8): plan_taper says what the next step is; this says whether it is proposed."""
    rules = r.protocol.taper
    assert rules is not None and r.timeline is not None
    if arm.taper_started_on is None:
        return Proposal(phase=None, missing=(MissingData("the date the taper began", "set CarePlan.period.start"),),
                        reasons=("the taper's start date is unknown",))
    weight_kg = r.weight.value if r.weight else None
    plan = plan_taper(r.timeline, arm.taper_started_on, relapse_signals(record, arm.taper_started_on, rules.relapse,
                                                                        r.today),
                      rules, r.protocol.measuring, weight_kg, r.today)
    signals = plan.return_signals
    roles = r.protocol.eligibility.get("criterion_roles", {})
    pauses = taper_pauses(r.eligibility, roles, arm.taper_started_on)
    step = _taper_step(plan, r, paused=arm.on_hold, pauses=pauses)
    schedule: tuple[ScheduleStep, ...] = ()
    if weight_kg is not None and plan.step is not None and not signals:
        schedule = project_schedule(r.timeline, plan, arm.taper_started_on, r.usable_trough, r.protocol, weight_kg,
                                    r.today)
    held = step.dose is None and not arm.on_hold and plan.relapse_return is None
    return Proposal(
        phase=plan.phase, dose=step.dose, alternatives=step.alternatives, reasons=plan.reasons + step.reasons,
        findings=tuple(Finding("relapse-signal", "critical" if s in signals else "warning", s.message, (s.evidence,))
                       for s in (*signals, *plan.warnings)),
        schedule=schedule, next_step_due=plan.next_step_due,
        next_change_on=_upcoming_step(schedule, arm.on_hold or bool(pauses), r.today),
        paused_by=tuple(p.why for p in pauses) if held else (), signals=signals, warnings=plan.warnings,
        to_confirm=taper_to_confirm(r.eligibility, roles) if step.dose and plan.relapse_return is None else ())



def _upcoming_step(schedule: tuple[ScheduleStep, ...], held: bool, today: date) -> date | None:
    """The next projected taper step, when it lies ahead and nothing holds the taper."""
    if not schedule or held or schedule[0].daily_dose_mg <= 0 or schedule[0].due_on <= today:
        return None
    return schedule[0].due_on


def _taper_step(plan: TaperPlan, r: Readings, *, paused: bool, pauses: tuple[TaperPause, ...]) -> Proposal:
    """A taper step is proposed only when due, from a usable trough, with a weight, while eligible
    (the phase is plan_taper's; the caller keeps it)."""
    current = plan.current
    if current is None or r.weight is None:
        return Proposal(phase=plan.phase)
    if plan.relapse_return is not None:  # rule 7 does not wait for a trough: go back now
        back, _ = checked(_step_dose(plan.relapse_return, current, r.usable_trough, r.weight.value),
                          r.weight.value, r.protocol)
        return Proposal(phase=plan.phase, dose=back)
    if paused:  # relapse returns above still apply; reductions wait until the CarePlan is active again
        return Proposal(phase=plan.phase, reasons=("the taper's CarePlan is on hold: no reduction is proposed",))
    if pauses:  # enrolment-only criteria never stop a started taper (decision 0016)
        return Proposal(phase=plan.phase, reasons=("the taper is paused: " + "; ".join(p.what_to_do for p in pauses),))
    if plan.stop_due_on is not None and plan.phase is Phase.READY_TO_STOP:
        then = "monitor the trough and platelets monthly"
        return Proposal(phase=plan.phase, alternatives=(Alternative("stop", None, f"stop sirolimus, then {then}",
                                                                    then=then),))
    step = plan.step or plan.solution_step
    if step is None:
        return Proposal(phase=plan.phase)
    return _due_step(plan, step, current, r, r.weight.value)


def _due_step(plan: TaperPlan, step: TaperStep, current: DoseEvent, r: Readings, weight_kg: float) -> Proposal:
    """The step itself: too soon (keep the current dose), no usable level, or proposed with its
    alternatives (keep the current dose, a smaller step)."""
    alternatives: list[Alternative] = []
    candidate = _step_dose(step, current, r.usable_trough, weight_kg)
    if plan.solution_step is not None and plan.step is None:
        alternatives.append(Alternative("solution_equivalent", candidate,
                                        not_bioequivalent(r.protocol.measuring.tablet_exposure_vs_solution)))
    if step.due_on > r.today:
        # Until then the current dose stands: it is what a draft breaking the rules is corrected to.
        keep = keep_current(current, r.protocol, weight_kg, level_ng_ml=None,
                            note="keep the current dose until the next step")
        if keep is not None:
            alternatives.append(keep)
        return Proposal(phase=plan.phase, alternatives=tuple(alternatives),
                        reasons=(f"too soon: the next step is due on {step.due_on.isoformat()}",))
    trough = r.usable_trough
    if trough is None:
        return Proposal(phase=plan.phase, alternatives=tuple(alternatives),
                        reasons=("no usable trough at the current dose (missing, stale or before steady state)",))
    # When whole tablets cannot make the step, the step is proposed as the oral solution (decision
    # 0005); the solution_equivalent alternative carries the non-bioequivalence note for the card.
    safe, _ = checked(candidate, weight_kg, r.protocol)
    keep = keep_current(current, r.protocol, weight_kg, level_ng_ml=trough.value_ng_ml, note="keep the current dose")
    if keep is not None:
        alternatives.append(keep)
    smaller = smaller_step(current, step, r.protocol, trough, weight_kg)
    if smaller is not None and safe is not None:
        alternatives.append(Alternative("smaller_step", smaller, "a smaller step, within the protocol's cap"))
    return Proposal(phase=plan.phase, dose=safe, alternatives=tuple(alternatives))


def _step_dose(step: TaperStep, current: DoseEvent, trough: TroughUsed | None, weight_kg: float) -> ProposedDose:
    predicted = None
    if trough is not None and trough.value_ng_ml is not None:
        predicted = predicted_trough_ng_ml(trough.value_ng_ml, current.daily_mg, step.daily_dose_mg)
    return proposal_of(step.regimen, current.daily_mg, weight_kg, predicted, step.rule, step.protocol_line)


def smaller_step(current: DoseEvent, step: TaperStep, protocol: Protocol, trough: TroughUsed,
                 weight_kg: float) -> ProposedDose | None:
    """Rule 1 caps a reduction at 10 %; a 5 % step (rule 8's size) is always within it, so it is offered
    as an alternative when it can be measured out and differs from the recommended step."""
    assert protocol.taper is not None
    fraction = protocol.taper.after_relapse_max_reduction_fraction
    if fraction >= step.fraction:
        return None
    smaller, status = reduction(current, fraction, protocol.measuring)
    if status != "ok" or smaller is None or abs(smaller.daily_dose_mg - step.daily_dose_mg) < 1e-9:
        return None
    line = (f"Each reduction is at most {share(protocol.taper.max_reduction_fraction)} of the previous dose "
            "(a smaller step stays within the cap).")
    candidate = _step_dose(TaperStep(step.due_on, smaller, fraction, Rule.TAPER_STEP_RULE_8, line), current, trough,
                           weight_kg)
    safe, _ = checked(candidate, weight_kg, protocol)
    return safe


# --- on sirolimus, towards the target range; the IHHE start; no order in force ---------------------

def titration_proposal(r: Readings) -> Proposal:
    """KHE maintenance (5-7 ng/mL) or IHHE sequential (8-15 ng/mL): the linear relation from a usable
    level, with the oral solution when tablets cannot make the change, and keeping the dose offered."""
    assert r.current is not None
    phase = Phase.SEQUENTIAL if r.protocol.ref.protocol_id == IHHE_SEQUENTIAL else Phase.MAINTENANCE
    trough = r.usable_trough
    if trough is None or r.weight is None or r.current.formulation is None:  # no product: decision 0020
        return Proposal(phase=phase)
    proposed, findings = titrate(r.current, trough, r.protocol, r.weight.value)
    alternatives: list[Alternative] = []
    if proposed is not None and proposed.rule == Rule.LINEAR_ADJUSTMENT_AS_SOLUTION:
        alternatives.append(Alternative("solution_equivalent", proposed,
                                        not_bioequivalent(r.protocol.measuring.tablet_exposure_vs_solution)))
    if proposed is not None and proposed.rule != Rule.WITHIN_TARGET_KEEP_DOSE:
        keep = keep_current(r.current, r.protocol, r.weight.value, level_ng_ml=trough.value_ng_ml, note="")
        if keep is not None:
            alternatives.append(keep)
    return Proposal(phase=phase, dose=proposed, alternatives=tuple(alternatives), findings=findings)


def maintenance_preview(r: Readings, guided: Protocol) -> tuple[ScheduleStep, ...]:
    """What the taper would look like if the clinician starts it today (the eligibility card and the
    decision page show it; nothing is proposed until a CarePlan starts the taper)."""
    if (r.protocol.ref.protocol_id != KHE_MAINTENANCE or r.eligibility.answer == "not_met" or r.weight is None
            or r.timeline is None or guided.taper is None):
        return ()
    preview = plan_taper(r.timeline, r.today, (), guided.taper, guided.measuring, r.weight.value, r.today)
    if preview.step is None:
        return ()
    return project_schedule(r.timeline, preview, r.today, r.usable_trough, guided, r.weight.value, r.today)


def ihhe_start_proposal(r: Readings) -> Proposal:
    """IHHE, not on sirolimus yet: the starting dose per kg, as the oral solution (needs a weight)."""
    if r.weight is None:
        return Proposal(phase=Phase.SEQUENTIAL)
    proposed, findings = starting_dose(r.protocol, r.weight.value)
    return Proposal(phase=Phase.SEQUENTIAL, dose=proposed, findings=findings)


def after_stop_proposal(r: Readings, record: PatientRecord, taper_start: date) -> Proposal | None:
    """KHE, sirolimus stopped after the guided taper began, watched for `after_stop_watch_days`: the
    taper's relapse signals (relapse.py) dated on or after the stop. After a completed taper (decision
    0021: at least 6 months and the stop rule's last step) a return trigger proposes rule 7's return as a
    restart at the previously effective dose (0003, the stop being the last reduction) when the weight, the
    signal and the dose are all usable; after a stop before the taper's end the sign is said with no dose
    (0021). A warning signal alone only warns (0002). None: not after a taper, past the watch, or no
    signal (0018)."""
    rules = r.protocol.taper
    if rules is None or r.timeline is None or r.on_therapy or not r.changes or r.changes[-1].to_daily_mg > 0:
        return None
    stopped_on = r.changes[-1].changed_on
    watch = rules.relapse
    if stopped_on < taper_start or (r.today - stopped_on).days > watch.after_stop_watch_days:
        return None
    fresh = [s for s in relapse_signals(record, taper_start, watch, r.today) if s.on >= stopped_on]
    if not fresh:
        return None
    stop = TaperStop(stopped_on=stopped_on, taper_started_on=taper_start, completed=completed_by_stop(
        r.timeline, taper_start, stopped_on, rules, r.protocol.measuring, _weight_at_stop(r, record, stopped_on)))
    signals = tuple(s for s in fresh if s.kind in watch.return_triggers)
    warnings = tuple(s for s in fresh if s.kind in watch.warning_signals)
    when_stopped = "stopped before the taper's end" if stop.completed is False else "stopped"
    base = Proposal(phase=Phase.STOPPED, stop=stop, signals=signals, warnings=warnings,
                    findings=tuple(Finding("relapse-signal", "warning",
                                           f"{'Relapse' if s in signals else 'Warning sign'} after sirolimus "
                                           f"{when_stopped}: {s.message}, {s.on.isoformat()}", (s.evidence,))
                                   for s in (*signals, *warnings)))
    if not signals:
        return replace(base, reasons=("a warning sign after sirolimus was stopped: assess for relapse",))
    return _restart(base, r, record, signals[-1], stop, watch.after_stop_signal_max_age_days)


def _weight_at_stop(r: Readings, record: PatientRecord, stopped_on: date) -> float | None:
    """The weight the stop rule's floor was judged with: the newest within `weight_max_age_days` before
    the stop, else today's usable one (a child grows: decision 0021)."""
    then = record.latest_weight(stopped_on, r.protocol.sanity.weight_max_age_days)
    if then is not None:
        return then.value
    return r.weight.value if r.weight else None


def stop_reason(record: PatientRecord, stopped_on: date) -> str | None:
    """The recorded reason of the order halted on the stop day (its statusReason), if any (decision 0026)."""
    return next((p.stop_reason for p in reversed(record.sirolimus_doses)
                 if p.end == stopped_on and p.stop_reason), None)


def _restart(base: Proposal, r: Readings, record: PatientRecord, signal: RelapseSignal, stop: TaperStop,
             signal_max_age_days: int) -> Proposal:
    """Rule 7 after the stop: a restart at the dose given before it, only after a completed taper and from
    usable inputs; else what is missing (decisions 0018, 0020, 0021)."""
    assert r.timeline is not None
    effective = previously_effective(r.timeline, stop.taper_started_on, signal.on, stop_counts=True)
    missing: list[MissingData] = []
    if stop.completed is False:
        missing.append(MissingData(
            f"why sirolimus was stopped on {stop.stopped_on.isoformat()}, day {stop.taper_days} of the taper, "
            "before its end", "review the reason for the stop: a restart after a stop before the taper's end "
            "is the clinician's decision, not the taper's rule 7"))
    if (why := stop_reason(record, stop.stopped_on)) is not None:  # decision 0026
        missing.append(MissingData(
            f"a review of why sirolimus was stopped on {stop.stopped_on.isoformat()} "
            f"(recorded: \u201c{why[:80]}\u201d)",
            "a restart after a stop with a recorded reason is the clinician's decision, not rule 7's"))
    toxicity = [c for c in r.eligibility.not_met if c.criterion_id == NO_TOXICITY]
    if toxicity:  # a restart over a recorded sirolimus toxicity is the clinician's call (review 2026-12-02)
        base = replace(base, findings=base.findings + (Finding(
            "restart-after-toxicity", "warning", "a sirolimus toxicity or adverse event is recorded: review it "
            "before any restart", toxicity[0].evidence),))
        missing.append(MissingData("a review of the recorded sirolimus toxicity",
                                   "review the AllergyIntolerance / AdverseEvent with the family before a restart"))
    if (r.today - signal.on).days > signal_max_age_days:
        missing.append(MissingData(f"a relapse sign from the last {signal_max_age_days} days",
                                   "repeat platelets and fibrinogen; review the KHE Condition"))
    if effective is None or effective.daily_mg <= 0:
        missing.append(MissingData("the dose given before the stop", "check the sirolimus order history"))
    elif effective.formulation is None:  # decision 0020: never guessed
        missing.append(product_missing(f"the dose given before the stop (from {effective.on.isoformat()})"))
    if missing or effective is None or r.weight is None or stop.completed is not True:
        return replace(base, missing=tuple(missing),
                       reasons=("no restart dose is proposed until the inputs are usable",))
    back = regimen(effective.mg_per_administration, effective.per_day, product_of(effective), r.protocol.measuring)
    dose, found = checked(proposal_of(back, None, r.weight.value, None, Rule.RESTART_AT_EFFECTIVE_DOSE, RULE_7),
                          r.weight.value, r.protocol)
    return replace(base, dose=dose, findings=base.findings + found)


def relapse_with_unreadable_history(r: Readings, record: PatientRecord, taper_start: date) -> Proposal | None:
    """A KHE child on or after the guided taper whose dose history cannot be read: the relapse signals are
    read all the same (they come from Observations and Conditions, not the orders), and no dose is proposed
    (the previously effective dose cannot be found). None: no signal (review 2026-12-02)."""
    rules = r.protocol.taper
    if rules is None or r.timeline is not None:
        return None
    found = relapse_signals(record, taper_start, rules.relapse, r.today)
    signals = tuple(s for s in found if s.kind in rules.relapse.return_triggers)
    warnings = tuple(s for s in found if s.kind in rules.relapse.warning_signals)
    if not signals and not warnings:
        return None
    return Proposal(phase=None, signals=signals, warnings=warnings,
                    findings=tuple(Finding("relapse-signal", "critical" if s in signals else "warning", s.message,
                                           (s.evidence,)) for s in (*signals, *warnings)),
                    reasons=("a relapse sign, but the dose history cannot be read: the previously effective dose "
                             "cannot be found",))


def off_sirolimus(r: Readings) -> Proposal:
    """No sirolimus order in force: stopped after a course, or never started (an unreadable history
    already says why)."""
    return Proposal(phase=Phase.STOPPED if r.changes else None,
                    reasons=("no sirolimus order is in force",) if r.timeline is not None else ())
