"""Reading FHIR JSON: unit conversion, unusable resources, and tolerant draft reading."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cds_service.clinical.errors import ProtocolDataError
from cds_service.clinical.protocols import parse_protocol
from cds_service.clinical.reading.draft import draft_from_context, read_draft
from cds_service.clinical.reading.record import build_record
from fhir_profiles import load_json
from tests.clinical import fhir

SANDBOX = Path(__file__).resolve().parents[1] / "fixtures" / "cds-hooks-sandbox-recorded"
TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(("value", "unit", "kg"), [(20, "kg", 20.0), (6500, "g", 6.5), (44.092, "[lb_av]", 20.0)])
def test_weight_units_are_converted(value: float, unit: str, kg: float) -> None:
    record = build_record(fhir.patient(date(2020, 1, 1)), [fhir.weight(value, date(2026, 11, 1), unit)], TODAY)
    assert record.weights_kg[0].value == pytest.approx(kg, abs=0.001)


def test_an_invalid_resource_is_reported_with_its_id_not_dropped() -> None:
    bad = fhir.trough(6.0, date(2026, 11, 1))
    bad["valueQuantity"]["value"] = "six"  # not a decimal
    bad["valueQuantity"] = {"value": "six", "code": "ng/mL"}
    good = fhir.trough(6.0, date(2026, 11, 2))
    record = build_record(fhir.patient(date(2020, 1, 1)), [bad, good], TODAY)
    assert [u.resource for u in record.unusable] == [f"Observation/{bad['id']}"]
    assert [t.resource for t in record.troughs] == [f"Observation/{good['id']}"]


def test_dose_history_in_ml_and_tablets() -> None:
    res = fhir.chain(fhir.sirolimus(date(2025, 1, 1), 0.4), fhir.sirolimus(date(2026, 1, 1), 1, unit="{pill}",
                                                                         product=fhir.TAB_05, per_day=1))
    record = build_record(fhir.patient(date(2020, 1, 1)), res, TODAY)
    first, second = record.sirolimus_doses
    assert first.daily_dose_mg == pytest.approx(0.8) and first.end == date(2026, 1, 1)  # 0.4 mL x 1 mg/mL x 2
    assert second.daily_dose_mg == pytest.approx(0.5) and second.formulation == "tablet"


@pytest.mark.parametrize(("name", "kind", "daily_mg", "missing"), [
    ("order-select-initial", "no_medication", None, "no medication"),
    ("order-select-condition-only", "no_medication", None, "no medication"),
    ("order-select-sirolimus-default-dose", "sirolimus", 0.5, None),   # 1 x 0.5 mg tablet once daily
    ("order-select-sirolimus", "sirolimus", 1.0, None),                # 1 x 0.5 mg tablet twice daily
    ("order-sign-sirolimus", "sirolimus", 1.0, None),
])
def test_sandbox_drafts_are_read_tolerantly(name: str, kind: str, daily_mg: float | None,
                                            missing: str | None) -> None:
    path = SANDBOX / f"{name}.json"
    assert path.exists(), f"the recorded sandbox request {path} is missing (tests/fixtures/cds-hooks-sandbox-recorded/)"
    body = json.loads(path.read_text())
    draft = read_draft(draft_from_context(body["context"]["draftOrders"]))
    assert draft.kind == kind and draft.daily_dose_mg == daily_mg
    if missing:
        assert any(missing in m for m in draft.missing)


def test_a_volume_without_a_solution_product_gives_no_mg() -> None:
    d = fhir.draft(0.5, "mL", 2)
    d["medicationCodeableConcept"] = {"coding": [{"system": fhir.RX, "code": "35302"}]}  # ingredient only
    draft = read_draft(d)
    assert draft.kind == "sirolimus" and draft.daily_dose_mg is None and draft.missing


def test_protocol_data_is_validated_on_load() -> None:
    data = dict(load_json("protocols/khe-guided-discontinuation.json"))
    data["taper"] = {**data["taper"], "window_days": 45}  # only 28 or 30 are allowed
    with pytest.raises(ProtocolDataError):
        parse_protocol(data)
