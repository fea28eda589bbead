"""A relapse after the guided taper was completed and sirolimus stopped (decision 0018).

Protocol (clinical-protocol.md): "More than half of KHE patients relapse after stopping therapy" (section
5); rule 7: "If the disease relapses or worsens, go back to the previously effective dose"; the relapse
signals of section 5 as chosen in decision 0002 (KHE Condition relapse/recurrence/active, platelets
< 100 x 10^9/L return; fibrinogen < 1.5 g/L only warns); the previously effective dose per decision 0003,
the stop being the last reduction: the dose given before the stop.

The child: girl born 2020-06-01, 26 kg on 2026-11-15, KHE in remission since 2023-01-01, oral solution
1 mg/mL twice daily, last trough 5.1 ng/mL on 2026-09-15. Taper CarePlan 2025-06-01 (completed
2026-09-30), monthly steps of at most 10 % down to 0.13 mL twice daily (0.26 mg/day = 0.01 mg/kg/day)
from 2026-09-01; the next 10 % step (0.24 mg/day = 0.0092 mg/kg/day) falls below 0.01, so sirolimus
was stopped (decision 0004): the last order ends 2026-09-30, no sirolimus from 2026-10-01.
Today 2026-11-22.

Expected: restart at 0.13 mg (0.13 mL) twice daily = 0.26 mg/day; a restart is a change, so the next
trough is 14 days later, 2026-12-06 (decisions 0015/0017).
"""
from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest

from cards import build_cards
from cds_service.clinical.decision import Decision, MonitoringKind, Phase
from cds_service.clinical.errors import ProtocolDataError
from cds_service.clinical.protocols import load_protocols, parse_protocol
from fhir_profiles import load_json
from tests.clinical import fhir
from tests.clinical.test_scenarios import TODAY, run

TAPER_START = date(2025, 6, 1)
STOPPED_ON = date(2026, 10, 1)
ML_TWICE_DAILY = [0.5, 0.45, 0.41, 0.37, 0.34, 0.31, 0.28, 0.26, 0.24, 0.22, 0.2, 0.18, 0.17, 0.16, 0.15, 0.14,
                  0.13]  # 2024-01-01, then the first of each month from 2025-06-01 to 2026-09-01
RESTART_DAILY_MG = 0.26
NEXT_TROUGH = TODAY + timedelta(days=14)
URL = "https://cds.example.org/decisions/1"


