"""`sirolimus-cds plan`: the projected taper obeys the protocol's spacing and caps (KHE guided
discontinuation, rules 1-5; fhir_profiles/protocols/khe-guided-discontinuation.json 1.0.0), states each
dose in mg and mL, and draws the chart.

The rules are checked against the real dose history of the seeded patient (its MedicationRequests)
followed by the projected steps, so the first step is checked against the last real reduction too.
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from cds_service.synthetic import load_scenario
from tests.toolkit.helpers import daily_mg, run_cli, run_json

pytestmark = pytest.mark.integration

MAX_REDUCTION = 0.10  # rule 1: each reduction at most 10 % of the previous dose
WINDOW_DAYS = 30  # "monthly" as a rolling 30-day window (decision 0001)
MIN_DAYS_BETWEEN = 14  # rule 2: 5 half-lives, stated as 2 weeks
MIN_TAPER_DAYS = 183  # rule 5: at least 6 months
SOLUTION_MG_PER_ML = 1.0
TAPERING = ["khe-taper-step-due", "khe-taper-recent-step"]


def plan_args(server: Any, patient: str, *extra: str) -> list[str]:
    return ["plan", "--fhir-server", server.base_url, "--token", server.token, "--patient", patient, "--quiet",
            *extra]


def history(scenario: str, today: date) -> tuple[list[tuple[date, float]], date]:
    """(start, mg/day) of each seeded sirolimus order, and the taper start (the CarePlan's period.start)."""
    bundle = load_scenario(scenario, today)
    resources = [e["resource"] for e in bundle["entry"]]
    orders = [r for r in resources if r["resourceType"] == "MedicationRequest"
              and "sirolimus" in r["medicationCodeableConcept"].get("text", "").lower()]
    events = sorted((date.fromisoformat(o["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["start"]),
                     daily_mg(o)) for o in orders)
    careplan = next(r for r in resources if r["resourceType"] == "CarePlan")
    return events, date.fromisoformat(careplan["period"]["start"])


def dose_on(events: list[tuple[date, float]], day: date) -> float:
    return [mg for start, mg in events if start <= day][-1]


@pytest.mark.parametrize("scenario", TAPERING)
def test_projected_steps_keep_the_protocols_spacing_and_caps(seeded: Any, capsys: pytest.CaptureFixture[str],
                                                             scenario: str) -> None:
    plan = run_json(capsys, plan_args(seeded, scenario))
    today = date.fromisoformat(plan["decided_on"])
    assert plan["phase"] == "tapering" and plan["protocol"]["id"] == "khe-guided-discontinuation"
    steps = plan["schedule"]
    assert len(steps) >= 3, "a taper plan of several steps"
    events, taper_start = history(scenario, today)
    reductions = [s for s in steps if s["daily_dose_mg"] > 0]
    stops = [s for s in steps if s["daily_dose_mg"] == 0]
    timeline = list(events)
    for step in reductions:
        due = date.fromisoformat(step["due_on"])
        new = step["daily_dose_mg"]
        previous_change = timeline[-1][0]
        assert due >= today
        assert (due - previous_change).days >= MIN_DAYS_BETWEEN, f"{due}: under 2 weeks after {previous_change}"
        previous = dose_on(timeline, due - timedelta(days=1))
        assert new < previous, f"{due}: a taper step reduces the dose"
        assert new >= previous * (1 - MAX_REDUCTION) - 1e-9, f"{due}: {previous} -> {new} is more than 10 %"
        window_high = max(dose_on(timeline, due - timedelta(days=k)) for k in range(1, WINDOW_DAYS + 1))
        assert new >= window_high * (1 - MAX_REDUCTION) - 1e-9, \
            f"{due}: {window_high} -> {new} is more than 10 % within {WINDOW_DAYS} days"
        # doses in mg and mL: the oral solution 1 mg/mL, per administration, consistent with the daily dose
        assert step["ml_per_administration"] == pytest.approx(step["mg_per_administration"] / SOLUTION_MG_PER_ML)
        assert step["mg_per_administration"] * step["administrations_per_day"] == pytest.approx(new, abs=1e-6)
        trough_on = date.fromisoformat(step["trough_due_on"])
        assert MIN_DAYS_BETWEEN <= (trough_on - due).days <= WINDOW_DAYS, "a trough at steady state, monthly"
        timeline.append((due, new))
    for stop in stops:  # the stop rule applies only after the 6-month minimum
        assert date.fromisoformat(stop["due_on"]) >= taper_start + timedelta(days=MIN_TAPER_DAYS)
        assert stop is steps[-1]


def test_table_shows_dates_and_doses_in_mg_and_ml(seeded: Any, capsys: pytest.CaptureFixture[str]) -> None:
    plan = run_json(capsys, plan_args(seeded, "khe-taper-step-due"))
    status, out, err = run_cli(capsys, plan_args(seeded, "khe-taper-step-due"))
    assert status == 0, err
    assert "mg/day" in out and "mL/dose" in out and "pred. trough ng/mL" in out
    assert "Protocol: Kaposiform hemangioendothelioma: guided discontinuation" in out and "v1.0.0" in out
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    assert len(rows) == len(plan["schedule"])
    for row, step in zip(rows, plan["schedule"], strict=True):
        assert row[1] == step["due_on"] and row[7] == step["trough_due_on"]
        assert float(row[2]) == pytest.approx(step["daily_dose_mg"])
        if step["daily_dose_mg"] > 0:
            assert float(row[3]) == pytest.approx(step["mg_per_administration"])
            assert float(row[4]) == pytest.approx(step["ml_per_administration"])
    assert seeded.token not in out + err


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_out_writes_the_chart(seeded: Any, capsys: pytest.CaptureFixture[str], tmp_path: Any, suffix: str) -> None:
    path = tmp_path / f"plan{suffix}"
    status, _, err = run_cli(capsys, plan_args(seeded, "khe-taper-step-due", "--out", str(path)))
    assert status == 0, err
    data = path.read_bytes()
    assert len(data) > 1000
    if suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert b"<svg" in data and b"</svg>" in data


def test_a_patient_not_tapering_gets_no_plan_and_is_told_why(seeded: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, plan_args(seeded, "khe-nmol"))
    assert status == 0
    assert "No taper plan: the patient is not tapering (phase: maintenance)." in out
    assert json.loads(run_cli(capsys, [*plan_args(seeded, "khe-nmol"), "--json"])[1])["schedule"] == []


@pytest.mark.parametrize(("argv", "status"), [
    (["plan", "--fhir-server", "http://127.0.0.1:9/fhir"], 2),  # no --patient
    (["plan", "--fhir-server", "http://127.0.0.1:9/fhir", "--patient", "p", "--out", "plan.pdf"], 2),
])
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], status: int) -> None:
    got, _, err = run_cli(capsys, argv)
    assert got == status and err.startswith("plan: ")


def test_unknown_patient_exits_1(seeded: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, plan_args(seeded, "no-such-patient"))
    assert status == 1 and out == "" and "not found" in err


class _OtherPatientReader:
    """A FHIR server answering for another child (a mix-up in its search or its proxy)."""

    base_url = "http://fhir.example/fhir"

    def record_data(self, patient_id: str, templates: dict[str, str]) -> Any:
        from cds_service.fhir.gather import Gathered

        return Gathered(patient={"resourceType": "Patient", "id": "another-child"}, resources=[])

    def progress(self, text: str) -> None:
        pass


def test_plan_never_plans_on_another_patients_record() -> None:
    """The same patient check as a hook call (pipeline.patient_of): the record of another child is refused."""
    from cds_service.cli.common import ToolkitError
    from cds_service.cli.plan import decide

    with pytest.raises(ToolkitError, match="not the patient"):
        decide(_OtherPatientReader(), "khe-taper-eligible")  # type: ignore[arg-type]
