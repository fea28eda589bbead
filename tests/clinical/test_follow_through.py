"""Issue #11, from the protocol text: the trough after a change, levels in true time order, and the
loading dose only at a start.

Baseline child (tests/clinical/test_scenarios.py): 6 y, 20 kg, KHE in remission, maintenance arm
(5-7 ng/mL, aim 6), sirolimus 1 mg/mL solution 0.5 mL twice daily (1.0 mg/day) since 2024-01-01.
Today 2026-11-22. Protocol data: follow_up_days = 14 (label "hold a dose for 7-14 days", decision
0015), monitoring_interval_days = 30 (KHE rule 3 "a trough level every month").
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from cards import build_cards
from cds_service.clinical.protocols import load_protocols
from tests.clinical import fhir
from tests.clinical.test_scenarios import TODAY, baseline, ihhe_infant, run, taper

FOLLOW_UP = timedelta(days=14)


@pytest.mark.parametrize(("trough_ng_ml", "daily_mg"), [
    (4.0, 1.5),   # increase: 1.0 x 6/4 = 1.5 mg/day (+50 %)
    (9.0, 0.66),  # decrease: 1.0 x 6/9 = 0.667 -> 0.33 mL bid = 0.66 mg/day (-34 %)
])
def test_after_a_proposed_change_the_next_trough_is_14_days_later_not_the_monthly_date(
        trough_ng_ml: float, daily_mg: float) -> None:
    """Label: "hold a dose for 7-14 days before the next adjustment": measured 14 days after the change
    (2026-12-06), not a month after the last level (2026-11-15 + 30 = 2026-12-15)."""
    d = run(baseline(trough_ng_ml), fhir.draft(0.5, "mL", 2))
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(daily_mg)
    assert d.next_trough_due == TODAY + FOLLOW_UP == date(2026, 12, 6)


def test_within_target_the_monthly_trough_stands() -> None:
    """6.0 ng/mL on 2026-11-15 is within 5-7: keep the dose; rule 3: next trough 2026-12-15."""
    d = run(baseline(6.0), fhir.draft(0.5, "mL", 2))
    assert d.proposed_dose is not None and d.proposed_dose.rule == "within_target_keep_dose"
    assert d.next_trough_due == date(2026, 12, 15)


def test_a_switch_from_tablets_to_solution_is_followed_by_a_trough_14_days_later() -> None:
    """Tablets and solution are "not bioequivalent ... a switch needs a new trough". 0.5 mg tablet once
    daily, trough 8.0: 0.5 x 6/8 = 0.375 mg/day, which whole 0.5 mg tablets cannot give, so the
    proposal is the oral solution; the next trough is 14 days after the switch."""
    resources = [r for r in baseline(8.0) if r.get("resourceType") != "MedicationRequest"]
    resources.append(fhir.sirolimus(date(2024, 1, 1), 1, unit="{tbl}", per_day=1, product=fhir.TAB_05))
    d = run(resources, fhir.draft(1, "{tbl}", 1, product=fhir.TAB_05))
    assert d.proposed_dose is not None and d.proposed_dose.regimen.formulation == "solution"
    assert d.next_trough_due == TODAY + FOLLOW_UP


def test_a_change_already_made_is_followed_by_a_trough_14_days_after_it() -> None:
    """The dose went up on 2026-11-18 (after the last level): the next trough is 2026-12-02."""
    resources = [r for r in baseline(4.0) if r.get("resourceType") != "MedicationRequest"]
    resources += fhir.chain(fhir.sirolimus(date(2024, 1, 1), 0.5), fhir.sirolimus(date(2026, 11, 18), 0.75))
    d = run(resources)
    assert d.next_trough_due == date(2026, 11, 18) + FOLLOW_UP


def test_two_levels_on_one_day_returned_oldest_first_the_later_is_used() -> None:
    """10.0 ng/mL at 07:00 repeated as 6.2 at 11:00 (+01:00), the server giving the older first: the
    later one is the level (6.2, within 5-7: keep 1.0 mg/day), never a cut from 10.0; the card says
    that another level exists that day."""
    resources = baseline(None) + [
        fhir.trough(10.0, date(2026, 11, 15), effectiveDateTime="2026-11-15T07:00:00+01:00"),
        fhir.trough(6.2, date(2026, 11, 15), effectiveDateTime="2026-11-15T11:00:00+01:00"),
    ]
    d = run(resources, fhir.draft(0.5, "mL", 2))
    assert d.troughs_used[0].value_ng_ml == pytest.approx(6.2)
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(1.0)
    same_day = [f for f in d.findings if f.code == "another-level-same-day"]
    assert len(same_day) == 1 and "10" in same_day[0].message


def test_the_time_zone_decides_which_level_is_later() -> None:
    """09:00+08:00 (01:00 UTC) is earlier than 07:00+00:00 (07:00 UTC): the 07:00 UTC level is used."""
    resources = baseline(None) + [
        fhir.trough(6.2, date(2026, 11, 15), effectiveDateTime="2026-11-15T07:00:00+00:00"),
        fhir.trough(10.0, date(2026, 11, 15), effectiveDateTime="2026-11-15T09:00:00+08:00"),
    ]
    d = run(resources, fhir.draft(0.5, "mL", 2))
    assert d.troughs_used[0].value_ng_ml == pytest.approx(6.2)


def test_no_loading_dose_for_a_child_already_on_sirolimus() -> None:
    """Label: a loading dose "where used" is 3 x (new - current); during therapy the dose is changed and
    held 7-14 days, so an increase (1.0 -> 1.5 mg/day) carries none."""
    d = run(baseline(4.0), fhir.draft(0.5, "mL", 2))
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(1.5)
    assert d.proposed_dose.loading_dose_mg is None


def test_no_loading_dose_at_a_start_unless_the_protocol_data_enables_it() -> None:
    """IHHE 0.1 mg/kg/day start: the protocol text names no loading dose, so its data disables it."""
    assert load_protocols()["ihhe-sequential-sirolimus"].loading_dose_at_start is False
    d = run(ihhe_infant(), fhir.draft(0.3, "mL", 2), born=date(2026, 3, 1))
    assert d.proposed_dose is not None and d.proposed_dose.loading_dose_mg is None
    assert d.next_trough_due == TODAY + FOLLOW_UP


# --- a started taper keeps going (enrolment criteria decide the start only) ------------------------

RELAPSE_ORDERS = [(date(2024, 1, 1), 0.5), (date(2025, 6, 1), 0.45), (date(2025, 7, 1), 0.41)]


def _taper(start: date, orders: list[tuple[date, float]], level: tuple[date, float], *, remission_since: date,
           kg: float = 20) -> list[dict[str, object]]:
    res: list[dict[str, object]] = [fhir.weight(kg, date(2026, 11, 15)), fhir.khe(abated=remission_since),
                                    fhir.careplan(start), fhir.trough(level[1], level[0]), *fhir.normal_labs()]
    return res + fhir.chain(*[fhir.sirolimus(on, ml) for on, ml in orders])


def test_relapse_stabilisation_then_a_new_remission_allows_the_5_percent_step() -> None:
    """Rule 7: relapse -> back to the previously effective dose (0.9 mg/day on 2026-08-01); rule 8: after
    a 3-month stabilisation (113 days) reductions of at most 5 %. The clinician recorded the new
    remission (abatement 80 days ago): "2 years of remission" decides entry only, so the step stands:
    0.9 x 0.95 = 0.855 -> 0.43 mL twice daily = 0.86 mg/day."""
    orders = [*RELAPSE_ORDERS, (date(2026, 8, 1), 0.45)]
    d = run(_taper(date(2025, 6, 1), orders, (date(2026, 11, 15), 5.0), remission_since=TODAY - timedelta(days=80)))
    remission = next(c for c in d.eligibility[0].criteria if c.criterion_id == "remission")
    assert remission.answer == "not_met"  # 80 days < 2 years: the taper could not START today
    assert d.proposed_dose is not None and d.proposed_dose.rule == "taper_step_rule_8"
    assert d.proposed_dose.daily_dose_mg == pytest.approx(0.86)
    assert d.next_trough_due == TODAY + FOLLOW_UP


def test_a_boy_who_turns_13_during_the_taper_keeps_tapering() -> None:
    """Taper begun at 12 y 8 m (2026-06-22), now 13 y 1 m: "age 0-12" decided entry. 1.0 mg/day, trough
    6.0 on 2026-11-15, last change before the taper: rule 1, 10 % -> 0.9 mg/day (0.45 mL twice daily)."""
    born = date(2013, 10, 22)
    resources = _taper(date(2026, 6, 22), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0),
                       remission_since=date(2023, 1, 1), kg=45)
    d = run(resources, born=born)
    age = next(c for c in d.eligibility[0].criteria if c.criterion_id == "age")
    assert age.answer == "not_met"
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(0.9)


@pytest.mark.parametrize(("recorded", "paused"), [
    (date(2026, 10, 1), True),   # hypertension diagnosed during the taper: a new exclusion pauses it
    (date(2025, 1, 1), False),   # already on the record at entry: that decided the start, not now
])
def test_a_new_exclusion_diagnosis_pauses_the_taper_and_says_what_to_do(recorded: date, paused: bool) -> None:
    hypertension = fhir.condition("http://snomed.info/sct", "38341003", "active", recorded)
    resources = _taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0),
                       remission_since=date(2023, 1, 1)) + [hypertension]
    d = run(resources)
    if paused:
        assert d.proposed_dose is None
        assert any("paused" in r and "hypertension" in r for r in d.no_proposal_reasons)
    else:
        assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(0.9)


def test_every_criterion_has_a_role_in_the_protocol_data() -> None:
    guided = load_protocols()["khe-guided-discontinuation"]
    roles = guided.eligibility["criterion_roles"]
    d = run(_taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0),
                   remission_since=date(2023, 1, 1)))
    assert {c.criterion_id for c in d.eligibility[0].criteria} <= set(roles)
    assert {roles[k] for k in ("age", "remission", "consent")} == {"enrolment"}
    assert {roles[k] for k in ("liver_function", "kidney_function", "infectious_disease")} == {"during"}


def test_an_infant_who_has_not_started_sirolimus_is_not_told_a_trough_is_missing() -> None:
    """No sirolimus has been given, so no level can exist: nothing about a trough is missing. patient-view
    has no next trough to announce; the start order (0.1 mg/kg/day x 6 kg = 0.3 mL twice daily) has its
    first trough 14 days after the first dose (label: hold 7-14 days, decision 0015)."""
    seen = run(ihhe_infant(), born=date(2026, 3, 1))
    assert not any("trough" in m.what for m in seen.missing_data)
    assert seen.next_trough_due is None
    ordered = run(ihhe_infant(), fhir.draft(0.3, "mL", 2), born=date(2026, 3, 1))
    assert not any("trough" in m.what for m in ordered.missing_data)
    assert ordered.next_trough_due == TODAY + FOLLOW_UP


def test_a_child_on_sirolimus_without_a_level_is_told_one_is_missing() -> None:
    d = run(baseline(None), fhir.draft(0.5, "mL", 2))
    assert [m.what for m in d.missing_data] == ["a sirolimus trough level"]


@pytest.mark.parametrize(("ml_per_dose", "per_day", "lead"), [
    # twice the infant protocol dose: 0.6 mL twice daily = 1.2 mg/day / 6 kg = 0.2 mg/kg/day = 2 x 0.1
    (0.6, 2, "Draft 1.2 mg/day: 0.2 mg/kg/day, 2\u00d7 the protocol start (0.1 mg/kg/day)"),
    # once daily at half the daily dose: 0.3 mL once = 0.3 mg/day / 6 kg = 0.05 mg/kg/day = 0.5 x 0.1
    (0.3, 1, "Draft 0.3 mg/day: 0.05 mg/kg/day, 0.5\u00d7 the protocol start (0.1 mg/kg/day)"),
])
def test_an_infant_start_draft_off_the_protocol_dose_is_called_so_in_the_summary(
        ml_per_dose: float, per_day: int, lead: str) -> None:
    """IHHE start 0.1 mg/kg/day x 6 kg = 0.6 mg/day = 0.3 mL twice daily: the warning's summary says how
    far the draft is from it and gives the protocol dose."""
    draft = fhir.draft(ml_per_dose, "mL", per_day)
    [card] = build_cards(run(ihhe_infant(), draft, born=date(2026, 3, 1)), hook="order-select", draft=draft,
                         decision_url="https://cds.example.org/decisions/1", today=TODAY)
    assert card["indicator"] == "warning"
    assert card["summary"] == f"{lead}. Protocol: 0.3 mg (0.3 mL) twice daily"
    assert len(card["summary"]) <= 140


@pytest.mark.parametrize(("extra", "why"), [
    # ALT 60 U/L > 25 (CALIPER 1-13 y): normal liver function protects the child throughout the taper
    (fhir.obs("1742-6", 60, "U/L", date(2026, 11, 15)), "normal liver function not met"),
    # hypertension diagnosed on 2026-10-01, after the taper began on 2026-06-01: a new exclusion
    (fhir.condition("http://snomed.info/sct", "38341003", "active", date(2026, 10, 1)),
     "hypertension recorded since the taper began"),
])
def test_a_paused_taper_says_which_criterion_and_to_keep_the_dose_in_the_summary(extra: dict[str, object],
                                                                                  why: str) -> None:
    """Decision 0016: a criterion that protects the child pauses the started taper; the summary of the
    patient-view card and of the order card names it and says to keep the current dose."""
    resources = taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0), [extra])
    draft = fhir.draft(0.5, "mL", 2)
    calls = ((run(resources), "patient-view", None), (run(resources, draft), "order-select", draft))
    for decision, hook, sent in calls:
        assert decision.proposed_dose is None and decision.taper_paused_by == (why,)
        cards = build_cards(decision, hook=hook, draft=sent, decision_url="https://cds.example.org/decisions/1",
                            today=TODAY)
        assert [c["summary"] for c in cards] == [f"KHE taper paused: {why}; keep the current dose"]
