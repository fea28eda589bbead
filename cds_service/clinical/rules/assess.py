"""The assessment shared by both entry points: protocol and arm, eligibility, the record read once
(dose history, weight, trough), one proposal for the protocol and phase (proposals.py), findings,
missing data and the next trough."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from ..decision import (
    ArmAssignment,
    Decision,
    DosePoint,
    Eligibility,
    Finding,
    MissingData,
    ProposedDose,
    TroughUsed,
    Unusable,
)
from ..protocols import IHHE_SEQUENTIAL, KHE_GUIDED, Protocol, Protocols, fold
from ..reading.arms import guided_taper_start
from ..reading.facts import Measurement
from ..reading.observations import HISTORY_DAYS
from ..reading.record import PatientRecord
from ..reading.timeline import DoseEvent, dose_changes, dose_timeline, event_on
from .dosing import assess_trough, current_regimen, product_missing, weight_problems
from .eligibility import guided_discontinuation, ihhe_sequential
from .findings import interacting_drugs, same_day_levels, trough_findings
from .follow_up import NextTrough, TroughClock, next_trough_due, proposes_change
from .proposals import (
    Proposal,
    Readings,
    after_stop_proposal,
    ihhe_start_proposal,
    maintenance_preview,
    off_sirolimus,
    relapse_with_unreadable_history,
    taper_proposal,
    titration_proposal,
)
from .relapse import RelapseSignal

MAX_AGE_YEARS = 21  # both protocols are paediatric: an older "child" is a record error (not a rule)
LEVEL_ORDER = "order a whole-blood trough before the next dose (LOINC 29247-4)"


@dataclass(frozen=True, kw_only=True)
class Assessment:
    decision: Decision
    protocol: Protocol | None
    timeline: tuple[DoseEvent, ...] | None
    current: DoseEvent | None
    last_change_on: date | None
    signals: tuple[RelapseSignal, ...]
    warnings: tuple[RelapseSignal, ...]


@dataclass(frozen=True, kw_only=True)
class Gaps:
    """What reading the record found before any proposal: missing data, why no dose, findings."""

    missing: tuple[MissingData, ...] = ()
    reasons: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()

    def __add__(self, other: Gaps) -> Gaps:
        return Gaps(missing=self.missing + other.missing, reasons=self.reasons + other.reasons,
                    findings=self.findings + other.findings)


def assess(record: PatientRecord, arm: ArmAssignment | None, protocols: Protocols, today: date,
           *, sirolimus_ordered: bool) -> Assessment:
    if arm is None:
        no_arm = (MissingData("a KHE or IHHE diagnosis (Condition) or a CarePlan naming the protocol",
                              "record the diagnosis"),)
        return Assessment(decision=Decision(kind="dosing", patient_id=record.patient_id, decided_on=today,
                                            missing_data=no_arm,
                                            no_proposal_reasons=("the protocol cannot be known from the record",)),
                          protocol=None, timeline=None, current=None, last_change_on=None, signals=(),
                          warnings=())
    protocol = protocols[arm.protocol_id]
    eligibility, found = _eligibility(record, protocol, protocols, today, sirolimus_ordered=sirolimus_ordered)
    readings, gaps = _read(record, protocol, eligibility, today)
    readings, proposal = (_after_stop(readings, record, arm, protocols)
                          or _relapse_unreadable(readings, record, arm, protocols)
                          or (readings, _propose(readings, record, arm, protocols)))
    decision = _decision(record, arm, readings, Gaps(findings=found) + gaps, proposal,
                         starting=sirolimus_ordered or proposal.stop is not None)
    last_change_on = readings.changes[-1].changed_on if readings.changes else None
    return Assessment(decision=decision, protocol=readings.protocol, timeline=readings.timeline,
                      current=readings.current, last_change_on=last_change_on, signals=proposal.signals,
                      warnings=proposal.warnings)


def _eligibility(record: PatientRecord, protocol: Protocol, protocols: Protocols, today: date,
                 *, sirolimus_ordered: bool) -> tuple[Eligibility, tuple[Finding, ...]]:
    """IHHE: may sirolimus be sequenced after propranolol; KHE: may the guided discontinuation start
    (or go on). With the findings every card shows: interacting drugs, no propranolol on record."""
    found = interacting_drugs(record)
    if protocol.ref.protocol_id != IHHE_SEQUENTIAL:
        return guided_discontinuation(record, protocols[KHE_GUIDED], today), found
    if not record.propranolol:
        # "checks that propranolol was given before ... and says so plainly when it finds none"
        found += (Finding("no-propranolol-on-record", "warning",
                          "no propranolol order is on record: this protocol sequences sirolimus after "
                          "propranolol failed; confirm propranolol was given"),)
    return ihhe_sequential(record, protocol, today, sirolimus_ordered), found


def _read(record: PatientRecord, protocol: Protocol, eligibility: Eligibility, today: date
          ) -> tuple[Readings, Gaps]:
    """The dose history, the weight and the newest level, each with what makes it unusable."""
    gaps = Gaps(missing=tuple(MissingData(f"{u.resource} is unusable: {u.reason}", None) for u in record.unusable))
    timeline = dose_timeline(record.sirolimus_doses)
    if timeline is None:
        gaps += Gaps(missing=(MissingData("a readable dose on every sirolimus order", "correct the order's dose"),),
                     reasons=("the sirolimus dose history cannot be read",))
    current = event_on(timeline, today) if timeline else None
    changes = tuple(c for c in dose_changes(timeline or ()) if c.changed_on <= today)
    weight, weight_gaps = _weight(record, protocol, today)
    on_therapy = current is not None and current.daily_mg > 0
    if on_therapy and current is not None and current.formulation is None:  # decision 0020
        gaps += Gaps(missing=(product_missing("the sirolimus order in force"),),
                     reasons=("the product of the sirolimus order in force (oral solution or tablets) is unknown: "
                              "tablets and the solution are not bioequivalent, so no dose is computed",))
    trough, trough_gaps = _trough(record, protocol, changes[-1].changed_on if changes else None, today,
                                  on_therapy=on_therapy)
    gaps += weight_gaps + trough_gaps + Gaps(findings=trough_findings(trough, protocol.trough.plausible_max_ng_ml)
                                             + same_day_levels(record.troughs))
    return Readings(protocol=protocol, today=today, timeline=timeline, current=current, changes=changes,
                    weight=weight, trough=trough, eligibility=eligibility), gaps


def _weight(record: PatientRecord, protocol: Protocol, today: date) -> tuple[Measurement | None, Gaps]:
    """A recent, plausible weight of a plausible patient (decision 0013: an implausible one is missing)."""
    weight = record.latest_weight(today, protocol.sanity.weight_max_age_days)
    problems = (weight_problems(record.weights_kg, today, protocol.sanity, record.age_days(weight.on))
                if weight is not None else ())
    if problems:
        return None, Gaps(reasons=problems, missing=(MissingData(
            "a confirmed body weight", "check the weight and its unit; mark a wrong one entered-in-error"),))
    if not _plausible_patient(record, today):
        return None, Gaps(
            reasons=("the patient record is not plausible for dosing (date of birth in the future or over "
                     f"{MAX_AGE_YEARS} years ago, or recorded as deceased)",),
            missing=(MissingData("a plausible date of birth (and a living patient)", "correct the Patient record"),))
    if weight is None:
        return None, Gaps(
            missing=(MissingData(f"a body weight within {protocol.sanity.weight_max_age_days} days",
                                 "weigh the child (LOINC 29463-7)"),),
            reasons=("no recent weight, so the dose cannot be checked in mg/kg/day",))
    return weight, Gaps()


def _plausible_patient(record: PatientRecord, today: date) -> bool:
    age = record.age_years(today)
    return not record.deceased and age is not None and 0 <= age <= MAX_AGE_YEARS \
        and record.birth_date is not None and record.birth_date <= today


def _trough(record: PatientRecord, protocol: Protocol, last_change_on: date | None, today: date,
            *, on_therapy: bool) -> tuple[TroughUsed | None, Gaps]:
    """The newest level, assessed; one drawn before an interacting drug started is not used."""
    newest = record.troughs[0] if record.troughs else None
    if newest is None:  # before a first dose no level can exist yet: nothing is missing
        missing = MissingData("a sirolimus trough level", "order a whole-blood trough (LOINC 29247-4)")
        return None, Gaps(missing=(missing,) if on_therapy else ())
    trough = assess_trough(newest, last_change_on, protocol.trough, today)
    if not trough.usable:  # off sirolimus no level can be at steady state: none is missing (as above)
        missing = MissingData("a usable sirolimus trough at steady state", LEVEL_ORDER)
        return trough, Gaps(reasons=("the latest level cannot be used: " + "; ".join(trough.reasons_unusable),),
                            missing=(missing,) if on_therapy else ())
    started_since = [d for d in record.interacting_drugs if d.start is not None and d.start > trough.drawn_on]
    if not started_since:
        return trough, Gaps()
    # CYP3A4/P-gp inhibitors and inducers move the level: one drawn before the drug started no
    # longer describes the exposure, so no dose is computed from it.
    why = "; ".join(f"drawn before {d.name} started on {d.start.isoformat()}" for d in started_since
                    if d.start is not None)
    trough = replace(trough, usable=False, reasons_unusable=trough.reasons_unusable + (why,),
                     unusable_kinds=trough.unusable_kinds + (Unusable.DRUG_STARTED_SINCE,))
    return trough, Gaps(reasons=("the latest level cannot be used: " + why,), missing=(
        MissingData("a sirolimus trough drawn since the interacting drug started", LEVEL_ORDER),))


def _after_stop(r: Readings, record: PatientRecord, arm: ArmAssignment, protocols: Protocols
                ) -> tuple[Readings, Proposal] | None:
    """A KHE child off sirolimus after a guided taper with a relapse sign since the stop (decision
    0018): read under the taper's protocol, whichever arm the record now assumes."""
    start = None if r.on_therapy else guided_taper_start(record, arm, protocols)
    if start is None:
        return None
    guided = replace(r, protocol=protocols[KHE_GUIDED])
    proposal = after_stop_proposal(guided, record, start)
    return None if proposal is None else (guided, proposal)