def completed_taper(*signs: dict[str, Any], careplan_status: str = "completed", weighed: bool = True
                    ) -> list[dict[str, Any]]:
    starts = [date(2024, 1, 1)] + [date(2025 + (5 + i) // 12, (5 + i) % 12 + 1, 1) for i in range(16)]
    orders = fhir.chain(*[fhir.sirolimus(on, ml) for on, ml in zip(starts, ML_TWICE_DAILY, strict=True)])
    last = orders[-1]
    last["status"] = "completed"
    bounds = last["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]
    bounds["end"] = (STOPPED_ON - timedelta(days=1)).isoformat()
    plan = fhir.careplan(TAPER_START)
    plan["status"] = careplan_status
    if careplan_status == "completed":
        plan["period"]["end"] = (STOPPED_ON - timedelta(days=1)).isoformat()
    measured = [fhir.weight(26, date(2026, 11, 15))] if weighed else []
    measured.append(fhir.trough(5.1, date(2026, 9, 15)))  # the taper's last level, on 0.26 mg/day
    khe = [] if any(s["resourceType"] == "Condition" for s in signs) else [fhir.khe()]
    return [*measured, *khe, plan, *orders, *signs]


def condition_relapse(on: date = date(2026, 11, 20)) -> dict[str, Any]:
    return fhir.khe(status="relapse", recorded=on)


def platelets(value: float, on: date) -> dict[str, Any]:
    return fhir.obs("777-3", value, "10*9/L", on)


def cards_of(d: Decision, draft: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    hook = "patient-view" if draft is None else "order-select"
    return build_cards(d, hook=hook, draft=draft, decision_url=URL, today=TODAY)


def relapse_card(cards: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = [c for c in cards if "relapse after sirolimus stopped" in c["summary"].lower()]
    return found


def resources_in(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a["resource"] for s in card.get("suggestions", []) for a in s["actions"]
            if a.get("resource", {}).get("resourceType") == kind]


def test_the_record_is_a_completed_taper() -> None:
    """The stop happened by the stop rule: 0.26 mg/day / 26 kg = 0.01, a 10 % step would be 0.0092 < 0.01."""
    d = run(completed_taper())
    assert d.phase is Phase.STOPPED and d.current_dose is None
    assert d.last_dose_change is not None and d.last_dose_change.changed_on == STOPPED_ON
    assert d.last_dose_change.from_daily_mg == pytest.approx(RESTART_DAILY_MG) and d.last_dose_change.to_daily_mg == 0


@pytest.mark.parametrize(("sign", "named"), [
    (condition_relapse(), "KHE recorded as 'relapse'"),
    (platelets(80, date(2026, 11, 20)), "platelets 80 x 10^9/L"),
])
def test_a_relapse_after_the_stop_proposes_a_restart_at_the_previously_effective_dose(
        sign: dict[str, Any], named: str) -> None:
    d = run(completed_taper(sign))
    assert d.proposed_dose is not None
    assert d.proposed_dose.rule == "restart_at_effective_dose"
    assert d.proposed_dose.daily_dose_mg == pytest.approx(RESTART_DAILY_MG)
    assert d.proposed_dose.regimen.ml_per_administration == pytest.approx(0.13)
    assert d.proposed_dose.regimen.administrations_per_day == 2
    assert d.next_trough_due == NEXT_TROUGH
    assert [m.kind for m in d.monitoring] == [MonitoringKind.POSSIBLE_RELAPSE]

    card = relapse_card(cards_of(d))
    assert card["indicator"] == "warning" and len(card["summary"]) <= 140
    assert named in card["summary"] and "2026-11-20" in card["summary"]
    assert "0.13 mg (0.13 mL) twice daily" in card["summary"]
    [order] = resources_in(card, "MedicationRequest")
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == pytest.approx(0.13)
    [trough] = resources_in(card, "ServiceRequest")
    assert NEXT_TROUGH.isoformat() in str(trough)


def test_a_taper_careplan_left_active_after_the_stop_is_read_the_same() -> None:
    d = run(completed_taper(platelets(80, date(2026, 11, 20)), careplan_status="active"))
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(RESTART_DAILY_MG)


def test_a_completed_taper_without_a_relapse_sign_gets_no_relapse_card() -> None:
    """Platelets 180 (>= 100) and the Condition in remission: nothing to say about a relapse."""
    d = run(completed_taper(platelets(180, date(2026, 11, 20))))
    assert d.proposed_dose is None
    assert not any("relapse" in c["summary"].lower() for c in cards_of(d))


def test_a_child_off_sirolimus_after_the_taper_is_not_offered_the_taper_again() -> None:
    """Guided discontinuation reduces a dose the child takes; off sirolimus there is none to reduce."""
    d = run(completed_taper(platelets(180, date(2026, 11, 20))))
    assert not any(item.kind is MonitoringKind.ELIGIBLE_FOR_DISCONTINUATION for item in d.monitoring)
    assert not any("guided sirolimus discontinuation" in c["summary"].lower() for c in cards_of(d))
    assert "Guided discontinuation completed" in d.arm.note and "assumed from the diagnosis" not in d.arm.note


def test_a_stale_sign_says_what_is_missing_and_proposes_no_dose() -> None:
    """Platelets 80 on 2026-10-20: 33 days old, older than the 14 days a restart dose needs."""
    d = run(completed_taper(platelets(80, date(2026, 10, 20))))
    assert d.proposed_dose is None
    assert [m.what for m in d.missing_data] == ["a relapse sign from the last 14 days"]
    card = relapse_card(cards_of(d))
    assert "missing a relapse sign from the last 14 days" in card["summary"] and len(card["summary"]) <= 140
    assert not resources_in(card, "MedicationRequest")


def test_without_a_recent_weight_no_restart_dose_is_proposed() -> None:
    d = run(completed_taper(platelets(80, date(2026, 11, 20)), weighed=False))
    assert d.proposed_dose is None
    card = relapse_card(cards_of(d))
    assert "weight" in card["summary"] and not resources_in(card, "MedicationRequest")


def test_low_fibrinogen_alone_only_warns() -> None:
    """Decision 0002: fibrinogen < 1.5 g/L is a warning signal; it proposes no return (no restart)."""
    d = run(completed_taper(fhir.obs("3255-7", 1.2, "g/L", date(2026, 11, 20))))
    assert d.proposed_dose is None
    [card] = [c for c in cards_of(d) if "fibrinogen" in c["summary"]]
    assert card["indicator"] == "warning" and not resources_in(card, "MedicationRequest")


def test_the_watch_ends_after_the_protocol_data_period() -> None:
    """after_stop_watch_days = 730: a sign 750 days after the stop is not read as this taper's relapse; one
    500 days after it still is (the cohort's relapses came up to 509 days after the stop, decision 0018)."""
    late = STOPPED_ON + timedelta(days=500)
    d = run(completed_taper(platelets(80, late - timedelta(days=1))) + [fhir.weight(27, late)], today=late)
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(RESTART_DAILY_MG)
    today = STOPPED_ON + timedelta(days=750)
    d = run(completed_taper(platelets(80, today - timedelta(days=1))) + [fhir.weight(27, today)], today=today)
    assert d.proposed_dose is None
    assert not any("relapse after sirolimus stopped" in c["summary"].lower()
                   for c in build_cards(d, hook="patient-view", draft=None, decision_url=URL, today=today))


def test_a_draft_at_the_previously_effective_dose_is_told_of_the_relapse() -> None:
    draft = fhir.draft(0.13, "mL", 2)
    d = run(completed_taper(platelets(80, date(2026, 11, 20))), draft)
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(RESTART_DAILY_MG)
    assert d.next_trough_due == NEXT_TROUGH
    [card] = cards_of(d, draft)
    assert card["indicator"] == "warning" and len(card["summary"]) <= 140
    assert card["summary"].startswith("Relapse after sirolimus stopped: platelets 80")
    assert "2026-11-20" in card["summary"] and "0.13 mg (0.13 mL) twice daily" in card["summary"]


def test_the_watch_parameters_are_protocol_data_validated_on_load() -> None:
    rules = load_protocols()["khe-guided-discontinuation"].taper
    assert rules is not None
    assert (rules.relapse.after_stop_watch_days, rules.relapse.after_stop_signal_max_age_days) == (730, 14)
    data = copy.deepcopy(dict(load_json("protocols/khe-guided-discontinuation.json")))
    del data["taper"]["relapse"]["after_stop_watch_days"]
    with pytest.raises(ProtocolDataError):
        parse_protocol(data)
