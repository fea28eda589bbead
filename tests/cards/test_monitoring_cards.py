"""sirolimus-monitoring cards (patient-view): what is due, and nothing when nothing is."""

from __future__ import annotations

from datetime import date

from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.medicationrequest import MedicationRequest

from cards import build_cards
from tests.cards.contract import actions_of, check_response
from tests.cards.factories import (
    ARM,
    ELIGIBLE,
    MAINTENANCE,
    TODAY,
    URL,
    Finding,
    MonitoringKind,
    item,
    monitoring,
    proposed,
    solution,
)

TAPER_CANONICAL = "https://sirolimus-cds.org/fhir/PlanDefinition/khe-guided-discontinuation|1.0.0"
MAINTENANCE_CANONICAL = "https://sirolimus-cds.org/fhir/PlanDefinition/khe-maintenance|1.0.0"


def cards_for(decision):
    cards = build_cards(decision, hook="patient-view", draft=None, decision_url=URL, today=TODAY)
    check_response(cards, URL)
    return cards


def test_nothing_due_gives_no_cards_even_with_an_info_finding():
    decision = monitoring(item(MonitoringKind.NOTHING_DUE, None), findings=(Finding("note", "info", "all well"),))
    assert cards_for(decision) == []


def test_trough_due_orders_it_on_its_due_date():
    [card] = cards_for(monitoring(item(MonitoringKind.TROUGH_DUE, date(2026, 11, 29), "Monthly trough (rule 3).")))
    assert card["indicator"] == "info"
    assert card["summary"] == "KHE taper: sirolimus trough due 2026-11-29; draw before the morning dose"
    [request] = [a["resource"] for a in actions_of(card, "ServiceRequest", "create")]
    assert request["occurrenceDateTime"] == "2026-11-29"
    assert "Monthly trough (rule 3)." in card["detail"]


def test_overdue_trough_is_a_warning_ordered_for_today():
    [card] = cards_for(monitoring(item(MonitoringKind.TROUGH_OVERDUE, date(2026, 11, 1))))
    assert card["indicator"] == "warning"
    assert "overdue since 2026-11-01" in card["summary"]
    [request] = [a["resource"] for a in actions_of(card, "ServiceRequest")]
    assert request["occurrenceDateTime"] == "2026-11-22"


def test_taper_step_due_offers_a_new_order_at_the_decisions_dose():
    decision = monitoring(
        item(MonitoringKind.TAPER_STEP_DUE, date(2026, 11, 24)),
        proposed_dose=proposed(solution(0.72)),
        next_trough_due=date(2026, 12, 8),
    )
    [card] = cards_for(decision)
    assert card["summary"] == "KHE taper step due 2026-11-24: 0.72 mg (0.72 mL) twice daily, −10 %"
    [order] = [a["resource"] for a in actions_of(card, "MedicationRequest", "create")]
    MedicationRequest.model_validate(order)
    assert order["status"] == "draft"
    assert order["medicationCodeableConcept"]["coding"][0]["code"] == "314230"
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 0.72
    [request] = [a["resource"] for a in actions_of(card, "ServiceRequest")]
    assert request["occurrenceDateTime"] == "2026-12-08"


def test_eligible_patient_can_start_the_taper_or_record_maintenance():
    decision = monitoring(
        item(MonitoringKind.ELIGIBLE_FOR_DISCONTINUATION, TODAY, "Remission since 2024-01-10."),
        protocol=MAINTENANCE,
        arm=None,
        eligibility=(ELIGIBLE,),
    )
    [card] = cards_for(decision)
    assert card["indicator"] == "info"
    assert card["summary"].startswith("Eligible for guided sirolimus discontinuation")
    plans = [a["resource"] for a in actions_of(card, "CarePlan", "create")]
    assert [p["instantiatesCanonical"] for p in plans] == [[TAPER_CANONICAL], [MAINTENANCE_CANONICAL]]
    for plan in plans:
        CarePlan.model_validate(plan)
        assert (plan["status"], plan["intent"], plan["period"]["start"]) == ("active", "plan", "2026-11-22")
        assert plan["subject"] == {"reference": "Patient/khe-demo"}
        assert plan["title"] and plan["description"]
    assert not any(s.get("isRecommended") for s in card["suggestions"])  # the family's choice, not ours
    assert "**Eligibility, khe-guided-discontinuation:** every criterion met" in card["detail"]
    assert "|" not in card["detail"]  # the criteria table is on the decision page (issue #10)


def test_eligibility_with_unknowns_offers_no_taper_and_names_the_count():
    unknown = ELIGIBLE.__class__(
        ELIGIBLE.protocol_id,
        "unknown",
        ELIGIBLE.criteria
        + (
            ELIGIBLE.criteria[0].__class__(
                "consent", "guardian's signed consent", "inclusion", "unknown", settle_by="record the signed Consent"
            ),
        ),
        prescriber_can_confirm=(),  # this site wants every criterion proven by the record
    )
    decision = monitoring(
        item(MonitoringKind.ELIGIBLE_FOR_DISCONTINUATION, TODAY), protocol=MAINTENANCE, eligibility=(unknown,)
    )
    [card] = cards_for(decision)
    assert "1 criteria unknown" in card["summary"]
    assert "suggestions" not in card
    assert "to settle: record the signed Consent" in card["detail"]


