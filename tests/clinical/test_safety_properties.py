"""Safety invariants over generated dose and level histories (hypothesis)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.clinical.decide import decide_monitoring
from cds_service.clinical.decision import Evidence, Phase
from cds_service.clinical.protocols import load_protocols
from cds_service.clinical.reading.facts import ConditionFact, DosePeriod, Measurement, Trough
from cds_service.clinical.reading.record import PatientRecord
from cds_service.clinical.reading.timeline import DoseEvent, dose_changes, dose_on
from cds_service.clinical.rules.dosing import round_to_step
from cds_service.clinical.rules.relapse import RelapseSignal
from cds_service.clinical.rules.taper import plan_taper

P = load_protocols()
GUIDED = P["khe-guided-discontinuation"]
RULES = GUIDED.taper
assert RULES is not None
FAST = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
START = date(2024, 1, 1)


@st.composite
def histories(draw: st.DrawFn) -> tuple[tuple[DoseEvent, ...], date, date]:
    """A solution dose history: a starting dose, then changes at random gaps, and a 'today'."""
    per_day = draw(st.sampled_from([1.0, 2.0]))
    mg = draw(st.integers(5, 200)) / 100  # per administration, 0.05-2 mg
    day = START
    events = [DoseEvent(on=day, daily_mg=round(mg * per_day, 6), mg_per_administration=mg, per_day=per_day,
                        formulation="solution")]
    for _ in range(draw(st.integers(0, 8))):
        day += timedelta(days=draw(st.integers(1, 60)))
        factor = draw(st.sampled_from([0.8, 0.9, 0.95, 1.05, 1.1, 1.3]))
        mg = max(0.01, round(round(mg * factor / 0.01) * 0.01, 2))
        events.append(DoseEvent(on=day, daily_mg=round(mg * per_day, 6), mg_per_administration=mg, per_day=per_day,
                                formulation="solution"))
    taper_start = START + timedelta(days=draw(st.integers(0, 400)))
    today = day + timedelta(days=draw(st.integers(0, 120)))
    return tuple(events), taper_start, today


def _cap(phase: Phase) -> float:
    return RULES.max_reduction_fraction if phase is Phase.TAPERING else RULES.after_relapse_max_reduction_fraction


@pytest.mark.slow
@FAST
@given(histories(), st.integers(5, 60))
def test_no_step_exceeds_the_cap_in_any_rolling_month_nor_comes_within_14_days(
        history: tuple[tuple[DoseEvent, ...], date, date], weight_kg: int) -> None:
    events, taper_start, today = history
    plan = plan_taper(events, taper_start, (), RULES, GUIDED.measuring, weight_kg, today)
    if plan.step is None:
        return
    new = plan.step.daily_dose_mg
    due = plan.step.due_on
    for back in range(1, RULES.window_days + 1):  # every day of the window before the step
        before = dose_on(events, due - timedelta(days=back))
        assert new >= (1 - _cap(plan.phase)) * before - 1e-9
    last = [c.changed_on for c in dose_changes(events) if c.changed_on <= today]
    if last:
        assert due >= last[-1] + timedelta(days=RULES.min_days_between_changes)
    assert due >= taper_start


@pytest.mark.slow
@FAST
@given(histories(), st.integers(5, 60))
def test_the_projected_taper_obeys_the_cap_and_lasts_six_months(
        history: tuple[tuple[DoseEvent, ...], date, date], weight_kg: int) -> None:
    from cds_service.clinical.rules.schedule import project_schedule

    events, taper_start, today = history
    plan = plan_taper(events, taper_start, (), RULES, GUIDED.measuring, weight_kg, today)
    if plan.phase is Phase.READY_TO_STOP:
        assert today >= taper_start + timedelta(days=RULES.min_taper_days)
    steps = project_schedule(events, plan, taper_start, None, GUIDED, weight_kg, today)
    timeline = list(events)
    for step in steps:
        if step.daily_dose_mg == 0.0:  # the stop
            assert step.due_on >= taper_start + timedelta(days=RULES.min_taper_days)
            break
        for back in range(1, RULES.window_days + 1):
            before = dose_on(timeline, step.due_on - timedelta(days=back))
            assert step.daily_dose_mg >= (1 - RULES.max_reduction_fraction) * before - 1e-9
        timeline.append(DoseEvent(on=step.due_on, daily_mg=step.daily_dose_mg,
                                  mg_per_administration=step.mg_per_administration, per_day=1, formulation="solution"))


@pytest.mark.slow
@FAST
@given(histories(), st.integers(0, 200))
def test_after_a_relapse_the_proposal_is_the_previously_effective_dose(
        history: tuple[tuple[DoseEvent, ...], date, date], signal_offset: int) -> None:
    events, taper_start, today = history
    signal_on = min(today, taper_start + timedelta(days=signal_offset))
    signal = RelapseSignal(signal_on, "platelets", "platelets 80", Evidence("Observation/p", 80, "10*9/L", signal_on))
    plan = plan_taper(events, taper_start, (signal,), RULES, GUIDED.measuring, 20, today)
    reductions = [c for c in dose_changes(events)
                  if taper_start <= c.changed_on <= signal_on and 0 < c.to_daily_mg < c.from_daily_mg]
    increases_after = [c for c in dose_changes(events) if c.changed_on >= taper_start
                       and 0 < c.from_daily_mg < c.to_daily_mg and c.changed_on <= today]
    if plan.relapse_return is not None:
        assert reductions
        assert plan.relapse_return.daily_dose_mg == reductions[-1].from_daily_mg
        assert plan.step is None
    elif not increases_after or increases_after[-1].changed_on < signal_on:
        assert plan.step is None  # a relapse signal never lets a reduction through


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(st.floats(0.001, 20, allow_nan=False), st.sampled_from([0.01, 0.5]))
def test_rounding_moves_a_dose_by_at_most_half_a_step(mg: float, step: float) -> None:
    rounded = round_to_step(mg, step)
    assert abs(rounded - mg) <= step / 2 + 1e-9
    assert abs(rounded / step - round(rounded / step)) < 1e-6


TODAY = date(2026, 11, 22)


@st.composite
def records(draw: st.DrawFn) -> PatientRecord:
    """A KHE child on maintenance or a taper, with one level of random quality."""
    weight_kg = draw(st.floats(3, 60))
    mg = draw(st.integers(5, 200)) / 100
    change_days_ago = draw(st.integers(1, 400))
    drawn_days_ago = draw(st.integers(0, 90))
    unit = draw(st.sampled_from(["ng/mL", "ug/L", "nmol/L", None, "mg/L"]))
    value = draw(st.one_of(st.floats(-5, 120, allow_nan=False), st.just(0.0)))
    status = draw(st.sampled_from(["final", "final", "preliminary", "amended"]))
    text = draw(st.sampled_from(["", "", "sirolimus peak", "random level"]))
    factor = {"ng/mL": 1.0, "ug/L": 1.0, "nmol/L": 0.914}.get(unit or "")
    taper = draw(st.booleans())
    doses = (
        DosePeriod(resource="MedicationRequest/a", start=START, end=TODAY - timedelta(days=change_days_ago),
                   status="completed", mg_per_administration=mg * 1.1, administrations_per_day=2,
                   formulation="solution", strength_mg=1.0, ml_per_administration=mg * 1.1,
                   tablets_per_administration=None, problems=()),
        DosePeriod(resource="MedicationRequest/b", start=TODAY - timedelta(days=change_days_ago), end=None,
                   status="active", mg_per_administration=mg, administrations_per_day=2, formulation="solution",
                   strength_mg=1.0, ml_per_administration=mg, tablets_per_administration=None, problems=()),
    )
    from cds_service.clinical.reading.facts import CarePlanFact

    plans = (CarePlanFact(resource="CarePlan/c", canonicals=(GUIDED.ref.plan_definition_url,), status="active",
                          period_start=TODAY - timedelta(days=draw(st.integers(0, 400))), period_end=None),
             ) if taper else ()
    return PatientRecord(
        patient_id="p", birth_date=date(2020, 1, 1), sex="female",
        weights_kg=(Measurement(weight_kg, weight_kg, "kg", TODAY - timedelta(days=1), "Observation/w"),),
        troughs=(Trough(resource="Observation/t", drawn_on=TODAY - timedelta(days=drawn_days_ago),
                        value_ng_ml=None if factor is None else value * factor, original_value=value,
                        original_unit=unit, status=status, method=None, sample_text=text),),
        labs=(), sirolimus_doses=doses, propranolol=(), interacting_drugs=(),
        conditions=(ConditionFact(resource="Condition/k", valuesets=("khe",), how="Orphanet 2122", specific=True,
                                  clinical_status="remission", verification_status=None,
                                  recorded_on=date(2022, 1, 1), abatement_on=date(2022, 1, 1),
                                  broad_without_text=None),),
        conditions_read=1, careplans=plans, research_subjects=(), consents=(), toxicities=(),
        unusable=(),
    )


@pytest.mark.slow
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_no_dose_from_an_unusable_level_and_none_beyond_the_limits(record: PatientRecord) -> None:
    d = decide_monitoring(record, P, TODAY)
    if d.proposed_dose is None:
        return
    limits = GUIDED.sanity
    weight_kg = record.weights_kg[0].value
    assert d.proposed_dose.daily_dose_mg <= limits.max_daily_mg + 1e-9
    assert d.proposed_dose.daily_dose_mg / weight_kg <= limits.max_mg_per_kg_day + 1e-9
    if d.proposed_dose.rule == "relapse_return_to_effective_dose":
        return
    trough = record.troughs[0]
    change_on = record.sirolimus_doses[1].start
    rules = GUIDED.trough
    assert trough.original_unit in {"ng/mL", "ug/L", "nmol/L"}  # never unit-less or unknown
    assert trough.value_ng_ml is not None and 0 < trough.value_ng_ml <= rules.plausible_max_ng_ml
    assert (TODAY - trough.drawn_on).days <= rules.max_age_days  # fresh
    assert (trough.drawn_on - change_on).days >= rules.steady_state_days  # at steady state
    assert trough.status in rules.accepted_statuses
    assert "peak" not in trough.sample_text and "random" not in trough.sample_text
