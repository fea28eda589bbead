"""patient-view end to end (sirolimus-monitoring): trough due / overdue, taper step due, eligibility,
possible relapse, findings, missing data, and nothing due.

Expected outcomes are worked out by hand from the protocol and the seeded record (dates relative to
today, D). Each call is also checked for its audit row and for feedback on each card (support.run).
"""
from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.support import (
    actions,
    card_text,
    check_careplan,
    check_dose,
    check_trough,
    day,
    no_dose_offered,
    only_card,
    recommended,
    resource_of,
    run,
)

# They talk to the real FHIR server process: out of the inner loop (-m "not slow"), always in CI.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

GUIDED, MAINTENANCE = "khe-guided-discontinuation", "khe-maintenance"


def test_trough_due_soon(client: Any, db: Any, fhir: Any) -> None:
    """khe-taper-recent-step: 0.26 -> 0.24 mg twice daily on D-9; the last trough (D-21) predates that
    change, so the next is due at steady state, D-9 + 14 days = D+5 (within the week: announced, info).
    The next step is not due before D-9 + 30 = D+21: no dose."""
    cards = run(client, db, fhir, "sandbox-patient-view.json", "khe-taper-recent-step", protocol=GUIDED)
    card = only_card(cards)
    assert card["indicator"] == "info"
    check_trough(resource_of(recommended(card), "ServiceRequest", "create"), due=day(5),
                 patient_id="khe-taper-recent-step")
    no_dose_offered(cards)


def test_trough_overdue(client: Any, db: Any, fhir: Any) -> None:
    """e2e-stale-trough: last trough D-45, monthly -> due D-15: overdue (warning), ordered for today."""
    cards = run(client, db, fhir, "ehr-patient-view.json", "e2e-stale-trough", protocol=MAINTENANCE)
    card = only_card(cards)
    assert card["indicator"] == "warning"
    assert day(-15).isoformat() in card["summary"]
    check_trough(resource_of(recommended(card), "ServiceRequest", "create"), due=day(0),
                 patient_id="e2e-stale-trough")
    no_dose_offered(cards)


@pytest.mark.parametrize(("patient_id", "mg", "step_due"), [
    # khe-taper-step-due: last step D-33 (rules 1-2: 30-day window) -> due D-3; 0.25 x 0.9 = 0.225 -> 0.23 mg
    # twice daily (rounded up to stay within 10 %); a step today -> trough D+14 (hold 7-14 days, decision 0015).
    ("khe-taper-step-due", 0.23, -3),
    # e2e-after-relapse: returned to 0.40 mg twice daily on D-190; rule 8 after 91 days -> due D-99;
    # 0.40 x 0.95 = 0.38 mg twice daily; a step today -> trough D+14.
    ("e2e-after-relapse", 0.38, -99),
])
def test_taper_step_due(client: Any, db: Any, fhir: Any, patient_id: str, mg: float, step_due: int) -> None:
    cards = run(client, db, fhir, "ehr-patient-view.json", patient_id, protocol=GUIDED)
    card = only_card(cards)
    assert card["indicator"] == "info"
    assert day(step_due).isoformat() in card["summary"]
    best = recommended(card)
    check_dose(resource_of(best, "MedicationRequest", "create"), mg=mg, per_day=2, patient_id=patient_id)
    check_trough(resource_of(best, "ServiceRequest", "create"), due=day(14), patient_id=patient_id)


def test_eligible_for_guided_discontinuation(client: Any, db: Any, fhir: Any) -> None:
    """khe-taper-eligible: KHE, age 6, remission since D-916 (>= 730 days), normal labs, consent, no known
    drug allergy; the exclusions the problem list does not show are the prescriber's to confirm. Start
    the taper (CarePlan create, guided discontinuation, from today) or record maintenance; no dose is
    ordered from this card; the first step it announces is 0.35 x 0.9 = 0.315 -> 0.32 mg."""
    cards = run(client, db, fhir, "ehr-patient-view.json", "khe-taper-eligible", protocol=MAINTENANCE)
    card = only_card(cards)
    assert card["indicator"] == "info"
    no_dose_offered(cards)
    assert "0.32 mg" in card_text(card)
    plans = {a["resource"]["instantiatesCanonical"][0].split("|")[0].rsplit("/", 1)[1]: a["resource"]
             for a in actions(card, "CarePlan", "create")}
    assert sorted(plans) == sorted([GUIDED, MAINTENANCE])
    for protocol, plan in plans.items():
        check_careplan(plan, protocol=protocol, patient_id="khe-taper-eligible")
        assert plan["period"]["start"] == day(0).isoformat()


