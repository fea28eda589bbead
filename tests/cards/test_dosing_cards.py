"""Order-hook cards: what the prescriber reads and what one click puts into the order."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from cards import build_cards
from cards.wording import not_bioequivalent_sentence
from tests.cards.contract import actions_of, check_response, dose_bearing
from tests.cards.factories import (
    IHHE,
    TODAY,
    URL,
    Alternative,
    Evidence,
    Finding,
    MissingData,
    proposed,
    sandbox_draft,
    solution,
    solution_draft,
    tablet,
    taper_step,
    trough,
)


def one_card(decision, draft=None, hook="order-select"):
    cards = build_cards(decision, hook=hook, draft=draft, decision_url=URL, today=TODAY)
    check_response(cards, URL)
    assert len(cards) == 1
    return cards[0]


def recommended(card):
    [chosen] = [s for s in card["suggestions"] if s.get("isRecommended")]
    return chosen


def test_taper_step_summary_names_dose_in_mg_and_ml_frequency_and_step():
    card = one_card(taper_step(), solution_draft())
    assert card["summary"].startswith("KHE taper step: 0.72 mg (0.72 mL) twice daily, −10 %")
    assert card["indicator"] == "info"
    assert "v1.0.0" in card["source"]["label"]
    assert card["source"]["topic"]["code"] == "khe-guided-discontinuation"


def test_recommended_update_is_the_whole_draft_with_the_proposed_dose():
    draft = solution_draft()
    card = one_card(taper_step(), draft)
    [update] = [a for a in recommended(card)["actions"] if a["type"] == "update"]
    resource = update["resource"]
    MedicationRequest.model_validate(resource)
    for kept in ("id", "status", "subject", "authoredOn", "intent", "dispenseRequest", "medicationCodeableConcept"):
        assert resource[kept] == draft[kept]
    assert resource["reasonCode"] == [draft["reasonCode"]]  # the sandbox's single object, made a list
    assert resource["category"] == [draft["category"]]
    dosage = resource["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 0.72
    assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert dosage["text"] == "0.72 mg (0.72 mL of 1 mg/mL oral solution) by mouth twice daily"


def test_dose_is_stated_in_words_in_label_and_description():
    """The sandbox applies only the medication code of an update: the dose must be readable."""
    card = one_card(taper_step(), solution_draft())
    chosen = recommended(card)
    assert "0.72 mg (0.72 mL)" in chosen["label"] and "twice daily" in chosen["label"]
    [update] = [a for a in chosen["actions"] if a["type"] == "update"]
    assert "0.72 mg (0.72 mL of 1 mg/mL oral solution) by mouth twice daily" in update["description"]


def test_alternatives_keep_current_and_smaller_step_each_carry_their_dose():
    card = one_card(taper_step(), solution_draft())
    doses = {
        s["label"]: a["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]
        for s in card["suggestions"]
        for a in s["actions"]
        if a["type"] == "update"
    }
    assert doses == {
        "Use 0.72 mg (0.72 mL) twice daily (−10 %)": 0.72,
        "Keep the current dose: 0.8 mg (0.8 mL) twice daily": 0.8,
        "Smaller step: 0.76 mg (0.76 mL) twice daily (−5 %)": 0.76,
    }


def test_every_dose_suggestion_also_orders_the_trough_on_its_due_date():
    card = one_card(taper_step(), solution_draft())
    for suggestion in card["suggestions"]:
        [request] = [a["resource"] for a in suggestion["actions"] if a["resource"]["resourceType"] == "ServiceRequest"]
        assert request["code"]["coding"][0]["code"] == "29247-4"
        assert request["code"]["coding"][0]["system"] == "http://loinc.org"
        assert request["occurrenceDateTime"] == "2026-12-06"
        assert (request["status"], request["intent"]) == ("draft", "order")
        assert request["subject"] == {"reference": "Patient/khe-demo"}
        assert request["note"] == [{"text": "trough: draw immediately before the morning dose"}]
    assert card["suggestions"][-1]["label"].startswith("Order only the next trough")


def test_detail_is_short_and_leaves_the_evidence_to_the_decision_page():
    """Issue #10: what to do, the rule, the trough used, the predicted trough, the next trough; no tables,
    no resource ids, no canonicals (the decision page has them)."""
    card = one_card(taper_step(), solution_draft())
    detail = card["detail"]
    for expected in (
        "**Trough used:** 8.4 ng/mL, LC-MS/MS on 2026-11-15.",
        "**Predicted trough:** \u2248 5.2 ng/mL",
        "Each reduction is at most 10 %",
        "**Next trough:**",
    ):
        assert expected in detail, expected
    for moved in ("|", "Condition/", "CarePlan/", "Observation/", "PlanDefinition", "remission"):
        assert moved not in detail, moved


def test_sandbox_tablet_draft_validates_after_update_and_keeps_the_branded_product():
    """The sandbox's draft is not valid R4 (single-object reasonCode/category); the suggestion must be."""
    draft = sandbox_draft()
    decision = taper_step(
        current_dose=tablet(0.5, 2),
        draft_dose=tablet(0.5, 1),
        proposed_dose=proposed(tablet(0.5, 2), 0.0),
        alternatives=(),
    )
    card = one_card(decision, draft)
    [update] = actions_of(card, "MedicationRequest", "update")
    resource = update["resource"]
    MedicationRequest.model_validate(resource)
    assert resource["medicationCodeableConcept"] == draft["medicationCodeableConcept"]  # Rapamune 0.5 mg kept
    quantity = resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert (quantity["value"], quantity["code"]) == (2, "{tbl}")
    assert resource["dosageInstruction"][0]["text"] == "1 mg (two 0.5 mg tablets) by mouth twice daily"


