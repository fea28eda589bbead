"""Issue #11 item 1: one next-trough date per child, whichever surface shows it.

The order-select card (summary, detail, ServiceRequest), the patient-view cards and their reminders,
the decision page (its "Next trough" lines and the projected taper's first row) and `sirolimus-cds
plan` (its text and its table) are all read here from the same record and compared with the date the
protocol gives, written by hand:
label (clinical-protocol.md 2) "hold a dose for 7-14 days before the next adjustment", "a switch needs
a new trough"; KHE rule 3 "a trough level every month"; protocol data follow_up_days = 14 (decision
0015), monitoring_interval_days = 30. Today 2026-11-22; baseline child of tests/clinical/test_scenarios.
"""
from __future__ import annotations

import datetime as dt
import re
from datetime import date
from typing import Any

import pytest

from cards import build_cards
from cards.page import render_decision_page
from cds_service.cli.plan import describe, schedule_rows
from cds_service.clinical.decision import Decision, MonitoringKind
from tests.clinical import fhir
from tests.clinical.test_scenarios import TODAY, baseline, ihhe_infant, run, taper

URL = "https://cds.example.org/decisions/1"
ISO = r"(\d{4}-\d{2}-\d{2})"


def _tablets_at(level: float) -> list[dict[str, Any]]:
    resources = [r for r in baseline(level) if r.get("resourceType") != "MedicationRequest"]
    return resources + [fhir.sirolimus(date(2024, 1, 1), 1, unit="{tbl}", per_day=1, product=fhir.TAB_05)]


def _changed_nine_days_ago() -> list[dict[str, Any]]:
    resources = [r for r in baseline(4.0) if r.get("resourceType") != "MedicationRequest"]
    return resources + fhir.chain(fhir.sirolimus(date(2024, 1, 1), 0.5), fhir.sirolimus(date(2026, 11, 13), 0.75))


CHILDREN = {
    # 4.0 ng/mL (5-7): 1.0 -> 1.5 mg/day proposed today: trough 14 days later, 2026-12-06 (not 11-15 + 30)
    "increase": (lambda: baseline(4.0), fhir.draft(0.5, "mL", 2), date(2026, 12, 6)),
    # 9.0 ng/mL: 1.0 -> 0.66 mg/day proposed today: 2026-12-06
    "decrease": (lambda: baseline(9.0), fhir.draft(0.5, "mL", 2), date(2026, 12, 6)),
    # one 0.5 mg tablet daily, 8.0 ng/mL: 0.375 mg/day is no whole tablet -> the oral solution; a switch
    # needs a new trough: 2026-12-06
    "switch": (lambda: _tablets_at(8.0), fhir.draft(1, "{tbl}", 1, product=fhir.TAB_05), date(2026, 12, 6)),
    # taper since 2026-06-01, 1.0 mg/day since 2024, 6.0 ng/mL on 11-15: rule 1 step due today
    # (0.9 mg/day): trough 2026-12-06, the same day as the projected table's first row
    "taper step today": (lambda: taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0)),
                         fhir.draft(0.5, "mL", 2), date(2026, 12, 6)),
    # taper: last step 2026-10-27 (0.9 mg/day), 6.0 ng/mL on 11-15; the next step is due 30 days after the
    # last (rule 1, decision 0001): 2026-11-26; its trough 14 days later, 2026-12-10, comes before the
    # monthly 11-15 + 30 = 12-15, so it is the next trough
    "taper step ahead": (lambda: taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5), (date(2026, 10, 27), 0.45)],
                                       (date(2026, 11, 15), 6.0)),
                         fhir.draft(0.45, "mL", 2), date(2026, 12, 10)),
    # the dose went up on 2026-11-13 and no level since: due 11-13 + 14 = 2026-11-27, within the week, so
    # patient-view reminds of it
    "reminder after a change": (_changed_nine_days_ago, fhir.draft(0.75, "mL", 2), date(2026, 11, 27)),
    # 6.0 ng/mL on 2026-10-01, no change: due 10-31, overdue: every surface says draw it today
    "overdue": (lambda: baseline(6.0, date(2026, 10, 1)), fhir.draft(0.5, "mL", 2), TODAY),
}


