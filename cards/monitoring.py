"""sirolimus-monitoring (patient-view): one card per item that is due, none when nothing is.

trough due (info) or overdue (warning) -> order the trough; taper step due -> a new draft order at
the Decision's dose; eligible for guided discontinuation -> start the taper or record maintenance
(CarePlans); possible relapse (critical) -> back to the previously effective dose, CarePlan noted.
Warning and critical findings that no item covers get a card of their own.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from cards import detail, resources
from cards.common import Action, Card, CardKind, Suggestion, card, suggestion
from cards.dosing import finding_title, paused_summary
from cards.wording import (
    dose_short,
    dose_text,
    fit,
    not_bioequivalent_sentence,
    number,
    percent,
    protocol_short,
    when,
)
from cds_service.clinical.decision import (
    AS_SOLUTION,
    Decision,
    Eligibility,
    MonitoringItem,
    MonitoringKind,
    Phase,
    ProposedDose,
    ProtocolRef,
    Severity,
)
from cds_service.clinical.protocols import (
    KHE_GUIDED,
    KHE_MAINTENANCE,
    Protocol,
    load_protocols,
    period,
    share,
)

RELAPSE_CARD_FINDINGS = {"relapse-signal", "restart-after-toxicity"}  # shown on the relapse card itself


def monitoring_cards(decision: Decision, *, decision_url: str, today: date) -> list[dict[str, Any]]:
    builders = {
        MonitoringKind.TROUGH_DUE: _trough_card,
        MonitoringKind.TROUGH_OVERDUE: _trough_card,
        MonitoringKind.TAPER_STEP_DUE: _step_card,
        MonitoringKind.ELIGIBLE_FOR_DISCONTINUATION: _eligible_card,
        MonitoringKind.POSSIBLE_RELAPSE: _relapse_card,
        MonitoringKind.DOSE_CHANGE_DUE: _dose_change_card,
        MonitoringKind.DATA_MISSING: _data_missing_card,
    }
    items = [m for m in decision.monitoring if m.kind != MonitoringKind.NOTHING_DUE]
    out = [builders[MonitoringKind(item.kind)](decision, item, decision_url, today) for item in items]
    relapse_shown = any(m.kind == MonitoringKind.POSSIBLE_RELAPSE for m in items)
    for finding in decision.findings:
        if finding.severity == "info" or (relapse_shown and finding.code in RELAPSE_CARD_FINDINGS):
            continue
        out.append(
            card(
                kind=CardKind.FINDING,
                summary=fit(finding_title(finding, decision.protocol)),
                indicator=finding.severity,
                detail=detail.join(detail.findings([finding]), detail.protocol_lines(decision)),
                protocol=decision.protocol,
                decision_url=decision_url,
            )
        )
    return [c.to_json() for c in out]


def _trough_card(decision: Decision, item: MonitoringItem, url: str, today: date) -> Card:
    overdue = item.kind == MonitoringKind.TROUGH_OVERDUE
    name = protocol_short(decision.protocol.protocol_id if decision.protocol else None)
    due = item.due_on or today
    order_on = max(due, today)
    summary = (
        fit(f"{name}: sirolimus trough overdue since {when(due)}; order one now")
        if overdue
        else fit(f"{name}: sirolimus trough due {when(due)}; draw before the morning dose")
    )
    return _item_card(
        decision, item, url,
        summary=summary,
        indicator="warning" if overdue else "info",
        sections=[[detail.md_text(item.message)]],
        suggestions=[
            suggestion(f"Order a sirolimus trough for {when(order_on)}", _trough(decision, order_on), recommended=True)
        ],
    )


def _step_card(decision: Decision, item: MonitoringItem, url: str, today: date) -> Card:
    name = protocol_short(decision.protocol.protocol_id if decision.protocol else None)
    proposed = decision.proposed_dose
    due = when(item.due_on or decision.next_step_due)
    suggestions = []
    if proposed is None and decision.taper_paused_by:
        summary = paused_summary(decision, name)
    elif proposed is None:
        summary = fit(f"{name} step due {due}: review the dose (no dose proposed, see detail)")
    else:
        change = f", {percent(proposed.percent_change)}" if proposed.percent_change is not None else ""
        summary = fit(f"{name} step due {due}: {dose_short(proposed.regimen)}{change}", f"{name} step due {due}")
        confirming = detail.confirming(decision)  # a protecting criterion unknown during the taper (0019)
        suggestions.append(
            suggestion(
                f"Order {dose_short(proposed.regimen)}{change}{confirming}",
                [_new_order(decision, proposed, today, f"Taper step due {due}{confirming}")] + _trough(decision),
                recommended=True,
            )
        )
    return _item_card(
        decision, item, url,
        summary=summary,
        indicator="info",
        sections=[
            [detail.md_text(item.message)],
            detail.proposal(proposed) if proposed else [f"- {detail.md_text(r)}" for r in decision.no_proposal_reasons],
            detail.to_confirm(decision),
        ],
        suggestions=suggestions,
    )


def _dose_change_card(decision: Decision, item: MonitoringItem, url: str, today: date) -> Card:
    """Maintenance / sequential: the usable trough is out of range and the core proposed a new dose."""
    name = protocol_short(decision.protocol.protocol_id if decision.protocol else None)
    proposed = decision.proposed_dose
    level = decision.troughs_used[0] if decision.troughs_used else None
    seen = f"trough {detail.trough_value(level)} on {when(level.drawn_on)}" if level else "trough out of range"
    if proposed is None:  # the core raises this item with a proposal; without one the card offers no dose
        return _item_card(decision, item, url, summary=fit(f"{name}: {seen} out of range; no dose proposed"),
                          indicator="warning", sections=[[detail.md_text(item.message)]], suggestions=[])
    change = f", {percent(proposed.percent_change)}" if proposed.percent_change is not None else ""
    switch = " as oral solution" if proposed.rule in AS_SOLUTION.values() else ""
    summary = fit(f"{name}: {seen} out of range; change to {dose_short(proposed.regimen)}{switch}{change}",
                  f"{name}: trough out of range; change to {dose_short(proposed.regimen)}{change}")
    lines = [detail.md_text(item.message)]
    if switch:
        lines.append(f"Whole tablets cannot make this change (tablets are never split). {not_bioequivalent_sentence()}")
    return _item_card(
        decision, item, url,
        summary=summary,
        indicator="info",
        sections=[lines, detail.proposal(proposed)],
        suggestions=[
            suggestion(
                f"Order {dose_short(proposed.regimen)}{switch}{change}",
                [_new_order(decision, proposed, today, "level-guided change towards the target range")]
                + _trough(decision),
                recommended=True,
            )
        ],
    )


def _data_missing_card(decision: Decision, item: MonitoringItem, url: str, today: date) -> Card:
    name = protocol_short(decision.protocol.protocol_id if decision.protocol else None)
    whats = ", ".join(m.what for m in decision.missing_data) or "data"
    return card(
        kind=CardKind(item.kind),
        summary=fit(f"{name}: sirolimus dose cannot be checked: missing {whats}",
                    f"{name}: sirolimus dose cannot be checked: data missing, see detail"),
        indicator="info",
        detail=detail.join([detail.md_text(item.message)], detail.missing(decision.missing_data),
                           detail.protocol_lines(decision)),
        protocol=decision.protocol,
        decision_url=url,
    )


def _eligible_card(decision: Decision, item: MonitoringItem, url: str, today: date) -> Card:
    result = _taper_eligibility(decision)
    answer = result.answer if result else "unknown"
    to_confirm = result.to_confirm if result else ()
    suggestions = []
    if answer == "met" or to_confirm:
        if answer == "met":
            remission = period(load_protocols()[KHE_GUIDED].eligibility["min_remission_days"])
            summary = fit(f"Eligible for guided sirolimus discontinuation: KHE in remission ≥ {remission}, "
                          "all criteria met")
            confirming = ""
        else:
            summary = fit(f"Eligible for guided sirolimus discontinuation if you confirm {len(to_confirm)} "
                          "item(s) the record does not show")
            confirming = "; prescriber confirmed: " + ", ".join(c.text for c in to_confirm)
        taper, maintenance = load_protocols()[KHE_GUIDED], load_protocols()[KHE_MAINTENANCE]
        step = share(taper.taper.max_reduction_fraction) if taper.taper else "small"
        start = f"Start the guided discontinuation ({step} steps, at most monthly) from {when(today)}"
        suggestions = [
            suggestion(
                start if answer == "met" else f"{start}, confirming the {len(to_confirm)} item(s) listed",
                [_careplan_action(decision, taper.ref, today,
                                  "Start the guided discontinuation of sirolimus" + confirming)],
            ),
            suggestion(
                f"Record the choice to continue maintenance (trough {_band(maintenance)})",
                [_careplan_action(decision, maintenance.ref, today,
                                  "Record the choice to continue sirolimus maintenance")],
            ),
        ]
    else:
        count = len(result.unknown) if result else 0
        summary = fit(f"May be eligible for guided sirolimus discontinuation: {count} criteria unknown, settle first")
    lines = [detail.md_text(item.message)]
    if decision.schedule:
        first, last = decision.schedule[0], decision.schedule[-1]
        ml = f" ({number(first.ml_per_administration)} mL)" if first.ml_per_administration is not None else ""
        lines.append(
            f"**If the taper starts {when(today)}:** first reduction to {number(first.mg_per_administration)} mg{ml} "
            f"per dose ({number(first.daily_dose_mg)} mg/day) on {when(first.due_on)}, trough on "
            f"{when(first.trough_due_on)}; {len(decision.schedule)} monthly steps projected to {when(last.due_on)} "
            "(the decision page shows them)."
        )
    if to_confirm:
        # one line, not a list: the card stays short (issue #10); the criteria table is on the decision page
        lines.append("**To confirm before starting** (not in the record; starting the taper records your "
                     "confirmation): " + "; ".join(detail.md_text(c.text) for c in to_confirm) + ".")
    return _item_card(
        decision, item, url,
        summary=summary,
        indicator="info",
        sections=[lines, detail.eligibility([result] if result else decision.eligibility)],
        suggestions=suggestions,
        troughs=False,
    )


def _relapse_card(decision: Decision, item: MonitoringItem, url: str, today: date) -> Card:
    if decision.phase is Phase.STOPPED:
        return _relapse_after_stop_card(decision, item, url, today)
    proposed = decision.proposed_dose
    suggestions = []
    if proposed is None:
        summary = fit("Possible KHE relapse during the taper: assess now; return to the previously effective dose")
    else:
        dose = dose_short(proposed.regimen)
        summary = fit(f"Possible KHE relapse during the taper: return to {dose}", "Possible KHE relapse: see detail")
        rules = load_protocols()[KHE_GUIDED].taper
        after = (f" After {period(rules.stabilisation_days)}' stabilisation, reductions of at most "
                 f"{share(rules.after_relapse_max_reduction_fraction)} a month may be considered (rule 8)."
                 if rules else "")
        note = (
            f"{when(today)}: possible relapse ({item.message}). Returned to the previously effective dose, "
            f"{dose_text(proposed.regimen)} (taper rule 7).{after}"
        )
        actions = [_new_order(decision, proposed, today, "Return to the previously effective dose (taper rule 7)")]
        arm = decision.arm
        if arm is not None and arm.careplan_id:
            taper = load_protocols()[KHE_GUIDED].ref
            plan = resources.careplan(
                patient_id=decision.patient_id,
                canonical=_canonical(taper),
                title=taper.title,
                description=(
                    "Guided discontinuation of sirolimus; returned to the previously effective dose "
                    "after a possible relapse."
                ),
                start=arm.taper_started_on or today,
                careplan_id=arm.careplan_id,
                note=note,
            )
            actions.append(
                Action(type="update", description=f"Note the return to {dose} on the taper CarePlan.", resource=plan)
            )
        suggestions.append(
            suggestion(f"Return to {dose} (previously effective dose)", actions + _trough(decision), recommended=True)
        )
    return _item_card(
        decision, item, url,
        summary=summary,
        indicator="critical",
        sections=[
            [f"**{detail.md_text(item.message)}**"],
            detail.findings(decision.findings),
            detail.proposal(proposed, label="Previously effective dose") if proposed else [],
            [] if proposed else detail.missing(decision.missing_data),  # what keeps the dose from being found
        ],
        suggestions=suggestions,
    )


def _relapse_after_stop_card(decision: Decision, item: MonitoringItem, url: str, today: date) -> Card:
    """Relapse after a completed taper (decision 0018): the sign and its date, and rule 7's return as a
    restart at the previously effective dose only when every input is usable; else what is missing."""
    proposed = decision.proposed_dose
    stopped = decision.last_dose_change.changed_on if decision.last_dose_change else None
    head = f"KHE relapse after sirolimus stopped: {item.message} on {when(item.due_on)}"
    suggestions = []
    if proposed is None:
        missing = ", ".join(m.what for m in decision.missing_data) or "see detail"
        summary = fit(f"{head}; no dose: missing {missing}",
                      f"KHE relapse after sirolimus stopped ({when(item.due_on)}): no dose, missing {missing}",
                      f"KHE relapse after sirolimus stopped ({when(item.due_on)}): no dose, data missing (see detail)")
    else:
        dose = dose_short(proposed.regimen)
        summary = fit(f"{head}; restart {dose}", f"KHE relapse after sirolimus stopped ({when(item.due_on)}): "
                      f"restart {dose}")
        actions = [_new_order(decision, proposed, today, "Restart at the previously effective dose (taper rule 7)")]
        suggestions.append(suggestion(f"Restart {dose} (previously effective dose)", actions + _trough(decision),
                                      recommended=False))
    return card(
        kind=CardKind(item.kind),
        summary=summary,
        indicator="warning",
        detail=detail.join(
            [f"**Relapse sign after sirolimus was stopped** (stopped {when(stopped)}): "
             f"{detail.md_text(item.message)}, {when(item.due_on)}. Restarting is the clinician's decision."],
            _stopped_early(decision),
            detail.findings(decision.findings),
            detail.proposal(proposed, label="Previously effective dose") if proposed else [],
            detail.missing(decision.missing_data),
            [f"- Next trough: {when(decision.next_trough_due)}"] if proposed and decision.next_trough_due else [],
            detail.protocol_lines(decision),
        ),
        protocol=decision.protocol,
        decision_url=url,
        suggestions=suggestions,
    )


def _stopped_early(decision: Decision) -> list[str]:
    """A stop before the taper's end is not a completed guided discontinuation (decision 0021)."""
    stop = decision.taper_stop
    if stop is None or stop.completed is not False:
        return []
    rules = load_protocols()[KHE_GUIDED].taper
    least = f"at least {period(rules.min_taper_days)} and " if rules else ""
    began = when(stop.taper_started_on)
    return [f"Sirolimus was stopped on day {stop.taper_days} of the guided taper (began {began}), "
            f"before its end ({least}the stop rule's last step): not a completed guided discontinuation, so no "
            "restart dose is proposed."]


