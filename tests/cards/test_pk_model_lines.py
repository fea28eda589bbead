"""Cards carry the PK model's predicted trough (80 %) next to the linear rule; the model never moves the
proposal (issue #16). Scenarios: the baseline child of tests/clinical/test_scenarios.py (6 y, 20 kg,
KHE maintenance 5-7 ng/mL, 0.5 mg twice daily)."""
from __future__ import annotations

import re
from datetime import date

import pytest

from cards.dosing import dosing_cards
from tests.clinical import fhir
from tests.clinical.test_scenarios import TODAY, baseline, run

INTERVAL = r"predicted trough \d+(\.\d)? ng/mL \(80 %: \d+(\.\d)?\u2013\d+(\.\d)?\)"


def _detail(trough: float | None, draft_ml: float) -> tuple[str, object]:
    draft = fhir.draft(draft_ml, "mL", 2)
    decision = run(baseline(trough), draft)
    cards = dosing_cards(decision, draft=draft, decision_url="https://cds.example.org/d/1", today=TODAY)
    return "\n".join(c["detail"] for c in cards), decision


def test_interval_is_shown_for_the_protocol_dose_and_for_the_draft():
    text, _ = _detail(4.0, 0.6)
    assert re.search(r"protocol dose " + INTERVAL, text)
    assert re.search(r"draft " + INTERVAL, text)
    assert "Predicted trough:** \u2248 6 ng/mL" in text  # the linear rule's figure stays


def test_the_proposal_is_the_protocols_linear_dose_whatever_the_model_predicts():
    """Trough 4 -> linear rule 1.0 x 6/4 = 1.5 mg/day; the model, fitted to one trough with its prior,
    predicts a different trough for it, and the proposal still is the protocol's 1.5 mg/day."""
    _, decision = _detail(4.0, 0.6)
    assert decision.model is not None and decision.model.proposal is not None
    assert decision.proposed_dose is not None
    assert decision.proposed_dose.daily_dose_mg == pytest.approx(1.5)
    assert decision.model.proposal.median_ng_ml != pytest.approx(6.0, abs=0.1)


def test_without_a_usable_trough_the_card_says_why_and_keeps_the_linear_rule_alone():
    text, decision = _detail(None, 0.5)
    assert decision.model is not None and decision.model.proposal is None
    assert "PK model:** not used (no usable trough to fit the model to); linear rule alone" in text


def test_decision_page_chart_draws_the_fitted_curve_over_the_observed_levels():
    from cards.chart import render_chart_svg

    _, decision = _detail(4.0, 0.6)
    assert decision.model is not None and len(decision.model.curve) > 150
    assert "PK model, fitted trough" in render_chart_svg(decision.to_dict())


def _cards_for(resources: list, draft: dict) -> tuple[str, object]:
    decision = run(resources, draft)
    cards = dosing_cards(decision, draft=draft, decision_url="https://cds.example.org/d/1", today=TODAY)
    return "\n".join(c["detail"] for c in cards), decision


def _khe_child(ml_twice_daily: float, *levels: tuple[date, float]) -> list:
    return [fhir.weight(20, date(2026, 11, 15)), fhir.khe(), fhir.sirolimus(date(2024, 1, 1), ml_twice_daily),
            *(fhir.trough(value, on) for on, value in levels)]


def test_where_the_model_would_go_beyond_the_protocols_cap_the_proposal_still_keeps_to_it():
    """0.2 mg/day, trough 3.2 ng/mL: the linear rule gives 0.2 x 6/3.2 = 0.375 -> 0.38 mg/day (x1.9, within the
    protocol's x2 cap for a change from one level). The model, pulled towards the typical clearance of a 20 kg
    child, would go to about 0.48 mg/day (x2.4): its dose is shown held at x2 (0.4 mg/day) with the limit
    named, and the proposal is the protocol's 0.38 mg/day."""
    text, decision = _cards_for(_khe_child(0.1, (date(2026, 11, 15), 3.2)), fhir.draft(0.1, "mL", 2))
    dose = decision.model.dose
    assert dose is not None and dose.unbounded_daily_mg > 2 * 0.2
    assert dose.regimen.daily_dose_mg == pytest.approx(0.4)
    assert decision.proposed_dose is not None and decision.proposed_dose.daily_dose_mg == pytest.approx(0.38)
    assert decision.proposed_dose.rule == "linear_adjustment_to_target"
    assert ("0.2 mg twice daily, held by the protocol's \u00d72 cap on a change from one level "
            "(model alone 0.48 mg/day)") in text
    assert "not proposed" in text


