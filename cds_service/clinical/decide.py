"""Entry points of the clinical core: record + protocols + today (+ draft) -> Decision.

    decide_dosing(record, draft, protocols, today)   order-select / order-sign
    decide_monitoring(record, protocols, today)      patient-view

No dose is proposed from missing, stale, unit-less, implausible or unverifiable data: the Decision
says what is missing instead.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from .decision import LINEAR_RULES, Decision, DecisionKind, Finding, MissingData, MonitoringItem, MonitoringKind, Phase
from .pk.informed import model_view
from .protocols import KHE_GUIDED, KHE_MAINTENANCE, Protocols, load_protocols
from .reading.arms import assign_arm
from .reading.draft import DraftOrder, read_draft
from .reading.record import PatientRecord
from .rules.assess import Assessment, assess
from .rules.draft_check import DraftCheck, DraftFacts, check_draft
from .rules.findings import draft_findings
from .rules.relapse import RelapseSignal

__all__ = ["decide_dosing", "decide_monitoring", "load_protocols"]
TROUGH_DUE_SOON_DAYS = 7  # a trough due within a week is announced as "due" on patient-view
SIGNS_NAMED = 3  # relapse signs said in the monitoring line; each one is a finding on the decision page


def decide_dosing(record: PatientRecord, draft: dict[str, Any] | None, protocols: Protocols, today: date,
                  *, order: DraftOrder | None = None) -> Decision:
    """The dosing decision for a draft sirolimus order (order-select, order-sign). `order`: the draft as
    already read (the service layer reads it once, to know whether the call concerns sirolimus)."""
    order = order if order is not None else read_draft(draft)
    if order.kind == "not_sirolimus":
        return Decision(kind="not_sirolimus", patient_id=record.patient_id, decided_on=today,
                        notes=(f"the draft is not sirolimus ({order.medication or 'unnamed product'})",))
    arm = assign_arm(record, protocols, order.reason_valuesets)
    a = assess(record, arm, protocols, today, sirolimus_ordered=order.kind == "sirolimus")
    decision = a.decision
    missing = tuple(MissingData(f"draft order: {m}", "complete the order form") for m in order.missing)
    kind: DecisionKind = "dosing" if order.kind == "sirolimus" else "incomplete_draft"
    if a.protocol is None:
        return replace(decision, kind=kind, missing_data=decision.missing_data + missing)
    extra = draft_findings(order, a.protocol, decision.phase, a.timeline or (), a.current, a.last_change_on,
                           a.signals, decision.weight_kg, today)
    decided = replace(decision, kind=kind, draft_dose=order.regimen(), findings=decision.findings + extra,
                      missing_data=decision.missing_data + missing, draft_missing=order.missing,
                      draft_check=_check(order, a, extra),
                      draft_tablet_count_for_solution=order.tablet_count_for_solution,
                      draft_unknown_unit=order.unknown_unit)
    age_days = record.age_days(today)
    age_years = None if age_days is None else age_days / 365.25
    starts = [drug.start for drug in record.interacting_drugs if drug.start is not None]
    return replace(decided, model=model_view(decided, a.protocol, age_years, today,
                                             exposure_changed_on=max(starts, default=None)))


def _check(order: DraftOrder, a: Assessment, draft_findings: tuple[Finding, ...]) -> DraftCheck | None:
    """The draft compared with the protocol, when its daily dose can be read."""
    daily = order.daily_dose_mg
    if daily is None or a.protocol is None or order.kind != "sirolimus":
        return None
    d = a.decision
    trough = d.troughs_used[0] if d.troughs_used and d.troughs_used[0].usable else None
    current = a.current if a.current is not None and a.current.daily_mg > 0 else None
    facts = DraftFacts(
        daily_mg=daily, formulation=order.formulation,
        current_daily_mg=current.daily_mg if current else None,
        current_formulation=current.formulation if current else None,
        trough_ng_ml=trough.value_ng_ml if trough else None, weight_kg=d.weight_kg, phase=d.phase,
        proposed=d.proposed_dose, allowed=tuple(alt.dose for alt in d.alternatives if alt.dose is not None),
        draft_findings=draft_findings)
    return check_draft(facts, a.protocol)


def _signs_in_words(signs: tuple[RelapseSignal, ...]) -> str:
    """The signs' words, each said once (monthly counts of 90 repeat them), at most SIGNS_NAMED of them."""
    words = list(dict.fromkeys(s.message for s in signs))
    more = f"; {len(words) - SIGNS_NAMED} more on the decision page" if len(words) > SIGNS_NAMED else ""
    return "; ".join(words[:SIGNS_NAMED]) + more