def _item_card(decision: Decision, item: MonitoringItem, url: str, *, summary: str, indicator: Severity,
               sections: list[list[str]], suggestions: list[Suggestion], troughs: bool = True) -> Card:
    """An item's card: its own sections, then the troughs used (unless `troughs` is False), the projected
    schedule and the protocol, in that order on every monitoring card."""
    return card(
        kind=CardKind(item.kind),
        summary=summary,
        indicator=indicator,
        detail=detail.join(
            *sections,
            detail.troughs(decision.troughs_used) if troughs else [],
            detail.schedule_lines(decision),
            detail.protocol_lines(decision),
        ),
        protocol=decision.protocol,
        decision_url=url,
        suggestions=suggestions,
    )


def _trough(decision: Decision, on: date | None = None) -> list[Action]:
    due = on or (max(decision.next_trough_due, decision.decided_on) if decision.next_trough_due else None)
    if due is None:
        return []
    return [resources.trough_action(decision.patient_id, due)]


def _new_order(decision: Decision, proposed: ProposedDose, today: date, why: str) -> Action:
    return Action(type="create", description=f"New sirolimus order: {dose_text(proposed.regimen)} ({why}).",
                  resource=resources.new_medication_request(proposed.regimen, patient_id=decision.patient_id,
                                                            today=today, note=why))


def _taper_eligibility(decision: Decision) -> Eligibility | None:
    for result in decision.eligibility:
        if result.protocol_id == KHE_GUIDED:
            return result
    return decision.eligibility[0] if decision.eligibility else None


def _canonical(protocol: ProtocolRef) -> str:
    return f"{protocol.plan_definition_url}|{protocol.version}"


def _band(protocol: Protocol) -> str:
    if protocol.target_low_ng_ml is None or protocol.target_high_ng_ml is None:
        return "no target range"
    return f"{protocol.target_low_ng_ml:g}–{protocol.target_high_ng_ml:g} ng/mL"


def _careplan_action(decision: Decision, protocol: ProtocolRef, today: date, description: str) -> Action:
    plan = resources.careplan(
        patient_id=decision.patient_id,
        canonical=_canonical(protocol),
        title=protocol.title,
        description=f"{description} ({protocol.registration}).",
        start=today,
    )
    return Action(type="create", description=f"{description}: CarePlan from {when(today)}.", resource=plan)
