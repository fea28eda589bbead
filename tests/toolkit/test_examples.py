"""The example hook requests under examples/: one per scenario and hook, valid CDS Hooks 2.0, their
draft orders valid R4 once the known sandbox oddities are straightened, and current with the script."""
from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.synthetic import catalog, scenario_names
from fhir_profiles.schemas import problems

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FILES = sorted(EXAMPLES.glob("*/*.json"))
# R4 MedicationRequest elements with cardinality 0..* that the CDS Hooks sandbox sends as one object.
SANDBOX_SINGLE_OBJECTS = ("reasonCode", "category")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def straightened(resource: dict[str, Any]) -> dict[str, Any]:
    fixed = copy.deepcopy(resource)
    for key in SANDBOX_SINGLE_OBJECTS:
        if isinstance(fixed.get(key), dict):
            fixed[key] = [fixed[key]]
    return fixed


def test_every_scenario_has_a_patient_view_example_and_the_dosing_ones_order_select() -> None:
    found = {(p.parent.name, p.stem) for p in FILES}
    assert {(name, "patient-view") for name in scenario_names()} <= found
    order_select = {name for name, hook in found if hook == "order-select"}
    assert {"ihhe-propranolol-failed", "ihhe-trough-low", "khe-maintenance-high", "khe-taper-step-due"} <= order_select
    assert {hook for _, hook in found} == {"patient-view", "order-select"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_is_a_valid_hook_request(path: Path) -> None:
    doc = load(path)
    assert problems("hook-request", doc) == []
    assert doc["hook"] == path.stem
    assert doc["context"]["patientId"] == catalog()[path.parent.name].patient_id
    assert doc["fhirServer"] == "http://127.0.0.1:8090/fhir"
    assert "fhirAuthorization" not in doc, "examples carry no credentials"


@pytest.mark.parametrize("path", [p for p in FILES if p.stem == "order-select"], ids=lambda p: p.parent.name)
def test_draft_order_is_valid_r4_after_the_sandbox_oddities(path: Path) -> None:
    doc = load(path)
    entries = doc["context"]["draftOrders"]["entry"]
    assert len(entries) == 1
    draft = entries[0]["resource"]
    assert doc["context"]["selections"] == [f"MedicationRequest/{draft['id']}"]
    assert draft["status"] == "draft" and draft["subject"] == {"reference": f"Patient/{doc['context']['patientId']}"}
    get_fhir_model_class("MedicationRequest").model_validate(straightened(draft))


def test_the_drafts_cover_mg_ml_and_the_sandbox_tablet_count() -> None:
    units = set()
    for path in FILES:
        if path.stem == "order-select":
            quantity = load(path)["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0][
                "doseAndRate"][0]["doseQuantity"]
            units.add(quantity["code"])
            if quantity["code"] == "{pill}":
                assert quantity == {"value": 1, "system": "http://unitsofmeasure.org", "code": "{pill}"}
    assert {"mg", "mL", "{pill}"} <= units


def test_examples_are_what_the_script_makes(tmp_path: Path) -> None:
    """The committed JSON is current: the script, writing elsewhere, makes the same files."""
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    made = {p.relative_to(tmp_path): p.read_bytes() for p in sorted(tmp_path.glob("*/*.json"))}
    assert made == {p.relative_to(EXAMPLES): p.read_bytes() for p in FILES}
