"""Every request the sandbox was recorded sending, retargeted to a seeded patient: what each gets back.

The patient (`khe-maintenance-high`): KHE in remission, maintenance on 0.5 mg tablets, 1 tablet twice
daily, last trough 8.1 ng/mL, above the 5-7 ng/mL target. The expected dose is computed here from the
protocol's numbers, never read from the service's answer.
"""
from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from tests.sandbox.checks import answered, card_text, dose_and_timing, rxnorm_codes, update_actions
from tests.sandbox.conftest import PATIENT, today
from tests.sandbox.harness import load_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = json.loads((ROOT / "fhir_profiles/protocols/khe-maintenance.json").read_text())
PHARMACOLOGY = json.loads((ROOT / "fhir_profiles/pharmacology/sirolimus.json").read_text())
ORAL_SOLUTION = "314230"  # sirolimus 1 MG/ML Oral Solution
TABLETS = {"905158", "905160", "349208", "350512", "360110", "360318", "404432", "576390"}

TROUGH_NG_ML = 8.1  # the seeded patient's last trough
TABLET_MG, TABLETS_PER_DOSE, DOSES_PER_DAY = 0.5, 1, 2  # Rapamune 0.5 mg (905160), 1 tablet twice daily


def expected_solution_dose_mg() -> Decimal:
    """Linear relation towards the midpoint of the target (decision 0009), rounded to what can be measured
    (decision 0005): 1.0 mg/day x 6 / 8.1 = 0.74 mg/day on tablets; as the solution, which gives 1/1.27 of
    the tablets' exposure (decision 0106), 0.74 x 1.27 = 0.94 mg/day, i.e. 0.47 mg twice daily."""
    target = PROTOCOL["target_trough_ng_ml"]
    aim = (target["low"] + target["high"]) / 2
    daily_mg = TABLET_MG * TABLETS_PER_DOSE * DOSES_PER_DAY
    new_daily_mg = daily_mg * aim / TROUGH_NG_ML * PHARMACOLOGY["tablet_exposure_vs_solution"]
    step_mg = Decimal(str(PROTOCOL["measuring"]["solution_step_ml"] * PROTOCOL["measuring"]["solution_mg_per_ml"]))
    return (Decimal(str(new_daily_mg)) / DOSES_PER_DAY).quantize(step_mg, rounding=ROUND_HALF_UP)


def test_the_expected_dose_cannot_be_made_of_whole_tablets():
    """The premise of the card: 0.47 mg is no whole number of any tablet strength."""
    per_dose = expected_solution_dose_mg()
    assert per_dose == Decimal("0.47")
    for strength in PROTOCOL["measuring"]["tablet_strengths_mg"]:
        assert per_dose % Decimal(str(strength)) != 0


def _call(deployment, name, service_id=None):
    request = load_request(name, patient_id=PATIENT, fhir_base_url=deployment.fhir.base_url, today=today(),
                           prefetch=deployment.prefetch())
    service_id = service_id or f"sirolimus-{request['hook']}"  # one service per hook, as discovery lists
    return answered(deployment.sandbox.hook(service_id, request), "POST", "hook-response")


def _assert_solution_dose_card(cards):
    """Tablets cannot make the step: say so, and offer the oral solution in mg and mL, twice daily, with
    the non-bioequivalence note and a new trough; no suggestion splits a tablet."""
    assert len(cards) == 1, [c["summary"] for c in cards]
    card = cards[0]
    text = card_text(card)
    per_dose = f"{expected_solution_dose_mg():.2f}"
    assert re.search(rf"\b{per_dose} mg\b", text), text
    assert re.search(rf"\b{per_dose} mL\b", text), text
    assert re.search(r"tablets?\b[^.\n]*\b(cannot|can't|can not|impossible|not possible)", text, re.I), text
    assert re.search(r"not bioequivalent", text, re.I), text
    assert re.search(r"trough", text, re.I), text
    assert card.get("selectionBehavior") == "at-most-one"

    solution_updates = []
    for suggestion, action in update_actions(card):
        resource = action["resource"]
        assert resource["resourceType"] == "MedicationRequest" and resource["id"] == "request-123"
        dose, timing = dose_and_timing(resource)
        codes = rxnorm_codes(resource)
        if codes & TABLETS:
            tablets = Decimal(str(dose["value"]))
            assert tablets == tablets.to_integral_value(), f"a split tablet is suggested: {suggestion['label']}"
        if ORAL_SOLUTION in codes:
            solution_updates.append((suggestion, action, dose, timing))
    assert solution_updates, "no suggestion switches to the oral solution"
    suggestion, action, dose, timing = solution_updates[0]
    assert Decimal(str(dose["value"])) == expected_solution_dose_mg()
    assert dose.get("code") in ("mg", "mL")
    assert (timing.get("frequency"), timing.get("period"), timing.get("periodUnit")) == (2, 1, "d")
    # The sandbox applies only the medication code of an accepted update: the dose must be in words too.
    assert per_dose in suggestion["label"] and per_dose in action["description"]