def test_tablets_that_cannot_step_offer_the_solution_in_mg_and_ml_with_a_new_trough():
    """Issue #6: tablets are never split; the oral solution is offered, not bioequivalent."""
    switch = proposed(solution(0.45), -10.0)
    decision = taper_step(
        current_dose=tablet(0.5, 1),
        draft_dose=tablet(0.5, 1),
        proposed_dose=proposed(tablet(0.5, 1), 0.0, rule="keep_current_dose"),
        alternatives=(Alternative("solution_equivalent", switch, "A 10 % step needs 0.45 mg."),),
    )
    card = one_card(decision, sandbox_draft())
    assert "tablets cannot make the −10 % step" in card["summary"]
    assert "0.45 mg (0.45 mL) twice daily" in card["summary"]
    assert "Tablets are never split" in card["detail"] and "not bioequivalent" in card["detail"]
    chosen = recommended(card)
    assert chosen["label"] == "Switch to oral solution: 0.45 mg (0.45 mL) twice daily (−10 %)"
    [update] = [a for a in chosen["actions"] if a["type"] == "update"]
    assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "314230"
    assert update["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 0.45
    assert "not bioequivalent" in update["description"] and "new trough" in update["description"]
    assert any(a["resource"]["resourceType"] == "ServiceRequest" for a in chosen["actions"])


def test_draft_that_breaks_the_taper_gets_a_warning_with_the_correction():
    cap = Finding(
        "reduction-exceeds-cap",
        "warning",
        "The draft reduces the dose by 25 %; the taper allows at most 10 % a month.",
        (Evidence("MedicationRequest/request-123", 0.6, "mg", TODAY),),
    )
    decision = taper_step(draft_dose=solution(0.6), findings=(cap,))
    card = one_card(decision, solution_draft())
    assert card["indicator"] == "warning"
    assert card["summary"] == (
        "The draft reduces the dose by 25 %; the taper allows at most 10 % a month. "
        "Use 0.72 mg (0.72 mL) twice daily, −10 %"
    )
    assert "the taper allows at most 10 % a month" in card["detail"]
    [update] = [a for a in recommended(card)["actions"] if a["type"] == "update"]
    assert update["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 0.72


@pytest.mark.parametrize(
    ("severities", "indicator"),
    [((), "info"), (("info",), "info"), (("warning",), "warning"), (("info", "critical", "warning"), "critical")],
)
@pytest.mark.parametrize("with_dose", [True, False])
def test_indicator_is_the_worst_finding(severities, indicator, with_dose):
    findings = tuple(Finding(f"code-{i}", s, f"finding {s}") for i, s in enumerate(severities))
    extra = {} if with_dose else {"proposed_dose": None, "alternatives": (), "no_proposal_reasons": ("see findings",)}
    card = one_card(taper_step(findings=findings, **extra), solution_draft())
    assert card["indicator"] == indicator


@pytest.mark.parametrize(
    "finding",
    [
        Finding("mg-ml-tenfold", "critical", "The draft says 0.8 mg but 8 mL of the 1 mg/mL solution: about 10-fold."),
        Finding("implausible-level", "warning", "Trough 180 ng/mL is beyond the plausible maximum (60 ng/mL)."),
        Finding("sanity-limit", "critical", "The dose would exceed 0.3 mg/kg/day."),
        Finding("interacting-drug", "warning", "Voriconazole, a strong CYP3A4 inhibitor, is active."),
    ],
)
def test_no_dose_suggestion_when_the_core_proposes_none(finding):
    decision = taper_step(
        proposed_dose=None, findings=(finding,), no_proposal_reasons=("The data cannot support a dose.",)
    )
    card = one_card(decision, solution_draft())
    assert card["indicator"] == finding.severity
    assert dose_bearing(card) == []
    assert card["summary"].endswith("No dose proposed")
    assert finding.message in card["detail"] and "No dose is proposed." in card["detail"]
    assert "0.72" not in card["summary"] + card["detail"].split("**Current dose")[0]


def test_missing_data_card_says_what_is_missing_and_what_to_order_and_never_a_dose():
    decision = taper_step(
        proposed_dose=None,
        alternatives=(),
        next_trough_due=None,
        missing_data=(
            MissingData("body weight", "record a weight"),
            MissingData("a trough with a unit", "repeat the sirolimus trough"),
        ),
        troughs_used=(
            trough(
                8.4,
                date(2026, 11, 15),
                original_unit=None,
                value_ng_ml=None,
                usable=False,
                reasons_unusable=("no unit",),
            ),
        ),
    )
    card = one_card(decision, solution_draft())
    assert card["indicator"] == "info"
    assert card["summary"] == (
        "No sirolimus dose: missing body weight, a trough with a unit. "
        "Order: record a weight; repeat the sirolimus trough"
    )
    assert "suggestions" not in card
    assert "**Latest trough, not used:** 8.4 (no unit) on 2026-11-15 (no unit)." in card["detail"]


def test_missing_trough_card_may_offer_the_trough_order_only():
    decision = taper_step(
        proposed_dose=None, alternatives=(), missing_data=(MissingData("a usable trough", "a trough"),)
    )
    card = one_card(decision, solution_draft())
    assert dose_bearing(card) == []
    [request] = [a["resource"] for a in actions_of(card, "ServiceRequest")]
    assert request["occurrenceDateTime"] == "2026-12-06"


def test_ihhe_start_states_the_weight_based_dose_and_the_first_trough():
    start = proposed(
        solution(1.0),
        None,
        rule="ihhe_starting_dose",
        dose_mg_per_kg_day=0.1,
        protocol_line="sirolimus is added/sequenced: 0.1 mg/kg/day orally",
        predicted_trough_ng_ml=None,
    )
    decision = taper_step(
        protocol=IHHE,
        arm=None,
        current_dose=None,
        draft_dose=None,
        proposed_dose=start,
        alternatives=(),
        troughs_used=(),
        last_dose_change=None,
        eligibility=(),
        weight_kg=20.0,
        next_trough_due=date(2026, 12, 1),
        next_step_due=None,
        schedule=(),
    )
    draft = {
        "resourceType": "MedicationRequest",
        "id": "rx-1",
        "status": "draft",
        "subject": {"reference": "Patient/khe-demo"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314230"}]
        },
    }
    card = one_card(decision, draft, hook="order-sign")
    assert card["summary"] == "IHHE sirolimus start: 1 mg (1 mL) twice daily, 0.1 mg/kg/day; trough 2026-12-01"
    assert "**Weight used:** 20 kg." in card["detail"]
    chosen = recommended(card)
    [update] = [a["resource"] for a in chosen["actions"] if a["type"] == "update"]
    MedicationRequest.model_validate(update)
    assert update["intent"] == "order"  # filled in: R4 requires it
    assert update["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 1.0
    [request] = [a["resource"] for a in chosen["actions"] if a["type"] == "create"]
    assert request["occurrenceDateTime"] == "2026-12-01"


def test_draft_that_already_holds_the_proposal_says_so_and_recommends_the_trough():
    decision = taper_step(draft_dose=solution(0.72))
    card = one_card(decision, solution_draft())
    assert "matches the protocol" in card["summary"]
    assert recommended(card)["label"] == "Order only the next trough, for 2026-12-06; dose as drafted"
    assert [s["label"] for s in dose_bearing(card)] == [
        "Keep the current dose: 0.8 mg (0.8 mL) twice daily",
        "Smaller step: 0.76 mg (0.76 mL) twice daily (−5 %)",
    ]


def test_stop_alternative_removes_the_draft():
    decision = taper_step(alternatives=(Alternative("stop", None, "Taper complete: stop with monitoring."),))
    card = one_card(decision, solution_draft())
    [stop] = [s for s in card["suggestions"] if s["label"].startswith("Stop")]
    assert stop["actions"][0] == {
        "type": "delete",
        "description": "Remove this sirolimus order, and discontinue the active sirolimus order: stop sirolimus. "
        "Taper complete: stop with monitoring.",
        "resourceId": ["MedicationRequest/request-123"],
    }


def test_the_cores_solution_step_for_a_tablet_patient_is_a_switch_in_mg_and_ml():
    """The core's shape for issue #6: the proposal is the solution step, repeated as solution_equivalent."""
    step = proposed(solution(0.45), -10.0, rule="taper_step_rule_1_as_solution")
    note = not_bioequivalent_sentence()  # the core's note on the solution_equivalent alternative
    decision = taper_step(
        current_dose=tablet(0.5, 1),
        draft_dose=tablet(0.5, 1),
        proposed_dose=step,
        alternatives=(Alternative("solution_equivalent", step, note),),
    )
    card = one_card(decision, sandbox_draft())
    assert (
        card["summary"] == "KHE taper: tablets cannot make the −10 % step; oral solution 0.45 mg (0.45 mL) twice daily"
    )
    chosen = recommended(card)
    assert chosen["label"] == "Switch to oral solution: 0.45 mg (0.45 mL) twice daily (−10 %)"
    assert len([s for s in card["suggestions"] if s["label"].startswith("Switch")]) == 1  # not offered twice
    [update] = [a for a in chosen["actions"] if a["type"] == "update"]
    assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "314230"
    assert "not bioequivalent" in update["description"]
    assert card["detail"].count("bioequivalent") == 1  # the note once, not repeated


def test_stop_rule_met_offers_to_remove_the_draft_and_no_dose():
    decision = taper_step(
        proposed_dose=None,
        phase=None,
        alternatives=(Alternative("stop", None, "stop sirolimus, then monitor the trough and platelets monthly",
                                  then="monitor the trough and platelets monthly"),),
    )
    card = one_card(decision, solution_draft())
    assert card["summary"] == "KHE taper: stop rule met. Stop sirolimus, then monitor the trough and platelets monthly"
    assert dose_bearing(card) == []
    chosen = recommended(card)
    assert chosen["actions"][0]["type"] == "delete"
    assert chosen["actions"][0]["resourceId"] == ["MedicationRequest/request-123"]


def test_an_overdue_trough_is_ordered_for_today_not_in_the_past():
    decision = taper_step(
        proposed_dose=None,
        alternatives=(),
        next_trough_due=date(2026, 11, 12),
        missing_data=(MissingData("a usable sirolimus trough at steady state", None),),
    )
    card = one_card(decision, solution_draft())
    [request] = [a["resource"] for a in actions_of(card, "ServiceRequest")]
    assert request["occurrenceDateTime"] == "2026-11-22"


def test_lower_case_core_messages_lead_a_summary_capitalised():
    finding = Finding("trough-unit-unknown", "warning", "the level's unit 'mg' is unknown: not used")
    card = one_card(taper_step(proposed_dose=None, alternatives=(), findings=(finding,)), solution_draft())
    assert card["summary"] == "The level's unit 'mg' is unknown: not used. No dose proposed"


def test_incomplete_draft_says_what_to_fill_in():
    decision = taper_step(
        kind="incomplete_draft",
        proposed_dose=None,
        alternatives=(),
        missing_data=(MissingData("medication", None), MissingData("dose and frequency", None)),
    )
    card = one_card(decision, {"resourceType": "MedicationRequest", "status": "draft"})
    assert card["summary"] == "Sirolimus order incomplete: add medication, dose and frequency; dose advice follows"
    assert card["indicator"] == "info" and "suggestions" not in card


def test_not_sirolimus_gives_no_cards():
    decision = taper_step(kind="not_sirolimus", proposed_dose=None)
    assert build_cards(decision, hook="order-select", draft={}, decision_url=URL, today=TODAY) == []


@settings(max_examples=60, deadline=None)
@given(
    message=st.text(min_size=1, max_size=400).filter(str.strip),
    severity=st.sampled_from(["info", "warning", "critical"]),
    with_dose=st.booleans(),
)
def test_any_finding_text_still_gives_a_valid_card(message, severity, with_dose):
    """Summaries fit in 139 characters and the response stays valid, whatever the core writes."""
    finding = Finding("free-text", severity, message)
    decision = taper_step(findings=(finding,))
    if not with_dose:
        decision = dataclasses.replace(decision, proposed_dose=None, no_proposal_reasons=(message,))
    cards = build_cards(decision, hook="order-select", draft=solution_draft(), decision_url=URL, today=TODAY)
    check_response(cards, URL)
    assert cards[0]["indicator"] == severity


def test_a_taper_step_due_in_the_past_reads_as_due_since_not_as_a_future_date():
    """A step the schedule set for 2026-11-29, read on a later day, is overdue: the card says so."""
    from cards.detail import schedule_lines

    overdue = taper_step(next_step_due=date(2026, 11, 29), decided_on=date(2026, 12, 2))
    assert "**Next taper step:** due since 2026-11-29." in schedule_lines(overdue)[0]
    ahead = taper_step()  # decided 2026-11-22, step on 2026-12-22
    assert "**Next taper step:** 2026-12-22." in schedule_lines(ahead)[0]
