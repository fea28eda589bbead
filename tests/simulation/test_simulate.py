"""`sirolimus-cds simulate`: a small virtual cohort (seconds), decided by the service's own code path."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cds_service.cli import main
from cds_service.simulation import IHHE, KHE_GUIDED, KHE_MAINTENANCE
from cds_service.simulation.command import simulate


@pytest.fixture(scope="module")
def guided() -> list:
    return simulate((KHE_GUIDED,), patients=2, months=8, seed=3)[KHE_GUIDED]


def test_the_same_seed_gives_the_same_numbers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["simulate", "--patients", "1", "--months", "3", "--seed", "7", "--protocol", KHE_MAINTENANCE]
    assert main([*args, "--out", str(tmp_path / "cohort.png")]) == 0
    first = capsys.readouterr()
    assert main(args) == 0
    second = capsys.readouterr()
    assert first.out == second.out
    assert "time in target band (true trough)" in first.out and "95 %" in first.out
    assert (tmp_path / "cohort.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "1/1 children" in first.err  # the progress bar, on stderr


def test_a_different_seed_gives_another_cohort() -> None:
    a = simulate((KHE_MAINTENANCE,), patients=1, months=2, seed=1)[KHE_MAINTENANCE][0]
    b = simulate((KHE_MAINTENANCE,), patients=1, months=2, seed=2)[KHE_MAINTENANCE][0]
    assert a.patient != b.patient


def test_the_guided_arm_tapers_within_rule_1_and_rule_2(guided: list) -> None:
    """Every reduction the service proposed and the virtual clinician took is at most 10 % of the dose
    before it, and two reductions are at least 14 days apart (a relapse return may go up at once)."""
    reductions = 0
    for course in guided:
        previous_reduction = None
        for (_, mg_a), (on_b, mg_b) in zip(course.orders, course.orders[1:], strict=False):
            if 0 < mg_b < mg_a:
                reductions += 1
                assert mg_b >= 0.9 * mg_a - 1e-9
                if previous_reduction is not None:
                    assert on_b - previous_reduction >= timedelta(days=14)
                previous_reduction = on_b
    assert reductions >= 4  # 8 months of a 10 %-a-month taper


def test_ihhe_infants_start_at_0_1_mg_per_kg_per_day_and_are_titrated_towards_8_to_15() -> None:
    course = simulate((IHHE,), patients=1, months=4, seed=5)[IHHE][0]
    assert course.daily_mg_per_kg[0] == pytest.approx(0.1, rel=0.1)
    assert course.troughs_drawn >= 4 and course.steps_taken >= 1
    assert max(course.daily_trough_ng_ml[:45]) > 15.0  # infants' immature clearance: above the band at first
    assert 8.0 <= course.daily_trough_ng_ml[-1] <= 15.0  # the service's own proposals bring it into the band


@pytest.mark.parametrize(("trough", "held"), [(1.5, True), (4.0, False), (6.0, False)])
def test_a_level_calling_for_more_than_a_doubling_counts_as_a_dose_held(trough: float, held: bool) -> None:
    """KHE maintenance, 1 mg/day: 1.5 ng/mL would need x4 (the service asks to repeat the level, no change);
    4 ng/mL gets the linear step; 6 ng/mL is in the band (keep the dose)."""
    from cds_service.simulation.course import change_withheld
    from tests.clinical.test_scenarios import TODAY, baseline, run

    assert change_withheld(run(baseline(trough)), TODAY) is held


def test_a_forecast_is_scored_only_on_a_level_at_steady_state_on_its_own_dose() -> None:
    from datetime import date

    from cds_service.clinical.pk.fit import Prediction
    from cds_service.simulation.course import Course, Forecast

    course = Course(patient=None)  # type: ignore[arg-type]
    course.pending = Forecast(from_day=date(2026, 3, 1), daily_mg=1.0, linear_ng_ml=6.0,
                              model=Prediction(median_ng_ml=5.0, low_ng_ml=4.0, high_ng_ml=7.0))
    course.score(date(2026, 3, 10), 1.0, 5.0)  # 9 days: before steady state
    course.score(date(2026, 3, 20), 0.9, 5.0)  # another dose
    assert course.linear_errors == []
    course.score(date(2026, 3, 20), 1.0, 5.0)
    assert course.linear_errors == [pytest.approx(0.2)] and course.model_errors == [0.0]
    assert course.model_inside == [True] and course.pending is None


@pytest.mark.parametrize("out", ["cohort.svg", "missing-folder/cohort.png"])
def test_a_wrong_out_path_is_one_line_and_exit_2(out: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--patients", "1", "--months", "1", "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("simulate: ") and len(err.strip().splitlines()) == 1


def test_the_simulated_arms_are_the_protocols_of_the_protocol_data() -> None:
    """cds_service.simulation spells the arms' ids so that `--help` imports nothing heavy (issue #14 item 3
    keeps protocol facts in the protocol data): they must stay the loader's ids, or a child would be
    simulated under a protocol the service does not know."""
    from cds_service.clinical import protocols

    assert (IHHE, KHE_MAINTENANCE, KHE_GUIDED) == (protocols.IHHE_SEQUENTIAL, protocols.KHE_MAINTENANCE,
                                                   protocols.KHE_GUIDED)
    assert set(protocols.load_protocols().by_id) == {IHHE, KHE_MAINTENANCE, KHE_GUIDED}
