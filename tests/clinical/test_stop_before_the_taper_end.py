"""What completes the guided taper (decision 0021, review finding 2, issue #14).

Protocol (clinical-protocol.md 1.B): "The taper lasts at least 6 months" (rule 5), and it ends with the
stop rule (decision 0004: the next step cannot be measured out or falls below 0.01 mg/kg/day). A stop
that the taper's own rules proposed is a completed guided discontinuation: a relapse after it brings
rule 7's restart at the dose given before the stop (decision 0018). A stop before that (sirolimus
stopped at month 2 for toxicity, or at month 8 on a dose far above the floor) is not: the relapse sign
is said, the card does not call the stop the taper's end, and no restart dose is proposed.

Child: girl born 2020-06-01, 20 kg, KHE in remission since 2023-01-01, oral solution 1 mg/mL twice
daily. Today 2026-11-22; platelets 80 x 10^9/L on 2026-11-20 (a return trigger, decision 0002).
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from cards import build_cards
from cds_service.clinical.decision import Decision, Phase, Rule
from tests.clinical import fhir
from tests.clinical.test_relapse_after_stop import RESTART_DAILY_MG, completed_taper, platelets, relapse_card
from tests.clinical.test_scenarios import TODAY, run

SIGN = date(2026, 11, 20)


def stopped_taper(taper_start: date, steps_ml: list[tuple[date, float]], stopped_on: date) -> list[dict[str, Any]]:
    """0.5 mL twice daily since 2024-01-01, the taper's steps, the last order ending the day before the stop."""
    orders = fhir.chain(*[fhir.sirolimus(on, ml) for on, ml in [(date(2024, 1, 1), 0.5), *steps_ml]])
    last = orders[-1]
    last["status"] = "stopped"
    last["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"] = (
        stopped_on - timedelta(days=1)).isoformat()
    return [fhir.weight(20, date(2026, 11, 15)), fhir.khe(), fhir.careplan(taper_start), *orders,
            fhir.trough(5.4, stopped_on - timedelta(days=10)), platelets(80, SIGN)]


# month 2: began 2026-06-01, one step (1.0 -> 0.9 mg/day) on 2026-06-01, stopped 2026-08-01 (day 61)
MONTH_2 = stopped_taper(date(2026, 6, 1), [(date(2026, 6, 1), 0.45)], date(2026, 8, 1))
# month 8: began 2025-12-01, monthly steps to 0.6 mg/day (0.03 mg/kg/day, far above 0.01), stopped 2026-08-01
MONTH_8 = stopped_taper(date(2025, 12, 1), [(date(2025, 12, 1), 0.45), (date(2026, 1, 1), 0.41),
                                            (date(2026, 2, 1), 0.37), (date(2026, 3, 1), 0.34),
                                            (date(2026, 4, 1), 0.31), (date(2026, 5, 1), 0.3)], date(2026, 8, 1))


@pytest.mark.parametrize(("resources", "day"), [(MONTH_2, 61), (MONTH_8, 243)], ids=["month-2", "month-8"])
def test_a_stop_before_the_taper_end_proposes_no_restart(resources: list[dict[str, Any]], day: int) -> None:
    d = run(resources)
    assert d.phase is Phase.STOPPED and d.taper_stop is not None
    assert d.taper_stop.completed is False and d.taper_stop.taper_days == day
    assert d.proposed_dose is None
    assert any(m.what == f"why sirolimus was stopped on 2026-08-01, day {day} of the taper, before its end"
               for m in d.missing_data)
    relapse = [f for f in d.findings if f.code == "relapse-signal"]
    assert relapse and all("stopped before the taper's end" in f.message for f in relapse)


@pytest.mark.parametrize("hook", ["patient-view", "order-select"])
def test_the_card_does_not_call_an_early_stop_the_taper_end(hook: str) -> None:
    draft = fhir.draft(0.45, "mL", 2) if hook == "order-select" else None
    d = run(MONTH_2, draft)
    cards = build_cards(d, hook=hook, draft=draft, decision_url="https://cds.example/d/1", today=TODAY)
    text = " ".join(c["summary"] + " " + c["detail"] for c in cards)
    assert "before its end" in text
    assert not any(a.get("resource", {}).get("resourceType") == "MedicationRequest"
                   for c in cards for s in c.get("suggestions", []) for a in s["actions"])
    if hook == "patient-view":
        card = relapse_card(cards)
        assert "day 61 of the guided taper" in card["detail"] and "not a completed guided discontinuation" \
            in card["detail"] and "at least 6 months" in card["detail"]


def test_a_completed_taper_still_restarts_at_the_dose_given_before_the_stop() -> None:
    """Decision 0018's child: 16 months of taper, stopped when the next step fell below 0.01 mg/kg/day."""
    d = run(completed_taper(platelets(80, SIGN)))
    assert d.taper_stop is not None and d.taper_stop.completed is True
    assert d.proposed_dose is not None and d.proposed_dose.rule is Rule.RESTART_AT_EFFECTIVE_DOSE
    assert d.proposed_dose.daily_dose_mg == pytest.approx(RESTART_DAILY_MG)
    assert not any("before its end" in m.what for m in d.missing_data)


def test_a_stop_at_the_floor_before_six_months_is_not_the_taper_end() -> None:
    """Rule 5 first: the stop rule met at month 3 (a very small dose) does not complete the taper."""
    resources = stopped_taper(date(2026, 5, 1), [(date(2026, 5, 1), 0.1), (date(2026, 6, 1), 0.09)], date(2026, 8, 1))
    d = run(resources)
    assert d.taper_stop is not None and d.taper_stop.completed is False and d.proposed_dose is None


def test_without_any_weight_the_end_cannot_be_told_and_no_restart_is_proposed() -> None:
    """The stop rule's floor needs a weight: unknown is never 'completed' (nor called an early stop)."""
    d: Decision = run(completed_taper(platelets(80, SIGN), weighed=False))
    assert d.taper_stop is not None and d.taper_stop.completed is None and d.proposed_dose is None
    assert not any("before its end" in m.what for m in d.missing_data)