def test_possible_relapse_returns_to_the_previously_effective_dose(client: Any, db: Any, fhir: Any) -> None:
    """khe-taper-relapse: taper since D-153; 0.25 -> 0.23 mg twice daily on D-25; platelets 85 x 10^9/L on
    D-4 (< 100, a return trigger): critical. Rule 7: the previously effective dose is the one before
    that reduction, 0.25 mg twice daily; the taper CarePlan is updated (same id). Trough 4.0 ng/mL on D-4
    -> the return changes the dose today: next trough D+14 (label: hold 7-14 days; decision 0015), not
    the monthly D+26."""
    cards = run(client, db, fhir, "sandbox-patient-view.json", "khe-taper-relapse", protocol=GUIDED)
    card = only_card(cards)
    assert card["indicator"] == "critical"
    best = recommended(card)
    check_dose(resource_of(best, "MedicationRequest", "create"), mg=0.25, per_day=2, patient_id="khe-taper-relapse")
    plan = resource_of(best, "CarePlan", "update")
    check_careplan(plan, protocol=GUIDED, patient_id="khe-taper-relapse")
    assert plan["id"] == "khe-taper-relapse-careplan"
    check_trough(resource_of(best, "ServiceRequest", "create"), due=day(14), patient_id="khe-taper-relapse")


@pytest.mark.parametrize(("patient_id", "protocol", "indicator", "mentions"), [
    # voriconazole since D-6 (label: avoid): a warning, no dose from the older trough.
    ("khe-azole", MAINTENANCE, "warning", "voriconazole"),
    # 250 ng/mL > 60 ng/mL plausible maximum: critical, no dose.
    ("e2e-implausible", MAINTENANCE, "critical", "250"),
    # 1.0 x 6 / 1.5 = 4 mg/day = 0.4 mg/kg/day > 0.3: critical, nothing proposed.
    ("e2e-sanity", MAINTENANCE, "critical", "sanity"),
    # no weight within 30 days: the dose cannot be checked; info saying what is missing.
    ("khe-no-weight", MAINTENANCE, "info", "weight"),
])
def test_findings_and_missing_data_without_a_dose(client: Any, db: Any, fhir: Any, patient_id: str, protocol: str,
                                                  indicator: str, mentions: str) -> None:
    cards = run(client, db, fhir, "ehr-patient-view.json", patient_id, protocol=protocol)
    # A level that cannot be used (implausible, or drawn before the azole started) does not start the
    # monthly clock: a usable trough is due today, on a card of its own beside the finding's.
    trough_cards = [c for c in cards if "trough due" in c["summary"] or "trough overdue" in c["summary"]]
    for trough_card in trough_cards:
        check_trough(resource_of(recommended(trough_card), "ServiceRequest", "create"), due=day(0),
                     patient_id=patient_id)
    card = only_card([c for c in cards if c not in trough_cards])
    assert card["indicator"] == indicator
    assert mentions in card_text(card)
    no_dose_offered(cards)


def test_nothing_due_gives_no_cards_but_is_audited(client: Any, db: Any, fhir: Any) -> None:
    """khe-nmol: 7.4 nmol/L x 0.914 = 6.8 ng/mL on D-6, within 5-7: dose unchanged; next trough D+24 (not
    within the week); remission under 2 years: not eligible. No cards; the decision is still recorded."""
    cards = run(client, db, fhir, "sandbox-patient-view.json", "khe-nmol", protocol=MAINTENANCE)
    assert cards == []