def decide_monitoring(record: PatientRecord, protocols: Protocols, today: date) -> Decision:
    """What is due for this child (patient-view): trough due/overdue, taper step due, eligibility,
    possible relapse, or nothing due. One Decision; `monitoring` lists the items."""
    arm = assign_arm(record, protocols)
    a = assess(record, arm, protocols, today, sirolimus_ordered=False)
    d = replace(a.decision, kind="monitoring")
    items: list[MonitoringItem] = []
    if d.next_trough_due is not None and a.current is not None and a.current.daily_mg > 0:
        if d.trough_overdue_since is not None:
            items.append(MonitoringItem(MonitoringKind.TROUGH_OVERDUE, d.trough_overdue_since,
                                        f"sirolimus trough overdue since {d.trough_overdue_since.isoformat()}"))
        elif d.next_trough_due <= today + timedelta(days=TROUGH_DUE_SOON_DAYS):
            items.append(MonitoringItem(MonitoringKind.TROUGH_DUE, d.next_trough_due,
                                        f"sirolimus trough due on {d.next_trough_due.isoformat()}"))
    if d.phase is Phase.STOPPED:  # after a completed taper (0018): a return trigger's card, a warning alone
        if a.signals:             # is a finding card of its own
            latest = a.signals[-1]
            items.append(MonitoringItem(MonitoringKind.POSSIBLE_RELAPSE, latest.on, latest.message))
    elif a.signals or a.warnings:
        items.append(MonitoringItem(MonitoringKind.POSSIBLE_RELAPSE, today,
                                    f"possible relapse during taper: {_signs_in_words(a.signals + a.warnings)}"))
    if d.phase in {Phase.TAPERING, Phase.TAPERING_AFTER_RELAPSE, Phase.READY_TO_STOP} and d.next_step_due is not None \
            and d.next_step_due <= today and not a.signals:
        items.append(MonitoringItem(MonitoringKind.TAPER_STEP_DUE, d.next_step_due,
                                    "taper step due" if d.phase is not Phase.READY_TO_STOP else
                                    "the taper may stop: the stop rule and the minimum duration are met"))
    on_titration = d.phase in {Phase.MAINTENANCE, Phase.SEQUENTIAL} and a.current is not None \
        and a.current.daily_mg > 0
    if on_titration and d.proposed_dose is not None and d.proposed_dose.rule in LINEAR_RULES:
        level = d.troughs_used[0].value_ng_ml if d.troughs_used else None
        items.append(MonitoringItem(MonitoringKind.DOSE_CHANGE_DUE, today,
                                    f"trough {level:g} ng/mL is outside the target range: dose change proposed"))
    if a.current is not None and a.current.daily_mg > 0 and d.proposed_dose is None and d.weight_kg is None:
        items.append(MonitoringItem(MonitoringKind.DATA_MISSING, today,
                                    "no dose can be checked or proposed until the child is weighed"))
    taking_sirolimus = a.current is not None and a.current.daily_mg > 0  # off it, there is nothing to taper
    if a.protocol is not None and a.protocol.ref.protocol_id == KHE_MAINTENANCE and taking_sirolimus:
        guided = next((e for e in d.eligibility if e.protocol_id == KHE_GUIDED), None)
        if guided is not None and guided.answer != "not_met":
            note = "eligible" if guided.answer == "met" else f"possibly eligible ({len(guided.unknown)} unknown)"
            items.append(MonitoringItem(MonitoringKind.ELIGIBLE_FOR_DISCONTINUATION, today,
                                        f"{note} for guided discontinuation of sirolimus "
                                        f"({protocols[KHE_GUIDED].ref.registration})"))
    if not items:
        items.append(MonitoringItem(MonitoringKind.NOTHING_DUE, None, "nothing due"))
    return replace(d, monitoring=tuple(items))
