"""Decision 0019: during a started taper, a protecting criterion that is unknown never passes silently.

Eligibility is three-valued and unknown is never treated as met (clinical-protocol.md 1.B). A lab the
prescriber cannot vouch for at the bedside (liver, kidney function: decision 0010) holds the step until
it is known; the bedside part of rule 6's "regular clinical assessment" (no infectious disease) is
confirmed by the prescriber with the step, and the card says so.
"""
from __future__ import annotations

from datetime import date

from cards import build_cards
from cds_service.clinical.decision import CriterionResult, Eligibility
from cds_service.clinical.rules.taper_guard import taper_pauses
from tests.clinical import fhir
from tests.clinical.test_scenarios import TODAY, run, taper

URL = "https://cds.example.org/decisions/1"
START = date(2026, 6, 1)  # the taper began; 1.0 mg/day since 2024, trough 6.0 ng/mL on 2026-11-15: step due
ORDERS = [(date(2024, 1, 1), 0.5)]
LEVEL = (date(2026, 11, 15), 6.0)
SETTLE_LIVER = "no ALT, AST, total bilirubin within 90 days"


def _cards(resources: list[dict[str, object]], draft: dict[str, object] | None) -> list[dict[str, object]]:
    decision = run(resources, draft)
    return build_cards(decision, hook="order-select" if draft else "patient-view", draft=draft, decision_url=URL,
                       today=TODAY)


def test_no_liver_or_kidney_labs_hold_the_step_and_say_what_would_settle_it() -> None:
    """No lab in the record: the 10 % step that is due (1.0 -> 0.9 mg/day) is not proposed; both organ
    criteria are named, with the tests to order."""
    d = run(taper(START, ORDERS, LEVEL, labs=False))
    assert d.proposed_dose is None
    assert d.taper_paused_by == ("normal liver function unknown", "normal kidney function unknown")
    reasons = " ".join(d.no_proposal_reasons)
    assert SETTLE_LIVER in reasons and "no creatinine within 90 days" in reasons
    assert "keep the current dose" in reasons


def test_a_lab_older_than_90_days_is_unknown_and_holds_the_step() -> None:
    """Liver labs 2026-11-01 (normal), creatinine only on 2026-08-01 (113 days old > lab_max_age_days 90)."""
    labs = [r for r in fhir.normal_labs() if "14682-9" not in str(r["code"])]
    old_creatinine = fhir.obs("14682-9", 40, "umol/L", date(2026, 8, 1))
    d = run(taper(START, ORDERS, LEVEL, [*labs, old_creatinine], labs=False))
    assert d.proposed_dose is None and d.taper_paused_by == ("normal kidney function unknown",)


def test_the_cards_say_the_step_waits_for_the_labs() -> None:
    """Order card and patient-view card: summary (<= 140 chars) names the unknown criterion and keeps the
    dose; the detail says what would settle it; no new dose is offered."""
    resources = taper(START, ORDERS, LEVEL, labs=False)
    draft = fhir.draft(0.5, "mL", 2)
    for sent in (draft, None):
        [card] = [c for c in _cards(resources, sent) if "paused" in str(c["summary"])]
        summary = str(card["summary"])
        assert summary == "KHE taper paused: normal liver function unknown (+1 more); keep the current dose"
        assert len(summary) <= 140
        assert SETTLE_LIVER in str(card["detail"])
        labels = [s["label"] for s in card.get("suggestions", [])]  # type: ignore[union-attr]
        assert not any("0.45" in str(label) for label in labels), labels


def test_infection_unknown_the_step_is_proposed_and_the_prescriber_confirms_it() -> None:
    """Labs normal, no infection recorded (problem-list absence is unknown): the 10 % step is proposed
    (0.45 mL twice daily), the recommended suggestion's label says the prescriber confirms no infectious
    disease, and the detail names it with what settles it."""
    resources = taper(START, ORDERS, LEVEL)
    d = run(resources)
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == 0.9
    assert [c.criterion_id for c in d.taper_to_confirm] == ["infectious_disease"]
    draft = fhir.draft(0.5, "mL", 2)
    for sent in (draft, None):
        [card] = _cards(resources, sent)
        assert len(str(card["summary"])) <= 140
        [best] = [s for s in card["suggestions"] if s.get("isRecommended")]  # type: ignore[union-attr]
        assert "0.45" in best["label"] and "prescriber confirms no infectious disease" in best["label"]
        assert "To confirm with this step" in str(card["detail"])
        assert "confirm the child has no infectious disease" in str(card["detail"])


def test_an_infection_recorded_pauses_and_nothing_is_left_to_confirm() -> None:
    """An active infection Condition: not met pauses (0016); nothing is 'confirmed' over it."""
    infection = fhir.condition("http://snomed.info/sct", "40733004", "active", date(2026, 11, 10))
    d = run(taper(START, ORDERS, LEVEL, [infection]))
    infectious = next(c for c in d.eligibility[0].criteria if c.criterion_id == "infectious_disease")
    assert infectious.answer == "not_met"
    assert d.proposed_dose is None and d.taper_to_confirm == ()
    assert d.taper_paused_by == ("infectious disease recorded",)


def test_the_disease_named_in_a_pause_is_the_criterion_s_typed_condition_not_its_wording() -> None:
    """The pause words what was recorded from `CriterionResult.condition`, never by cutting "no " off the text."""
    criterion = CriterionResult("hypertension", "blood pressure within limits", "exclusion", "not_met",
                                condition="hypertension")
    [pause] = taper_pauses(Eligibility("khe-guided-discontinuation", "not_met", (criterion,)),
                           {"hypertension": "during"}, START)
    assert pause.why == "hypertension recorded"
