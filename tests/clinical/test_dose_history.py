"""How the sirolimus dose history is read (safety review): dosage lines, overlapping orders, same-dose
switches, the start of therapy, and which intents are prescriptions.

Expected values computed by hand from clinical-protocol.md sections 1-3 (comments give the arithmetic).
Baseline child as in test_scenarios: born 2020-06-01, 20 kg, KHE in remission (default arm: maintenance,
target 5-7 ng/mL), sirolimus oral solution 1 mg/mL; steady state 14 days after a change.
"""
from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest

from cds_service.clinical.decide import decide_dosing, decide_monitoring
from cds_service.clinical.decision import Decision, DoseChange
from cds_service.clinical.protocols import load_protocols
from cds_service.clinical.reading.draft import read_draft
from cds_service.clinical.reading.record import PatientRecord, build_record
from cds_service.clinical.reading.timeline import DoseEvent, dose_changes, dose_timeline
from cds_service.clinical.rules.taper import previously_effective
from tests.clinical import fhir

TODAY = date(2026, 11, 22)
BORN = date(2020, 6, 1)
SPLIT = "the dose is split over several dosage lines; enter one dose and frequency"
OVERLAP = "two sirolimus orders in force at once"
UNREADABLE = "the sirolimus dose history cannot be read"


def record_of(resources: list[dict[str, Any]]) -> PatientRecord:
    return build_record(fhir.patient(BORN), resources, TODAY)


def decide(resources: list[dict[str, Any]], draft: dict[str, Any] | None = None) -> Decision:
    record = record_of(resources)
    if draft is None:
        return decide_monitoring(record, load_protocols(), TODAY)
    return decide_dosing(record, draft, load_protocols(), TODAY)


def base() -> list[dict[str, Any]]:
    return [fhir.weight(20, date(2026, 11, 15)), fhir.khe()]


def two_lines(order: dict[str, Any], second_dose: float) -> dict[str, Any]:
    """The order's single line at 08:00 once daily, plus a second line of `second_dose` at 20:00."""
    first = order["dosageInstruction"][0]
    first["timing"]["repeat"]["frequency"] = 1
    second = copy.deepcopy(first)
    first["sequence"], second["sequence"] = 1, 2
    first["timing"]["repeat"]["timeOfDay"], second["timing"]["repeat"]["timeOfDay"] = ["08:00:00"], ["20:00:00"]
    second["doseAndRate"][0]["doseQuantity"]["value"] = second_dose
    order["dosageInstruction"].append(second)
    return order


def completed(order: dict[str, Any], last_day: date) -> dict[str, Any]:
    """As the synthetic patients: the replaced order is completed, its inclusive end the day before the next."""
    order["status"] = "completed"
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"] = last_day.isoformat()
    return order


# --- 1. several dosage lines ------------------------------------------------------------------------

def test_an_order_split_over_two_dosage_lines_makes_the_history_unreadable() -> None:
    # 1.0 mg at 08:00 + 0.5 mg at 20:00 = 1.5 mg/day; the first line alone reads 1.0 mg once daily.
    # Trough 6 (in 5-7): reading 1.0 mg/day would "keep 1 mg/day", a third below what is given.
    order = two_lines(fhir.sirolimus(date(2024, 1, 1), 1.0, unit="mg"), 0.5)
    resources = [*base(), order, fhir.trough(6.0, date(2026, 11, 15))]
    record = record_of(resources)
    (period,) = record.sirolimus_doses
    assert period.daily_dose_mg is None and SPLIT in period.problems
    assert any(u.resource == f"MedicationRequest/{order['id']}" and SPLIT in u.reason for u in record.unusable)
    assert dose_timeline(record.sirolimus_doses) is None
    d = decide(resources, fhir.draft(0.5, "mL", 2))
    assert d.proposed_dose is None and UNREADABLE in d.no_proposal_reasons
    assert any("readable dose" in m.what for m in d.missing_data)