def _relapse_unreadable(r: Readings, record: PatientRecord, arm: ArmAssignment, protocols: Protocols
                        ) -> tuple[Readings, Proposal] | None:
    """A KHE child on or after a guided taper whose dose history cannot be read: a relapse sign is still
    said, with no dose (review 2026-12-02)."""
    start = None if r.timeline is not None else guided_taper_start(record, arm, protocols)
    if start is None:
        return None
    guided = replace(r, protocol=protocols[KHE_GUIDED])
    proposal = relapse_with_unreadable_history(guided, record, start)
    return None if proposal is None else (guided, proposal)


def _propose(r: Readings, record: PatientRecord, arm: ArmAssignment, protocols: Protocols) -> Proposal:
    """The one proposal for this protocol and phase."""
    protocol_id = r.protocol.ref.protocol_id
    if protocol_id == KHE_GUIDED and r.protocol.taper is not None and r.timeline is not None:
        return taper_proposal(r, record, arm)
    if r.on_therapy:
        return replace(titration_proposal(r), schedule=maintenance_preview(r, protocols[KHE_GUIDED]))
    if protocol_id == IHHE_SEQUENTIAL and r.timeline is not None:
        return ihhe_start_proposal(r)
    return off_sirolimus(r)


def _decision(record: PatientRecord, arm: ArmAssignment, r: Readings, gaps: Gaps, proposal: Proposal,
              *, starting: bool) -> Decision:
    findings = gaps.findings + proposal.findings
    reasons = gaps.reasons + proposal.reasons
    largest = r.protocol.titration_max_fold_change
    if largest is not None and any(f.code == "change-needs-confirmation" for f in findings):
        reasons += (f"one level asks for more than a {fold(largest)} change: repeat the trough to confirm it",)
    if any(f.severity == "critical" and f.code == "proposal-above-limit" for f in findings):
        reasons += ("the computed dose is beyond the sanity limits",)
    next_trough = _next_trough(r, proposal, starting=starting)
    return Decision(
        kind="dosing", patient_id=record.patient_id, decided_on=r.today, protocol=r.protocol.ref, arm=arm,
        phase=proposal.phase, eligibility=(r.eligibility,), troughs_used=(r.trough,) if r.trough is not None else (),
        last_dose_change=r.changes[-1] if r.changes else None,
        current_dose=(current_regimen(r.current, r.protocol.measuring)
                      if r.current and r.on_therapy and r.current.formulation is not None else None),
        proposed_dose=proposal.dose,
        no_proposal_reasons=() if proposal.dose is not None else tuple(dict.fromkeys(reasons)),
        alternatives=proposal.alternatives,
        next_trough_due=next_trough.draw_on if next_trough else None,
        trough_overdue_since=next_trough.overdue_since if next_trough else None,
        next_step_due=proposal.next_step_due, taper_paused_by=proposal.paused_by, findings=findings,
        taper_to_confirm=proposal.to_confirm, taper_stop=proposal.stop,
        missing_data=gaps.missing + proposal.missing, schedule=proposal.schedule,
        weight_kg=r.weight.value if r.weight else None,
        notes=(arm.note,),
        dose_history=_dose_history(r.timeline or (), r.today),
        trough_history=_trough_history(record, r.today),
    )