def test_possible_relapse_is_critical_returns_to_the_effective_dose_and_notes_the_careplan():
    back = proposed(
        solution(0.8), 11.1, rule="relapse_return_to_effective_dose", protocol_line="go back to the effective dose"
    )
    decision = monitoring(
        item(MonitoringKind.POSSIBLE_RELAPSE, TODAY, "Platelets 82 x10^9/L on 2026-11-20, below 100."),
        proposed_dose=back,
        next_trough_due=date(2026, 12, 6),
    )
    [card] = cards_for(decision)
    assert card["indicator"] == "critical"
    assert card["summary"] == "Possible KHE relapse during the taper: return to 0.8 mg (0.8 mL) twice daily"
    [chosen] = card["suggestions"]
    assert chosen["isRecommended"] is True
    [plan] = [a["resource"] for a in actions_of(card, "CarePlan", "update")]
    CarePlan.model_validate(plan)
    assert plan["id"] == ARM.careplan_id
    assert plan["instantiatesCanonical"] == [TAPER_CANONICAL]
    assert plan["period"]["start"] == "2026-06-01"
    assert "0.8 mg (0.8 mL of 1 mg/mL oral solution)" in plan["note"][0]["text"]
    [order] = [a["resource"] for a in actions_of(card, "MedicationRequest", "create")]
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 0.8


def test_relapse_without_a_dose_proposes_no_dose():
    [card] = cards_for(monitoring(item(MonitoringKind.POSSIBLE_RELAPSE, TODAY, "KHE Condition active again.")))
    assert card["indicator"] == "critical"
    assert "suggestions" not in card


def test_serious_findings_get_their_own_card_next_to_the_items():
    decision = monitoring(
        item(MonitoringKind.TROUGH_DUE, date(2026, 11, 29)),
        findings=(Finding("interacting-drug", "warning", "Voriconazole is active."), Finding("x", "info", "fine")),
    )
    cards = cards_for(decision)
    assert [c["indicator"] for c in cards] == ["info", "warning"]
    assert cards[1]["summary"] == "Voriconazole is active"


def test_unknowns_the_prescriber_can_confirm_offer_the_taper_and_record_the_confirmation():
    """Decision 0010: consent and exclusions the record is silent on are listed for the prescriber to
    confirm; accepting writes the confirmation into the CarePlan. Remission must still be met."""
    silent = ELIGIBLE.criteria[0].__class__
    to_confirm = (
        silent("consent", "guardian's signed consent", "inclusion", "unknown", settle_by="record the Consent"),
        silent("diabetes", "no diabetes", "exclusion", "unknown", settle_by="confirm the child has no diabetes"),
    )
    eligibility = ELIGIBLE.__class__(ELIGIBLE.protocol_id, "unknown", ELIGIBLE.criteria + to_confirm,
                                     prescriber_can_confirm=("consent", "diabetes", "hypertension"))
    decision = monitoring(item(MonitoringKind.ELIGIBLE_FOR_DISCONTINUATION, TODAY), protocol=MAINTENANCE,
                          eligibility=(eligibility,))
    [card] = cards_for(decision)
    assert "if you confirm 2 item(s)" in card["summary"]
    start = card["suggestions"][0]
    plan = start["actions"][0]["resource"]
    assert plan["instantiatesCanonical"][0].startswith(
        "https://sirolimus-cds.org/fhir/PlanDefinition/khe-guided-discontinuation")
    assert "prescriber confirmed: guardian's signed consent, no diabetes" in plan["description"]
    assert "confirming the 2 item(s)" in start["label"]
    assert "confirmation): guardian's signed consent; no diabetes." in card["detail"]


def test_an_unknown_the_prescriber_cannot_confirm_blocks_the_taper_suggestion():
    unknown_remission = ELIGIBLE.criteria[0].__class__(
        "remission", "at least 2 years of remission", "inclusion", "unknown", settle_by="record the remission date")
    eligibility = ELIGIBLE.__class__(ELIGIBLE.protocol_id, "unknown", (unknown_remission,),
                                     prescriber_can_confirm=("consent", "diabetes"))
    decision = monitoring(item(MonitoringKind.ELIGIBLE_FOR_DISCONTINUATION, TODAY), protocol=MAINTENANCE,
                          eligibility=(eligibility,))
    [card] = cards_for(decision)
    assert "suggestions" not in card


def test_a_dose_change_item_without_a_proposal_offers_no_dose_and_is_still_answered():
    # The core raises DOSE_CHANGE_DUE with a proposal; a card builder that asserted it would turn a
    # broken invariant into a 500 for the EHR. Without one: a warning, no dose offered.
    decision = monitoring(item(MonitoringKind.DOSE_CHANGE_DUE, TODAY, "Trough 3.1 ng/mL is below 5-7."),
                          protocol=MAINTENANCE)
    [card] = cards_for(decision)
    assert card["indicator"] == "warning"
    assert "no dose proposed" in card["summary"]
    assert "suggestions" not in card