def test_a_draft_split_over_two_dosage_lines_has_no_dose_and_says_why() -> None:
    # draft 0.5 mL (0.5 mg) at 08:00 + 0.25 mL at 20:00: no single regimen; the first line alone is 0.5 mg/day.
    draft = two_lines(fhir.draft(0.5, "mL", 2), 0.25)
    order = read_draft(draft)
    assert order.kind == "sirolimus"
    assert order.daily_dose_mg is None and order.regimen() is None and not order.complete
    assert SPLIT in order.missing
    d = decide([*base(), fhir.sirolimus(date(2024, 1, 1), 0.5), fhir.trough(6.0, date(2026, 11, 15))], draft)
    assert d.draft_dose is None and SPLIT in d.draft_missing
    assert any(SPLIT in m.what for m in d.missing_data)


def test_a_second_dosage_line_identical_to_the_first_is_ignored() -> None:
    # the same line twice (a duplicate): 0.5 mL x 1 mg/mL x 2 a day = 1.0 mg/day
    order = fhir.sirolimus(date(2024, 1, 1), 0.5)
    order["dosageInstruction"].append(copy.deepcopy(order["dosageInstruction"][0]))
    (period,) = record_of([order]).sirolimus_doses
    assert period.problems == () and period.daily_dose_mg == pytest.approx(1.0)
    draft = fhir.draft(0.5, "mL", 2)
    draft["dosageInstruction"].append(copy.deepcopy(draft["dosageInstruction"][0]))
    assert read_draft(draft).daily_dose_mg == pytest.approx(1.0) and read_draft(draft).missing == ()


# --- 2. two orders in force at once -----------------------------------------------------------------

def test_two_active_orders_at_once_make_the_history_unreadable() -> None:
    # 1 mg tablet bid (2 mg/day) + 0.5 mg tablet bid (1 mg/day), both active, no end: 3 mg/day taken.
    # Before: the first was cut to zero length and 1 mg/day was read as the current dose.
    first = fhir.sirolimus(date(2026, 3, 1), 1, unit="{tbl}", product=fhir.TAB_1)
    second = fhir.sirolimus(date(2026, 3, 1), 1, unit="{tbl}", product=fhir.TAB_05)
    resources = [*base(), first, second, fhir.trough(10.0, date(2026, 11, 15))]
    record = record_of(resources)
    assert [p.end for p in record.sirolimus_doses] == [None, None]  # both in force: neither is cut
    overlap = [u for u in record.unusable if OVERLAP in u.reason]
    assert len(overlap) == 1 and overlap[0].resource == f"MedicationRequest/{second['id']}"
    assert f"MedicationRequest/{first['id']}" in overlap[0].reason
    assert dose_timeline(record.sirolimus_doses) is None
    d = decide(resources, fhir.draft(1, "{tbl}", 2, product=fhir.TAB_1))
    assert d.proposed_dose is None and UNREADABLE in d.no_proposal_reasons


def test_a_later_order_starting_before_an_active_orders_own_end_overlaps() -> None:
    # 0.5 mL bid until 2026-12-31 (still active) and 0.2 mL bid added from 2026-10-01: 1.4 mg/day, not 0.4.
    first = fhir.sirolimus(date(2026, 1, 1), 0.5, end=date(2026, 12, 31))
    second = fhir.sirolimus(date(2026, 10, 1), 0.2)
    record = record_of([first, second])
    assert [u.resource for u in record.unusable if OVERLAP in u.reason] == [f"MedicationRequest/{second['id']}"]
    assert dose_timeline(record.sirolimus_doses) is None


def test_an_on_hold_order_without_an_end_is_still_in_force() -> None:
    first = fhir.sirolimus(date(2026, 1, 1), 0.5, status="on-hold")
    second = fhir.sirolimus(date(2026, 10, 1), 0.4)
    assert any(OVERLAP in u.reason for u in record_of([first, second]).unusable)


@pytest.mark.parametrize("how", ["completed", "stopped", "active_ended_before"])
def test_a_replacement_is_not_an_overlap(how: str) -> None:
    # 0.5 mL bid (1.0 mg/day) to 2026-09-30, then 0.45 mL bid (0.9 mg/day) from 2026-10-01.
    first = fhir.sirolimus(date(2024, 1, 1), 0.5)
    if how == "completed":
        completed(first, date(2026, 9, 30))
    elif how == "stopped":
        first["status"] = "stopped"  # no end date: ended by the next order's start
    else:
        first["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"] = "2026-09-30"
    second = fhir.sirolimus(date(2026, 10, 1), 0.45)
    record = record_of([first, second])
    assert not any(OVERLAP in u.reason for u in record.unusable)
    assert [(p.start, p.end, p.daily_dose_mg) for p in record.sirolimus_doses] == [
        (date(2024, 1, 1), date(2026, 10, 1), pytest.approx(1.0)), (date(2026, 10, 1), None, pytest.approx(0.9))]
    timeline = dose_timeline(record.sirolimus_doses)
    assert timeline is not None and [(e.on, e.daily_mg) for e in timeline] == [
        (date(2024, 1, 1), pytest.approx(1.0)), (date(2026, 10, 1), pytest.approx(0.9))]