def test_where_the_model_would_go_beyond_the_cap_and_the_protocol_proposes_nothing_nothing_is_proposed():
    """Trough 1.5 on 0.2 mg/day: the linear rule would multiply the dose by 4, so the protocol asks for the trough
    to be repeated; the model's dose is shown held at x2, and no dose is proposed."""
    text, decision = _cards_for(_khe_child(0.1, (date(2026, 11, 15), 1.5)), fhir.draft(0.1, "mL", 2))
    assert decision.proposed_dose is None
    assert decision.model.dose is not None and decision.model.dose.regimen.daily_dose_mg == pytest.approx(0.4)
    assert "No dose is proposed" in text and "held by the protocol's \u00d72 cap" in text


def test_the_models_dose_aims_at_the_middle_of_the_target_range():
    text, decision = _cards_for(_khe_child(0.5, (date(2026, 11, 15), 6.0)), fhir.draft(0.5, "mL", 2))
    dose = decision.model.dose
    assert dose is not None and dose.aim_ng_ml == pytest.approx(6.0) and not dose.held_by
    assert dose.prediction.median_ng_ml == pytest.approx(6.0, abs=0.3)  # rounded to 0.01 mL
    assert "PK model's dose** for 6 ng/mL: 0.48 mg twice daily; not proposed." in text


def test_disagreement_is_said_when_the_linear_figure_falls_outside_the_models_interval():
    """Levels of 9.5 and 10 ng/mL at 1 mg/day, then 3.5: the linear rule reads only the last one (1.72 mg/day,
    predicted 6 ng/mL); the model, fitted to all three, predicts about 13 (80 %: 6.5-21) for that dose."""
    text, decision = _cards_for(_khe_child(0.5, (date(2026, 5, 15), 9.5), (date(2026, 8, 15), 10.0),
                                           (date(2026, 11, 15), 3.5)), fhir.draft(0.5, "mL", 2))
    p = decision.model.proposal
    assert p is not None and not p.low_ng_ml <= decision.proposed_dose.predicted_trough_ng_ml <= p.high_ng_ml
    assert "Model and linear rule disagree by more than the interval" in text


def test_no_disagreement_is_said_when_the_linear_figure_is_inside_the_interval():
    text, decision = _cards_for(baseline(4.0), fhir.draft(0.6, "mL", 2))
    p = decision.model.proposal
    assert p is not None and p.low_ng_ml <= decision.proposed_dose.predicted_trough_ng_ml <= p.high_ng_ml
    assert "disagree" not in text


def test_the_taper_has_no_model_dose_the_protocol_sets_the_step():
    """Guided discontinuation has no target range: the model predicts the step's trough but offers no dose."""
    from tests.clinical.test_scenarios import TODAY as today

    resources = [fhir.weight(20, date(2026, 11, 15)), fhir.khe(), fhir.consent(), fhir.careplan(date(2026, 6, 1)),
                 fhir.sirolimus(date(2024, 1, 1), 0.5), fhir.trough(6.0, date(2026, 11, 1)), *fhir.normal_labs()]
    decision = run(resources, fhir.draft(0.5, "mL", 2), today=today)
    assert decision.protocol is not None and decision.protocol.protocol_id == "khe-guided-discontinuation"
    assert decision.model is not None and decision.model.proposal is not None and decision.model.dose is None


def test_decision_page_shows_the_models_dose_held_by_the_protocol():
    from datetime import UTC, datetime

    from cards.page import render_decision_page

    _, decision = _cards_for(_khe_child(0.1, (date(2026, 11, 15), 3.2)), fhir.draft(0.1, "mL", 2))
    html = render_decision_page(decision.to_dict(), created_at=datetime(2026, 11, 22, tzinfo=UTC))
    assert "Model's dose for 6 ng/mL (the middle of 5–7): 0.2 mg (0.2 mL" in html
    assert "held back by the protocol" in html and "Protocol dose: predicted trough" in html


def test_an_ihhe_infants_card_says_the_prior_was_fitted_in_khe_not_ihhe():
    """IHHE infant, 6 kg, 0.3 mg twice daily, trough 6 ng/mL: the card's one PK line names the Chen 2020 prior
    as fitted in KHE children, not in IHHE (decision 0113): the model extrapolates for this child, as the
    decision page says; a KHE child's line carries no such caveat."""
    from tests.clinical.test_scenarios import ihhe_infant

    resources = [*ihhe_infant(), fhir.sirolimus(date(2026, 10, 1), 0.3), fhir.trough(6.0, date(2026, 11, 18))]
    draft = fhir.draft(0.3, "mL", 2)
    decision = run(resources, draft, born=date(2026, 3, 1))
    text = "\n".join(c["detail"] for c in dosing_cards(decision, draft=draft, decision_url="https://cds.example.org/d/1",
                                                         today=TODAY))
    assert re.search(r"\*\*PK model \(Chen 2020, fitted in KHE, not IHHE; \d+ troughs?\):\*\* protocol dose "
                     + INTERVAL, text)
    khe_text, _ = _detail(4.0, 0.6)
    assert "**PK model (Chen 2020, 1 trough):**" in khe_text and "fitted in" not in khe_text
