"""Which Observations the record reads (and validates), decision 0138: every one a rule reads, and
no older one. A level or lab that is read and is not valid FHIR R4 is still set aside and reported."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from cds_service.clinical.reading.record import build_record
from tests.clinical import fhir
from tests.clinical.test_scenarios import ELIGIBLE, TODAY, baseline, criteria, run

ALT = "1742-6"
PLATELETS = "777-3"


def _invalid(resource: dict[str, Any]) -> dict[str, Any]:
    resource["valueQuantity"] = {"value": "six", "code": resource["valueQuantity"].get("code")}  # not a decimal
    return resource


def _missing(decision: Any) -> str:
    return " ".join(m.what for m in decision.missing_data)


def test_an_invalid_latest_trough_is_still_reported_and_gives_no_silent_dose() -> None:
    bad = _invalid(fhir.trough(12.0, date(2026, 11, 18)))
    d = run([*baseline(6.0, date(2026, 11, 15)), bad], fhir.draft(0.5, "mL", 2))
    assert f"Observation/{bad['id']} is unusable: not valid FHIR R4" in _missing(d)


def test_the_newest_valid_level_is_read_whatever_its_age_with_its_same_day_level() -> None:
    """Older than the 548 days of history: still the level the trough rule judges (too old), never
    'no level at all', and a second level of the same day still gives its finding."""
    drawn = TODAY - timedelta(days=700)
    levels = [fhir.trough(6.0, drawn), fhir.trough(9.0, drawn)]
    d = run([*baseline(None), *levels], fhir.draft(0.5, "mL", 2))
    assert d.troughs_used and d.troughs_used[0].drawn_on == drawn and not d.troughs_used[0].usable
    assert any("older than" in r for r in d.troughs_used[0].reasons_unusable)
    assert "another-level-same-day" in {f.code for f in d.findings}
    assert d.proposed_dose is None


def test_an_invalid_level_older_than_the_history_and_the_newest_valid_one_is_not_read() -> None:
    old_bad = _invalid(fhir.trough(6.0, TODAY - timedelta(days=600)))
    record = build_record(fhir.patient(date(2020, 6, 1)), [*baseline(6.0, date(2026, 11, 15)), old_bad], TODAY)
    assert [t.drawn_on for t in record.troughs] == [date(2026, 11, 15)]
    assert record.unusable == ()


def test_every_level_of_the_history_is_read_for_the_model_and_the_page() -> None:
    levels = [fhir.trough(6.0, TODAY - timedelta(days=days)) for days in (10, 200, 540, 560)]
    record = build_record(fhir.patient(date(2020, 6, 1)), [*baseline(None), *levels], TODAY)
    assert [(TODAY - t.drawn_on).days for t in record.troughs] == [10, 200, 540]


def test_an_invalid_newest_lab_is_reported_and_the_next_usable_one_decides() -> None:
    """As before decision 0138: set aside with its id; the newest usable ALT is the one judged."""
    bad = _invalid(fhir.obs(ALT, 20, "U/L", date(2026, 11, 10)))
    resources = [*ELIGIBLE, bad]
    d = run(resources)
    assert f"Observation/{bad['id']} is unusable" in _missing(d)
    assert criteria(d)["liver_function"] == "met"  # the ALT of 2026-11-01 in ELIGIBLE's normal labs
    high = fhir.obs(ALT, 400, "U/L", date(2026, 11, 5))  # newer than that one, older than the invalid one
    assert criteria(run([*resources, high]))["liver_function"] == "not_met"


def test_an_older_lab_no_rule_reads_is_not_read() -> None:
    old_bad = _invalid(fhir.obs(ALT, 20, "U/L", date(2026, 10, 1)))  # older than the usable 2026-11-01
    record = build_record(fhir.patient(date(2020, 6, 1)), [*ELIGIBLE, old_bad], TODAY)
    assert [lab.on for lab in record.labs if lab.loinc == ALT] == [date(2026, 11, 1)]
    assert record.unusable == ()


def test_platelet_counts_of_the_history_are_read_for_relapse_signs() -> None:
    """Every count within HISTORY_DAYS (548) is read, not only the six newest (decision 0025): a sign since
    the taper's start stands until a return (0002). Beyond 548 days only the six newest are."""
    counts = [fhir.obs(PLATELETS, 250 - i, "10*9/L", TODAY - timedelta(days=10 * i)) for i in range(8)]
    record = build_record(fhir.patient(date(2020, 6, 1)), [*ELIGIBLE, *counts], TODAY)
    assert [(TODAY - lab.on).days for lab in record.labs if lab.loinc == PLATELETS] == [0, 10, 20, 30, 40, 50,
                                                                                        60, 70]
    yearly = [fhir.obs(PLATELETS, 250, "10*9/L", TODAY - timedelta(days=365 * i)) for i in range(8)]
    record = build_record(fhir.patient(date(2020, 6, 1)), [*ELIGIBLE, *yearly], TODAY)
    assert len([lab for lab in record.labs if lab.loinc == PLATELETS]) == 6