# --- 3. a change of product or frequency at the same daily dose ---------------------------------------

def test_tablets_to_solution_at_the_same_dose_is_a_change_and_needs_a_new_trough() -> None:
    # 1 mg tablet bid (2 mg/day) to 2026-11-16, then 1 mL solution bid (2 mg/day) from 2026-11-17.
    # Trough 2026-11-20 is 3 days after the switch (< 14): not at steady state, no dose from it.
    tablets = completed(fhir.sirolimus(date(2024, 1, 1), 1, unit="{tbl}", product=fhir.TAB_1), date(2026, 11, 16))
    solution = fhir.sirolimus(date(2026, 11, 17), 1.0)
    resources = [*base(), tablets, solution, fhir.trough(10.0, date(2026, 11, 20))]
    timeline = dose_timeline(record_of(resources).sirolimus_doses)
    assert timeline is not None
    assert [(e.on, e.daily_mg, e.formulation) for e in timeline] == [
        (date(2024, 1, 1), 2.0, "tablet"), (date(2026, 11, 17), 2.0, "solution")]
    changes = dose_changes(timeline)
    assert changes[-1] == DoseChange(changed_on=date(2026, 11, 17), from_daily_mg=2.0, to_daily_mg=2.0)
    assert changes[-1].percent_change == 0.0
    d = decide(resources, fhir.draft(1.0, "mL", 2))
    assert d.last_dose_change == DoseChange(changed_on=date(2026, 11, 17), from_daily_mg=2.0, to_daily_mg=2.0)
    assert d.proposed_dose is None and d.troughs_used and not d.troughs_used[0].usable
    assert any("steady state" in r for r in d.no_proposal_reasons)
    assert d.current_dose is not None and d.current_dose.formulation == "solution"


def test_a_change_of_frequency_at_the_same_daily_dose_is_a_change() -> None:
    # 1 mL bid (2 mg/day) to 2026-11-16, then 2 mL once daily (2 mg/day) from 2026-11-17.
    bid = completed(fhir.sirolimus(date(2024, 1, 1), 1.0), date(2026, 11, 16))
    once = fhir.sirolimus(date(2026, 11, 17), 2.0, per_day=1)
    timeline = dose_timeline(record_of([bid, once]).sirolimus_doses)
    assert timeline is not None
    assert [(e.on, e.mg_per_administration, e.per_day) for e in timeline] == [
        (date(2024, 1, 1), 1.0, 2.0), (date(2026, 11, 17), 2.0, 1.0)]
    assert dose_changes(timeline)[-1] == DoseChange(changed_on=date(2026, 11, 17), from_daily_mg=2.0, to_daily_mg=2.0)


def test_the_same_regimen_reordered_is_not_a_change() -> None:
    # renewal at 0.5 mL bid: the same mg, frequency and product -> one event, one change (the start)
    first = completed(fhir.sirolimus(date(2024, 1, 1), 0.5), date(2025, 12, 31))
    renewal = fhir.sirolimus(date(2026, 1, 1), 0.5)
    timeline = dose_timeline(record_of([first, renewal]).sirolimus_doses)
    assert timeline is not None and [(e.on, e.daily_mg) for e in timeline] == [(date(2024, 1, 1), 1.0)]
    assert dose_changes(timeline) == (DoseChange(changed_on=date(2024, 1, 1), from_daily_mg=0.0, to_daily_mg=1.0),)


