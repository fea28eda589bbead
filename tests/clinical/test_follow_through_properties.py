"""Issue #11 invariants over the generated dose histories of test_safety_properties (hypothesis).

Each history becomes a child's FHIR record: its sirolimus orders (1 mg/mL solution), 1-4 troughs at
random instants (time of day and zone; some on one day) listed in a random order, as a server that
ignores `_sort` returns them, a weight, KHE in remission, and half the time a taper CarePlan.
- Label (clinical-protocol.md 2), "hold a dose for 7-14 days" then measure: after every proposed change
  of dose or formulation, and after every projected taper step, the next trough is 7-14 days later.
- No level but the latest by its full instant is the one a proposal is computed from.
- Enrolment-only criteria (age 0-12, 2 years of remission) never change what a started taper proposes
  (decision 0016): the same record with a 13-year-old and a remission recorded 80 days ago gets the
  same proposal, and no reason names them.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.clinical.decide import decide_dosing, decide_monitoring
from cds_service.clinical.decision import Decision
from cds_service.clinical.protocols import load_protocols
from cds_service.clinical.reading.record import build_record
from cds_service.clinical.reading.timeline import DoseEvent
from tests.clinical import fhir
from tests.clinical.test_safety_properties import histories

P = load_protocols()
LABEL_MIN_DAYS, LABEL_MAX_DAYS = 7, 14  # "hold a dose for 7-14 days"
ZONES = ["Z", "+01:00", "+08:00", "-05:00"]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def levels(draw: st.DrawFn, today: date) -> list[dict[str, Any]]:
    """1-4 troughs within 60 days, at distinct instants, in a random order (ties on one day likely)."""
    count = draw(st.integers(1, 4))
    first_day = draw(st.integers(0, 60))
    out = []
    for _ in range(count):
        days_ago = draw(st.sampled_from([first_day, first_day, draw(st.integers(0, 60))]))
        hour, zone = draw(st.integers(0, 23)), draw(st.sampled_from(ZONES))
        when = f"{(today - timedelta(days=days_ago)).isoformat()}T{hour:02d}:{draw(st.integers(0, 59)):02d}:00{zone}"
        value = draw(st.integers(10, 250)) / 10
        out.append(fhir.trough(value, today - timedelta(days=days_ago), effectiveDateTime=when,
                               status=draw(st.sampled_from(["final", "final", "amended", "preliminary"]))))
    instants = [_instant(t) for t in out]
    if len(set(instants)) < len(instants):  # two at one instant: no "later" to choose
        out = [t for i, t in enumerate(out) if _instant(t) not in instants[:i]]
    return draw(st.permutations(out))


def _instant(trough: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(trough["effectiveDateTime"].replace("Z", "+00:00"))


def _loinc(resource: dict[str, Any]) -> str | None:
    return resource["code"]["coding"][0]["code"] if resource["resourceType"] == "Observation" else None


def _orders(events: tuple[DoseEvent, ...]) -> list[dict[str, Any]]:
    return fhir.chain(*[fhir.sirolimus(e.on, e.mg_per_administration, per_day=int(e.per_day))
                        for e in events])


@st.composite
def children(draw: st.DrawFn) -> tuple[list[dict[str, Any]], date, date, bool]:
    """(resources, birth date, today, tapering) for a KHE child of 4-11 years."""
    events, taper_start, today = draw(histories())
    resources = [fhir.weight(draw(st.integers(12, 40)), today - timedelta(days=draw(st.integers(0, 20)))),
                 fhir.khe(abated=date(2022, 1, 1)), *_orders(events), *draw(levels(today))]
    tapering = draw(st.sampled_from([True, True, False])) and taper_start <= today
    if tapering:
        resources.append(fhir.careplan(taper_start))
    born = today - timedelta(days=draw(st.integers(4 * 365, 11 * 365)))
    return resources, born, today, tapering


def _decisions(resources: list[dict[str, Any]], born: date, today: date) -> list[Decision]:
    record = build_record(fhir.patient(born), resources, today)
    monitoring = decide_monitoring(record, P, today)
    current = monitoring.current_dose
    if current is None:
        return [monitoring]
    draft = fhir.draft(current.mg_per_administration, "mg", int(current.administrations_per_day))
    return [monitoring, decide_dosing(record, draft, P, today)]


def _changes(d: Decision) -> bool:
    p, c = d.proposed_dose, d.current_dose
    return p is not None and (c is None or abs(p.daily_dose_mg - c.daily_dose_mg) > 1e-9
                              or p.regimen.formulation != c.formulation)


@pytest.mark.slow
@SETTINGS
@given(children())
def test_a_trough_7_to_14_days_after_every_proposed_change(child: tuple[Any, date, date, bool]) -> None:
    resources, born, today, _ = child
    for d in _decisions(resources, born, today):
        if _changes(d):
            assert d.next_trough_due is not None
            assert LABEL_MIN_DAYS <= (d.next_trough_due - today).days <= LABEL_MAX_DAYS, d.proposed_dose
        for step in d.schedule:
            if step.daily_dose_mg > 0:  # the stop row is followed by monthly monitoring instead
                assert LABEL_MIN_DAYS <= (step.trough_due_on - step.due_on).days <= LABEL_MAX_DAYS
        if d.next_trough_due is not None:
            assert d.next_trough_due >= today  # a day to draw it, never in the past


@pytest.mark.slow
@SETTINGS
@given(children())
def test_only_the_latest_level_by_instant_is_used(child: tuple[Any, date, date, bool]) -> None:
    resources, born, today, _ = child
    troughs = [r for r in resources if _loinc(r) == "29247-4"]
    latest = max(troughs, key=_instant)
    day = latest["effectiveDateTime"][:10]
    same_day = [t for t in troughs if t is not latest and t["effectiveDateTime"][:10] == day]
    for d in _decisions(resources, born, today):
        if d.protocol is None:
            continue
        assert d.troughs_used and d.troughs_used[0].observation_id == f"Observation/{latest['id']}"
        if d.proposed_dose is not None and d.proposed_dose.predicted_trough_ng_ml is not None:
            assert d.troughs_used[0].usable
        noted = [f for f in d.findings if f.code == "another-level-same-day"]
        assert bool(noted) == bool(same_day)


@pytest.mark.slow
@SETTINGS
@given(children())
def test_a_started_taper_is_never_halted_by_an_enrolment_only_criterion(child: tuple[Any, date, date, bool]
                                                                      ) -> None:
    resources, _, today, tapering = child
    if not tapering:
        return
    # a child of 11 y 8 m, 35 kg (a plausible weight at both ages, decision 0014), and the same child at
    # 13 y 1 m with a remission recorded 80 days ago: age 0-12 and 2 years of remission now read "not met",
    # and they decided only the start
    resources = [fhir.weight(35, today) if _loinc(r) == "29463-7" else r for r in resources]
    born, older = today - timedelta(days=12 * 365 - 120), today - timedelta(days=13 * 365 + 34)
    recent = [fhir.khe(abated=today - timedelta(days=80)) if r["resourceType"] == "Condition" else r
              for r in resources]
    base = decide_monitoring(build_record(fhir.patient(born), resources, today), P, today)
    moved = decide_monitoring(build_record(fhir.patient(older), recent, today), P, today)
    criteria = {c.criterion_id: c.answer for c in moved.eligibility[0].criteria}
    assert criteria["age"] == criteria["remission"] == "not_met"
    assert (base.proposed_dose is None) == (moved.proposed_dose is None), moved.no_proposal_reasons
    if base.proposed_dose is not None and moved.proposed_dose is not None:
        assert moved.proposed_dose.daily_dose_mg == pytest.approx(base.proposed_dose.daily_dose_mg)
        assert moved.proposed_dose.rule == base.proposed_dose.rule
    enrolment = [c.text for c in moved.eligibility[0].criteria if c.criterion_id in {"age", "remission"}]
    for reason in moved.no_proposal_reasons:
        assert "eligibility not met" not in reason and not any(text in reason for text in enrolment), reason
