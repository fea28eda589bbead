"""A relapse sign since the taper's start is seen however many counts came after it (decision 0025).

Decision 0002: platelets < 100 x 10^9/L during the taper bring the return to the previously effective dose,
and a sign is consumed only by a later dose increase (the return). Only the six newest platelet counts
were read (0138 kept that), so a low count followed by six weekly normal ones vanished: the service then
proposed the next 10 % reduction, with the unanswered sign on record.

Child of tests/clinical/test_scenarios (20 kg, KHE): taper began 2025-06-01, 1.0 -> 0.9 (2025-06-01) ->
0.82 mg/day (2025-07-01); trough 4.0 on 2026-11-10; platelets 80 on 2026-09-01, then 150 weekly (x6).
Last reduction on or before the sign: 2025-07-01, so the previously effective dose is 0.9 mg/day (0003).
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from cds_service.clinical.decision import MonitoringKind, Rule
from tests.clinical import fhir
from tests.clinical.test_scenarios import RELAPSE_ORDERS, run, taper

SIGN = date(2026, 9, 1)


def _counts(normal_after: int) -> list:
    return [fhir.obs("777-3", 80, "10*9/L", SIGN),
            *(fhir.obs("777-3", 150, "10*9/L", SIGN + timedelta(days=7 * i)) for i in range(1, normal_after + 1))]


@pytest.mark.parametrize("normal_after", [5, 6, 9])  # the sign as the 6th, 7th and 10th newest count
def test_a_low_count_followed_by_normal_ones_still_brings_the_return(normal_after: int) -> None:
    d = run(taper(date(2025, 6, 1), RELAPSE_ORDERS, (date(2026, 11, 10), 4.0), _counts(normal_after)))
    assert d.proposed_dose is not None and d.proposed_dose.rule is Rule.RELAPSE_RETURN
    assert d.proposed_dose.daily_dose_mg == pytest.approx(0.9)
    assert any(f.code == "relapse-signal" and f.severity == "critical" and "platelets 80" in f.message
               for f in d.findings)


def test_after_the_return_the_old_sign_is_consumed() -> None:
    """Returned to 0.9 mg/day on 2026-09-03: the sign of 2026-09-01 is answered; stabilising, no new return."""
    orders = [*RELAPSE_ORDERS, (date(2026, 9, 3), 0.45)]
    d = run(taper(date(2025, 6, 1), orders, (date(2026, 11, 10), 5.0), _counts(9)))
    assert d.proposed_dose is None or d.proposed_dose.rule is not Rule.RELAPSE_RETURN
    assert not any(f.code == "relapse-signal" for f in d.findings)


def test_many_low_counts_are_said_once_each_in_the_monitoring_line() -> None:
    """15 monthly platelet counts of 90 and fibrinogen of 1.2 g/L since the taper began: every one is a finding
    (decision page), and the card's monitoring line says each sign once, not 30 times."""
    labs = [fhir.obs(code, value, unit, date(2026, 11, 20) - timedelta(days=30 * i)) for i in range(15)
            for code, value, unit in (("777-3", 90, "10*9/L"), ("3255-7", 1.2, "g/L"))]
    d = run(taper(date(2025, 6, 1), RELAPSE_ORDERS, (date(2026, 11, 10), 4.0), labs))
    assert len([f for f in d.findings if f.code == "relapse-signal"]) == 30
    [line] = [m.message for m in d.monitoring if m.kind is MonitoringKind.POSSIBLE_RELAPSE]
    assert line == "possible relapse during taper: platelets 90 x 10^9/L, below 100; fibrinogen 1.2 g/L, below 1.5"