def test_rapamune_half_mg_tablets_twice_daily_gets_the_solution_dose(deployment):
    """order-select as fired after choosing "twice daily": draft 1 tablet of 905160, frequency 2/d."""
    _assert_solution_dose_card(_call(deployment, "order-select-sirolimus.json")["cards"])


def test_order_sign_gets_the_same_advice(deployment):
    """order-sign: no selections, no reasonCode, category a single object."""
    _assert_solution_dose_card(_call(deployment, "order-sign-sirolimus.json")["cards"])


def test_the_default_dose_draft_is_read_as_half_a_milligram_a_day(deployment):
    """The picker's default (1 tablet of 0.5 mg once daily): the draft is sirolimus, its dose 0.5 mg/day;
    the advice from the record is still the solution dose."""
    cards = _call(deployment, "order-select-sirolimus-default-dose.json")["cards"]
    assert len(cards) == 1
    text = card_text(cards[0])
    assert f"{expected_solution_dose_mg():.2f} mg" in text, text


def test_rapamune_two_mg_tablets_are_recognised_as_sirolimus(deployment):
    """404432 (Rapamune 2 mg tablet), 1 tablet once daily = 2 mg/day: recognised by its RxNorm code."""
    cards = _call(deployment, "order-select-rapamune-2mg.json")["cards"]
    assert len(cards) == 1
    assert re.search(r"\b2 mg\b", card_text(cards[0])), card_text(cards[0])


@pytest.mark.parametrize("name", ["order-select-initial.json", "order-select-condition-only.json"])
def test_a_draft_without_medication_gets_no_error_and_no_card(deployment, name):
    """First load (status, subject, authoredOn only) and a reasonCode as a single object: 200 and no
    cards (decision 0103), without reading the FHIR server."""
    before = deployment.reads.settled()
    assert _call(deployment, name) == {"cards": []}
    assert deployment.reads.settled() == before, deployment.reads.urls_since(before)


def test_another_drug_gets_an_empty_card_list(deployment):
    before = deployment.reads.settled()
    assert _call(deployment, "order-select-other-drug.json") == {"cards": []}
    assert deployment.reads.settled() == before, deployment.reads.urls_since(before)


def test_a_sirolimus_draft_without_a_dose_says_what_is_missing(deployment):
    """The product chosen, no dose yet: one info card naming, in plain words, the dose still to enter."""
    request = load_request("order-select-sirolimus.json", patient_id=PATIENT, fhir_base_url=deployment.fhir.base_url,
                           today=today(), prefetch=deployment.prefetch())
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    del draft["dosageInstruction"]
    cards = answered(deployment.sandbox.hook("sirolimus-order-select", request), "POST", "hook-response")["cards"]
    assert len(cards) == 1
    text = card_text(cards[0])
    says_missing = re.compile(r"\b(no|without( a)?|missing|lacks?( a)?|enter( a)?|add( a)?)\s+(dose|dosage)\b"
                              r"|\bdose\b[^.\n]{0,40}\b(missing|not (yet )?(entered|given|filled in))", re.I)
    assert says_missing.search(text), f"the card does not say that the draft has no dose yet:\n{text}"


def test_patient_view_shows_the_high_trough(deployment):
    cards = _call(deployment, "patient-view.json", "sirolimus-monitoring")["cards"]
    assert cards, "a trough above the maintenance target must be shown when the chart opens"
    assert any("8.1" in card_text(card) for card in cards), [c["summary"] for c in cards]