def test_a_same_dose_switch_is_neither_a_reduction_nor_a_return() -> None:
    # taper began 2026-09-01 at 1.0 mg/day (0.5 mg bid); reduced to 0.9 mg/day (0.45 mg bid) on 2026-10-01;
    # then 0.9 mg once daily from 2026-10-20. A relapse on 2026-11-10: the previously effective dose is the
    # one before the reduction (1.0 mg/day, 0.5 mg bid), not the 0.45 mg bid before the frequency change.
    timeline = (DoseEvent(on=date(2024, 1, 1), daily_mg=1.0, mg_per_administration=0.5, per_day=2.0,
                          formulation="solution"),
                DoseEvent(on=date(2026, 10, 1), daily_mg=0.9, mg_per_administration=0.45, per_day=2.0,
                          formulation="solution"),
                DoseEvent(on=date(2026, 10, 20), daily_mg=0.9, mg_per_administration=0.9, per_day=1.0,
                          formulation="solution"))
    changes = dose_changes(timeline)
    assert [c.percent_change for c in changes] == [None, pytest.approx(-10.0), pytest.approx(0.0)]
    assert [c for c in changes if 0 < c.to_daily_mg < c.from_daily_mg] == [changes[1]]
    assert [c for c in changes if 0 < c.from_daily_mg < c.to_daily_mg] == []
    effective = previously_effective(timeline, date(2026, 9, 1), date(2026, 11, 10))
    assert effective is not None and (effective.daily_mg, effective.mg_per_administration) == (1.0, 0.5)


# --- 4. starting therapy is a change ---------------------------------------------------------------------

def test_starting_therapy_is_a_change_so_a_level_two_days_later_is_not_steady_state() -> None:
    # IHHE-like case in the KHE maintenance arm: 0.25 mL bid started 2026-11-18, trough 4 on 2026-11-20
    # (2 days < 14). Before: no change was known, the level was used and 0.5 x 6/4 = 0.75 mg/day proposed.
    resources = [*base(), fhir.sirolimus(date(2026, 11, 18), 0.25), fhir.trough(4.0, date(2026, 11, 20))]
    timeline = dose_timeline(record_of(resources).sirolimus_doses)
    assert timeline is not None
    start = dose_changes(timeline)[0]
    assert start == DoseChange(changed_on=date(2026, 11, 18), from_daily_mg=0.0, to_daily_mg=0.5)
    assert start.percent_change is None
    d = decide(resources, fhir.draft(0.25, "mL", 2))
    assert d.last_dose_change == start
    assert d.proposed_dose is None and not d.troughs_used[0].usable
    assert any("before steady state" in r for r in d.troughs_used[0].reasons_unusable)
    # next trough at steady state: 2026-11-18 + 14 days
    assert d.next_trough_due == date(2026, 11, 18) + timedelta(days=14)


def test_a_level_at_steady_state_after_the_start_is_used() -> None:
    # started 2026-10-01, trough 4 on 2026-11-15 (45 days): 0.5 mg/day x 6/4 = 0.75 mg/day = 0.375 -> 0.38 mL bid
    resources = [*base(), fhir.sirolimus(date(2026, 10, 1), 0.25), fhir.trough(4.0, date(2026, 11, 15))]
    d = decide(resources, fhir.draft(0.25, "mL", 2))
    assert d.troughs_used[0].usable
    assert d.last_dose_change == DoseChange(changed_on=date(2026, 10, 1), from_daily_mg=0.0, to_daily_mg=0.5)


# --- 5. only prescriptions count --------------------------------------------------------------------------

@pytest.mark.parametrize("intent", ["plan", "proposal", "option", "directive"])
def test_a_plan_or_proposal_is_not_a_prescription(intent: str) -> None:
    # active order 0.5 mL bid (1.0 mg/day) since 2024; a newer 0.25 mL bid MedicationRequest that is only a plan.
    order = fhir.sirolimus(date(2024, 1, 1), 0.5)
    plan = fhir.sirolimus(date(2026, 11, 1), 0.25)
    plan["intent"] = intent
    record = record_of([order, plan])
    assert [(p.resource, p.end, p.daily_dose_mg) for p in record.sirolimus_doses] == [
        (f"MedicationRequest/{order['id']}", None, pytest.approx(1.0))]


@pytest.mark.parametrize("intent", ["order", "original-order", "instance-order"])
def test_orders_count_as_prescriptions(intent: str) -> None:
    # (an order without intent passes the intent filter but is not valid R4: it is listed as unusable)
    order = fhir.sirolimus(date(2024, 1, 1), 0.5)
    order["intent"] = intent
    record = record_of([order])
    assert [p.daily_dose_mg for p in record.sirolimus_doses] == [pytest.approx(1.0)]
