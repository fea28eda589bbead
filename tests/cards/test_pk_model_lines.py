"""Cards carry the PK model's predicted trough (80 %) next to the linear rule; the model never moves the
proposal (issue #16). Scenarios: the baseline child of tests/clinical/test_scenarios.py (6 y, 20 kg,
KHE maintenance 5-7 ng/mL, 0.5 mg twice daily)."""
from __future__ import annotations

import re

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
