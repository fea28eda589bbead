"""sirolimus-order-select / sirolimus-order-sign: one card per call.

- a dose proposed: the dose card, its indicator raised by the worst finding, suggestions at-most-one
  (the recommended dose, the protocol's alternatives, the trough alone);
- no dose proposed: one card saying why (findings, missing data, the core's reasons); the only
  suggestion it may carry is the trough order, never a dose;
- the draft is not complete yet: an info card saying what to fill in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from cards import detail, resources
from cards import draft as draft_words
from cards.common import (
    Action,
    Card,
    CardKind,
    Suggestion,
    card,
    largest_change,
    smaller_step,
    stabilisation,
    suggestion,
    worst,
)
from cards.model import lines as model_lines
from cards.wording import (
    daily,
    dose_ml_first,
    dose_short,
    dose_text,
    fit,
    not_bioequivalent_sentence,
    number,
    percent,
    protocol_short,
    rule_words,
    when,
)
from cds_service.clinical.decision import (
    SMALLER_STEP_RULES,
    Alternative,
    Decision,
    DoseRegimen,
    Finding,
    Phase,
    ProposedDose,
    ProtocolRef,
    Severity,
)
from cds_service.clinical.rules.draft_check import DraftVerdict

FINDING_TITLES = {  # short titles for the core's finding codes, used when its message is too long to lead
    "reduction-exceeds-cap": "Draft cuts the dose more than the taper allows",
    "increase-during-taper": "Draft raises the dose during the taper",
    "change-too-soon": "Draft changes the dose too soon after the last change",
    "trough-too-soon": "Trough drawn before steady state",
    "mg-ml-tenfold": "Draft mg and mL disagree about 10-fold",
    "trough-implausible": "Implausible trough level",
    "trough-implausible-high": "Implausibly high trough level",
    "trough-unit-unknown": "Trough level without a unit",
    "dose-above-limit": "Draft dose outside the sanity limits",
    "proposal-above-limit": "Computed dose beyond the sanity limit",
    "interacting-drug": "Interacting drug on the record",
    "relapse-signal": "Possible relapse signal",
    "change-needs-confirmation": "One level would change the dose {largest_change}",
    "trough-censored": "Level outside the assay's range",
    "no-propranolol-on-record": "No propranolol on record before sirolimus",
    "reduction-during-stabilisation": "Draft reduces during the {stabilisation} stabilisation",
}
# Draft findings whose correction is a different dose (the core's codes, clinical/rules/findings.py).
DRAFT_BREAKS_PROTOCOL = {"reduction-exceeds-cap", "change-too-soon", "increase-during-taper",
                         "reduction-during-stabilisation"}
TABLETS_CANNOT_STEP = "Tablets are never split, so they cannot make this step."
SWITCH_LABEL = "Switch to oral solution"


def dosing_cards(decision: Decision, *, draft: dict[str, Any] | None, decision_url: str, today: date) -> list[dict]:
    if decision.proposed_dose is None:
        return [_no_dose_card(decision, draft, decision_url).to_json()]
    return [_dose_card(decision, decision.proposed_dose, draft, decision_url).to_json()]


def incomplete_draft_card(decision: Decision, *, decision_url: str) -> dict[str, Any]:
    """The draft lacks what a dose needs (the sandbox's first draft holds only status and subject)."""
    whats = [m.what for m in decision.missing_data] or list(decision.no_proposal_reasons)
    listed = ", ".join(whats)
    summary = fit(
        f"Sirolimus order incomplete: add {listed}; dose advice follows",
        f"Sirolimus order incomplete: add {listed}",
        "Sirolimus order incomplete: dose advice follows once medication, dose and frequency are filled in",
    )
    body = detail.missing(decision.missing_data) or [f"- {detail.md_text(r)}" for r in decision.no_proposal_reasons]
    return card(
        kind=CardKind.INCOMPLETE_DRAFT,
        summary=summary,
        indicator="info",
        detail=detail.join(body, ["This card is replaced by dose advice as soon as the order is complete."]),
        protocol=decision.protocol,
        decision_url=decision_url,
    ).to_json()


def finding_title(finding: Finding, protocol: ProtocolRef | None, *, room: int = 80) -> str:
    """The core's own message when it is short enough to lead a summary (it names the drug, the level);
    else a short title for the known codes, with the numbers of the decision's protocol; else the message,
    to be cut by `fit`."""
    message = finding.message.strip().rstrip(".")
    message = message[:1].upper() + message[1:]
    if len(message) <= room or finding.code not in FINDING_TITLES:
        return message
    return FINDING_TITLES[finding.code].format(stabilisation=stabilisation(), largest_change=largest_change(protocol))


def _dose_card(decision: Decision, proposed: ProposedDose, draft: dict[str, Any] | None, url: str) -> Card:
    serious = [f for f in decision.findings if f.severity != "info"]
    indicator = _indicator(decision)
    matches = decision.draft_dose is not None and _same_regimen(decision.draft_dose, proposed.regimen)
    switch = _alternative(decision, "solution_equivalent")
    return card(
        kind=CardKind.DOSE,
        summary=_dose_summary(decision, proposed, serious, matches),
        indicator=indicator,
        detail=detail.join(
            _draft_lines(decision),
            detail.findings(decision.findings),
            detail.missing(decision.missing_data),
            detail.proposal(proposed, label="Protocol dose"),
            detail.to_confirm(decision),
            model_lines(decision),
            [f"**Weight used:** {number(decision.weight_kg, 2)} kg."]
            if proposed.percent_change is None and decision.weight_kg is not None else [],
            _formulation_lines(decision, proposed, switch),
            detail.troughs(decision.troughs_used),
            _next_trough(decision),
        ),
        protocol=decision.protocol,
        decision_url=url,
        suggestions=_dose_suggestions(decision, proposed, draft, matches),
    )


def _dose_summary(decision: Decision, proposed: ProposedDose, serious: list[Finding], matches: bool) -> str:
    name = protocol_short(decision.protocol.protocol_id if decision.protocol else None)
    step = proposed.rule in SMALLER_STEP_RULES
    why = f"{name} {smaller_step(decision.protocol) if step else rule_words(proposed.rule)}"
    dose = dose_short(proposed.regimen)
    if proposed.percent_change is not None and abs(proposed.percent_change) >= 0.05:
        change = percent(proposed.percent_change)
    elif proposed.percent_change is None and proposed.dose_mg_per_kg_day is not None:  # a start: per kg
        change = f"{number(proposed.dose_mg_per_kg_day)} mg/kg/day"
    else:
        change = ""
    tail = f", {change}" if change else ""
    trough = f"; trough {when(_trough_day(decision))}" if decision.next_trough_due else ""
    if decision.draft_tablet_count_for_solution and proposed.regimen.formulation == "solution":
        # The form holds the solution with the old tablet count: say what to enter, in mL and mg.
        strength = number(proposed.regimen.strength_mg)
        return fit(f"The product is the {strength} mg/mL solution: enter {dose_ml_first(proposed.regimen)}, "
                   f"not a tablet count{tail}")
    if decision.draft_unknown_unit and not serious:
        # A dose typed in another unit (nmol/L, a trough's): the amount is there, its unit is wrong.
        unit = decision.draft_unknown_unit
        return fit(f"Dose unit {unit} is not a dose unit: enter mg or mL. {why}: {dose}{tail}",
                   f"Dose unit {unit} is wrong: enter mg or mL; {name} proposes {dose}{tail}",
                   f"Dose unit {unit[:20]} is wrong; {name} proposes {dose}")
    check = decision.draft_check
    if check is not None and check.verdict is DraftVerdict.DEPARTS and check.departures \
            and not any(f.severity == "critical" for f in serious):
        return fit(draft_words.summary(check, dose_short(proposed.regimen)), draft_words.summary(check, None))
    switch = _alternative(decision, "solution_equivalent")
    if switch is not None and switch.dose is not None and not serious:
        step = percent(switch.dose.percent_change) if switch.dose.percent_change is not None else "this"
        return fit(
            f"{name}: tablets cannot make the {step} step; oral solution {dose_short(switch.dose.regimen)}",
            f"{name}: tablets cannot step; oral solution {dose_short(switch.dose.regimen)}",
        )
    draft = decision.draft_dose
    if _no_dose_yet(decision) and not serious:
        # A sirolimus order with no dose yet (the sandbox's picker before a dose is typed): say so first.
        return fit(f"Sirolimus order has no dose yet. {why}: {dose}{tail}",
                   f"No dose entered yet; {name} proposes {dose}{tail}")
    if decision.draft_missing and decision.draft_check is not None and draft is None and not serious:
        # A dose in mg, by ingredient only: the product is what is missing (decisions 0020, 0024).
        drafted = f"Draft {number(decision.draft_check.draft_daily_mg)} mg/day names no product"
        return fit(f"{drafted} (solution or tablets). {why}: {dose}{tail}",
                   f"{drafted}; {name} proposes {dose}{tail}")
    if draft is not None and draft.formulation != proposed.regimen.formulation:
        dose = ("oral solution " if proposed.regimen.formulation == "solution" else "tablets ") + dose
    if serious:
        title = finding_title(sorted(serious, key=lambda f: f.severity != "critical")[0], decision.protocol)
        return fit(f"{title}. Use {dose}{tail}", f"{title[:70].rsplit(' ', 1)[0]}\u2026 Use {dose}{tail}")
    if matches:
        return fit(f"{why}: draft {dose} matches the protocol{tail}{trough}", f"{why}: draft {dose} matches{tail}")
    return fit(f"{why}: {dose}{tail}{trough}", f"{why}: {dose}{tail}", f"{name}: {dose}{tail}")


def _no_dose_yet(decision: Decision) -> bool:
    """The draft lacks something and no daily dose can be read from it (a draft read to a daily dose lacks
    something else: its product, when named by ingredient only)."""
    return bool(decision.draft_missing) and decision.draft_check is None


def _dose_suggestions(
    decision: Decision, proposed: ProposedDose, draft: dict[str, Any] | None, matches: bool
) -> list[Suggestion]:
    """Recommended dose, then the protocol's alternatives, then the trough alone (dose as drafted).

    Each dose suggestion also orders the next trough, so one click does both; when the draft already
    holds the proposed dose, the switch to the solution (issue #6) or else the trough alone is recommended.
    """
    trough = _trough_actions(decision)
    out = []
    tenfold = any(f.code == "mg-ml-tenfold" for f in decision.findings)
    if matches and tenfold:
        # The structured dose is right but the order's text says ten times another amount: rewrite both.
        out.append(suggestion(f"Correct the order to {dose_short(proposed.regimen)} (mg and mL agree)",
                              [_update(decision, draft, proposed.regimen, "mg and mL made to agree")] + trough,
                              recommended=True))
    if not matches:
        change = f" ({percent(proposed.percent_change)})" if proposed.percent_change is not None else ""
        switching = decision.draft_dose is not None and decision.draft_dose.formulation != proposed.regimen.formulation
        verb = f"{SWITCH_LABEL}:" if switching and proposed.regimen.formulation == "solution" else "Use"
        confirming = detail.confirming(decision)  # a protecting criterion unknown during the taper (0019)
        out.append(
            suggestion(
                f"{verb} {dose_short(proposed.regimen)}{change}{confirming}",
                [
                    _update(
                        decision, draft, proposed.regimen,
                        f"{daily(proposed)}{change.replace(' (', ', ').rstrip(')')}{confirming}"
                    )
                ]
                + trough,
            )
        )
    switch = None  # the switch to the oral solution offered as an alternative, if any
    for alternative in decision.alternatives:
        made = _alternative_suggestion(decision, alternative, proposed, draft, trough)
        if made is not None:
            out.append(made)
            switch = made if alternative.kind == "solution_equivalent" else switch
    if trough:
        as_drafted = ("dose unit to correct" if decision.draft_unknown_unit
                      else "no dose entered yet" if _no_dose_yet(decision) else "dose as drafted")
        out.append(suggestion(f"Order only the next trough, for {when(_trough_day(decision))}; {as_drafted}", trough))
    if not matches:
        out[0] = replace(out[0], recommended=True)
    elif tenfold:
        pass  # the correction above is recommended
    else:
        chosen = switch or (out[-1] if trough else None)
        if chosen is not None:
            out[out.index(chosen)] = replace(chosen, recommended=True)
    return out


def _alternative_suggestion(
    decision: Decision,
    alternative: Alternative,
    proposed: ProposedDose | None,
    draft: dict[str, Any] | None,
    trough: list[Action],
) -> Suggestion | None:
    if alternative.kind == "stop":
        if not draft or not draft.get("id"):
            return None
        action = Action(type="delete",
                        description=(f"Remove this sirolimus order, and discontinue the active sirolimus order: "
                                     f"stop sirolimus. {alternative.note}").strip(),
                        resource_id=(f"MedicationRequest/{draft['id']}",))
        return suggestion("Stop sirolimus (remove this order)", [action] + trough)
    # Only a dose the core proposed (and checked against the sanity limits) becomes a suggestion.
    regimen = alternative.dose.regimen if alternative.dose else None
    if regimen is None or proposed is None or _same_regimen(proposed.regimen, regimen):
        return None
    dose = dose_short(regimen)
    change = alternative.dose.percent_change if alternative.dose else None
    suffix = f" ({percent(change)})" if change is not None else ""
    confirming = detail.confirming(decision)  # a reduction with a protecting criterion unknown (0019)
    if alternative.kind == "keep_current":
        label, why = f"Keep the current dose: {dose}", "keep the current dose"
    elif alternative.kind == "smaller_step":
        label = f"Smaller step: {dose}{suffix}{confirming}"
        why = f"a {smaller_step(decision.protocol)}{suffix}{confirming}"
    else:
        label = f"{SWITCH_LABEL}: {dose}{suffix}{confirming}"
        why = f"switch to oral solution{confirming}"
    switch = alternative.kind == "solution_equivalent"
    return suggestion(label, [_update(decision, draft, regimen, why, switch_to_solution=switch)] + trough)


def _update(decision: Decision, draft: dict[str, Any] | None, regimen: DoseRegimen, why: str,
            *, switch_to_solution: bool = False) -> Action:
    """The draft rewritten to `regimen`; a change of formulation (the switch alternative, or a product other
    than the draft's) says once that tablets and solution are not bioequivalent."""
    draft_dose = decision.draft_dose
    if switch_to_solution or (draft_dose is not None and draft_dose.formulation != regimen.formulation):
        why = f"{why}. {not_bioequivalent_sentence()}"
    resource = resources.updated_medication_request(
        draft,
        regimen,
        patient_id=decision.patient_id,
        draft_formulation=draft_dose.formulation if draft_dose else None,
        draft_strength_mg=draft_dose.strength_mg if draft_dose else None,
    )
    return Action(type="update",
                  description=(f"Set the sirolimus dose to {dose_text(regimen)} ({why}). "
                               "If your EHR copies only the medication, enter this dose by hand."),
                  resource=resource)


def paused_summary(decision: Decision, name: str) -> str:
    """A started taper paused by a criterion that protects the child (decision 0016): which, and the dose."""
    why = decision.taper_paused_by
    more = f" (+{len(why) - 1} more)" if len(why) > 1 else ""
    return fit(f"{name} paused: {why[0]}{more}; keep the current dose",
               f"{name} paused: keep the current dose, see detail")


def _trough_actions(decision: Decision) -> list[Action]:
    """The next trough, on its due date; an overdue one is ordered for the day of the decision."""
    due = _trough_day(decision)
    return [] if due is None else [resources.trough_action(decision.patient_id, due)]


def _trough_day(decision: Decision) -> date | None:
    if decision.next_trough_due is None:
        return None
    return max(decision.next_trough_due, decision.decided_on)


def _no_dose_card(decision: Decision, draft: dict[str, Any] | None, url: str) -> Card:
    serious = sorted((f for f in decision.findings if f.severity != "info"), key=lambda f: f.severity != "critical")
    whats = ", ".join(m.what for m in decision.missing_data)
    orders = "; ".join(m.order for m in decision.missing_data if m.order)
    stop = _alternative(decision, "stop")
    name = protocol_short(decision.protocol.protocol_id if decision.protocol else None)
    if stop is not None and not serious:
        return _stop_card(decision, stop, draft, url, name)
    if serious:
        title = finding_title(serious[0], decision.protocol)
        more = f" (+{len(serious) - 1} more)" if len(serious) > 1 else ""
        missing = f"No dose: missing {whats}" if whats and decision.phase is Phase.STOPPED else ""  # decision 0018
        summary = fit(*([f"{title}. {missing}"] if missing else []), f"{title}{more}. No dose proposed",
                      f"{title[:100].rsplit(' ', 1)[0]}\u2026 No dose proposed")
    elif decision.taper_paused_by:
        summary = paused_summary(decision, name)
    elif decision.missing_data:
        summary = fit(
            f"No sirolimus dose: missing {whats}. Order: {orders}" if orders else f"No sirolimus dose: missing {whats}",
            f"No sirolimus dose: missing {whats}",
            f"No sirolimus dose: {len(decision.missing_data)} items missing, see detail",
        )
    else:
        reason = decision.no_proposal_reasons[0] if decision.no_proposal_reasons else "see detail"
        summary = fit(f"No sirolimus dose change proposed: {reason}")
    trough = _trough_actions(decision)
    suggestions = []
    keep = _alternative(decision, "keep_current")
    breaks_protocol = any(f.code in DRAFT_BREAKS_PROTOCOL for f in decision.findings)
    if keep is not None and keep.dose is not None and breaks_protocol and draft is not None:
        # The draft breaks a taper rule while no step is due: the correction is the current dose.
        suggestions.append(suggestion(f"Keep the current dose instead: {dose_short(keep.dose.regimen)}",
                                      [_update(decision, draft, keep.dose.regimen, "keep the current dose: "
                                               "the draft breaks the taper rules")] + trough, recommended=True))
    if trough:
        suggestions.append(suggestion(f"Order a sirolimus trough for {when(_trough_day(decision))}", trough))
    return card(
        kind=CardKind.NO_DOSE,
        summary=summary,
        # No dose to offer instead: missing data stays an info card (issue #4); the draft's departures that
        # break a rule are findings already, and its predicted trough is in the detail.
        indicator=worst(*(f.severity for f in decision.findings)),
        detail=detail.join(
            _draft_lines(decision),
            detail.findings(decision.findings),
            ["**No dose is proposed.**" + "".join(f" {detail.md_text(r)}" for r in decision.no_proposal_reasons[:2])],
            model_lines(decision, with_proposal=False),
            detail.missing(decision.missing_data),
            detail.troughs(decision.troughs_used),
            _next_trough(decision),
        ),
        protocol=decision.protocol,
        decision_url=url,
        suggestions=suggestions,
    )


def _formulation_lines(decision: Decision, proposed: ProposedDose, switch: Alternative | None) -> list[str]:
    if switch is not None:
        sentence = not_bioequivalent_sentence()
        own = switch.note.strip() not in ("", sentence)  # a note of its own, besides the switch's
        note = detail.md_text(switch.note.strip().rstrip(".")) + ". " if own else ""
        return [f"**{TABLETS_CANNOT_STEP}** {note}{sentence}"]
    if decision.draft_dose is not None and decision.draft_dose.formulation != proposed.regimen.formulation:
        return [f"**Formulation change.** {not_bioequivalent_sentence()}"]
    return []


def _stop_card(decision: Decision, stop: Alternative, draft: dict[str, Any] | None, url: str, name: str) -> Card:
    """The taper's stop rule is met: no dose to propose; the suggestion removes the draft order."""
    trough = _trough_actions(decision)
    made = _alternative_suggestion(decision, stop, None, draft, trough)
    if made is not None:
        made = replace(made, recommended=True)
    return card(
        kind=CardKind.STOP,
        summary=fit(
            f"{name}: stop rule met. Stop sirolimus, then {stop.then or 'keep monitoring'}",
            f"{name}: stop rule met. Stop sirolimus and keep monitoring",
        ),
        indicator=worst(*(f.severity for f in decision.findings)),
        detail=detail.join(
            [f"**Stop sirolimus:** {detail.md_text(stop.note)}."],
            detail.findings(decision.findings),
            detail.troughs(decision.troughs_used),
            _next_trough(decision),
        ),
        protocol=decision.protocol,
        decision_url=url,
        suggestions=[made] if made is not None else None,
    )


def _indicator(decision: Decision) -> Severity:
    """The worst finding; a draft that departs from the protocol is at least a warning."""
    check = decision.draft_check
    departs: Severity = "warning" if check is not None and check.verdict is DraftVerdict.DEPARTS else "info"
    return worst(departs, *(f.severity for f in decision.findings))


def _next_trough(decision: Decision) -> list[str]:
    day = _trough_day(decision)
    if day is None:
        return []
    if decision.current_dose is None:  # a start: no level exists yet, the first one comes at steady state
        return [f"**First trough:** {when(day)}, at steady state after the first dose, before the morning dose."]
    return [f"**Next trough:** {when(day)}, before the morning dose."]


def _draft_lines(decision: Decision) -> list[str]:
    return [] if decision.draft_check is None else [draft_words.line(decision.draft_check)]


def _alternative(decision: Decision, kind: str) -> Alternative | None:
    return next((a for a in decision.alternatives if a.kind == kind), None)


def _same_regimen(a: DoseRegimen, b: DoseRegimen) -> bool:
    """Same product and the same amount per dose, as ordered (a comparison, not a calculation)."""
    return (
        a.formulation == b.formulation
        and abs(a.mg_per_administration - b.mg_per_administration) < 1e-9
        and abs(a.administrations_per_day - b.administrations_per_day) < 1e-9
        and (a.formulation == "solution" or a.strength_mg == b.strength_mg)
    )