def _card_dates(cards: list[dict[str, Any]]) -> list[str]:
    """Every next-trough date a card states or orders (the eligibility card's "if the taper starts"
    projection is a different, conditional trough and is not read)."""
    found = []
    for card in cards:
        found += re.findall(r"\*\*(?:Next|First) trough:\*\* " + ISO, card.get("detail", ""))
        found += re.findall(r"; trough " + ISO, card["summary"])
        found += re.findall(r"trough due " + ISO, card["summary"])
        found += [a["resource"]["occurrenceDateTime"][:10] for s in card.get("suggestions", []) for a in s["actions"]
                  if a.get("resource", {}).get("resourceType") == "ServiceRequest"]
    return found


def _page_dates(decision: Decision) -> list[str]:
    html = render_decision_page(decision.to_dict(), created_at=dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC))
    found = re.findall(r"Next trough <strong>" + ISO, html)
    found += re.findall(r"Next trough due</th><td>" + ISO, html)
    return found


def _plan_dates(decision: Decision) -> list[str]:
    return [m for line in describe(decision) for m in re.findall(r"Next trough due: " + ISO, line)]


def _first_projected_trough(decision: Decision) -> str | None:
    rows = schedule_rows(decision.schedule)
    return str(rows[0]["trough_due_on"]) if rows else None


@pytest.mark.parametrize("child", list(CHILDREN))
def test_every_surface_gives_the_same_next_trough_date(child: str) -> None:
    resources, draft, expected = CHILDREN[child]
    dosing = run(resources(), draft)
    monitoring = run(resources())
    assert dosing.next_trough_due == monitoring.next_trough_due == expected

    order_cards = build_cards(dosing, hook="order-select", draft=draft, decision_url=URL, today=TODAY)
    view_cards = build_cards(monitoring, hook="patient-view", draft=None, decision_url=URL, today=TODAY)
    shown = {
        "order-select card": _card_dates(order_cards),
        "patient-view cards": _card_dates(view_cards),
        "decision page (order-select)": _page_dates(dosing),
        "decision page (patient-view)": _page_dates(monitoring),
        "plan": _plan_dates(monitoring),
    }
    assert shown["order-select card"] and shown["decision page (patient-view)"] and shown["plan"]
    for surface, dates in shown.items():
        assert set(dates) <= {expected.isoformat()}, f"{surface} says {dates}, the protocol {expected}"
    reminders = [m for m in monitoring.monitoring if m.kind is MonitoringKind.TROUGH_DUE]
    if child == "reminder after a change":
        assert [m.due_on for m in reminders] == [expected] and shown["patient-view cards"]
    if child == "overdue":
        assert monitoring.trough_overdue_since == date(2026, 10, 31)
        assert any("overdue since 2026-10-31" in c["summary"] for c in view_cards)
    if child.startswith("taper"):  # the page's and plan's table: the first step's trough is that date
        assert _first_projected_trough(monitoring) == expected.isoformat()


def test_a_start_names_the_first_trough_and_nothing_missing() -> None:
    """IHHE infant, 6 kg, no sirolimus yet: start 0.1 mg/kg/day = 0.3 mL twice daily; no level can exist,
    so the card lists none as missing; the first trough 14 days after the first dose, 2026-12-06."""
    draft = fhir.draft(0.3, "mL", 2)
    decision = run(ihhe_infant(), draft, born=date(2026, 3, 1))
    [card] = build_cards(decision, hook="order-select", draft=draft, decision_url=URL, today=TODAY)
    assert "**First trough:** 2026-12-06" in card["detail"]
    assert "missing" not in card["detail"].lower() and "missing" not in card["summary"].lower()
    assert set(_card_dates([card]) + _page_dates(decision)) == {"2026-12-06"}