def _next_trough(r: Readings, proposal: Proposal, *, starting: bool) -> NextTrough | None:
    """The inputs of follow_up.next_trough_due, read from this assessment. None: the child is not on
    sirolimus and no start is being ordered (a first trough is due only after a first dose)."""
    proposed: ProposedDose | None = proposal.dose
    if not r.on_therapy and (proposed is None or not starting):
        return None
    changing = proposed is not None and (r.current is None or not r.on_therapy
                                         or proposes_change(proposed, r.current))
    trough = r.trough
    stale_only = trough is not None and all(k is Unusable.TOO_OLD for k in trough.unusable_kinds)
    clock = TroughClock(today=r.today, last_change_on=r.changes[-1].changed_on if r.changes else None,
                        change_proposed=changing, level_drawn_on=trough.drawn_on if trough else None,
                        level_usable=trough is not None and trough.usable, level_only_stale=stale_only,
                        next_change_on=proposal.next_change_on)
    return next_trough_due(clock, follow_up_days=r.protocol.trough.follow_up_days,
                           monitoring_interval_days=r.protocol.trough.monitoring_interval_days)


def _dose_history(timeline: tuple[DoseEvent, ...], today: date) -> tuple[DosePoint, ...]:
    start = today - timedelta(days=HISTORY_DAYS)
    points = [DosePoint(e.on, e.daily_mg, e.per_day, e.formulation) for e in timeline if start < e.on <= today]
    before = event_on(timeline, start)
    if before is not None:
        points.insert(0, DosePoint(start, before.daily_mg, before.per_day, before.formulation))
    return tuple(points)


def _trough_history(record: PatientRecord, today: date) -> tuple[TroughUsed, ...]:
    """Past levels as measured: "usable" here means only that the value has a known unit."""
    return tuple(
        TroughUsed(value_ng_ml=t.value_ng_ml, original_value=t.original_value, original_unit=t.original_unit,
                   drawn_on=t.drawn_on, observation_id=t.resource, usable=t.value_ng_ml is not None,
                   reasons_unusable=() if t.value_ng_ml is not None else ("no known unit",), method=t.method,
                   unusable_kinds=() if t.value_ng_ml is not None else (Unusable.UNKNOWN_UNIT,))
        for t in record.troughs if today - timedelta(days=HISTORY_DAYS) <= t.drawn_on <= today
    )
