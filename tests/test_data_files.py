"""A broken protocol or prior file stops the commands at start, naming file and key (issue #12)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cds_service import cli
from cds_service.service import data_files
from fhir_profiles import PROFILES_DIR


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    copy = tmp_path / "fhir_profiles"
    shutil.copytree(PROFILES_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_shipped_files_are_usable() -> None:
    assert data_files.first_data_problem() is None


def test_a_protocol_threshold_of_the_wrong_type_is_named(profiles: Path) -> None:
    path = profiles / "protocols" / "khe-maintenance.json"
    data = json.loads(path.read_text())
    data["sanity_limits"]["max_daily_mg"] = "four"
    path.write_text(json.dumps(data))
    problem = data_files.first_data_problem(profiles)
    assert problem is not None and "khe-maintenance.json" in problem and "sanity_limits/max_daily_mg" in problem


def test_a_misspelt_protocol_key_is_named_with_the_key_it_replaces(profiles: Path) -> None:
    path = profiles / "protocols" / "khe-maintenance.json"
    data = json.loads(path.read_text())
    data["trough"]["max_age_dyas"] = data["trough"].pop("max_age_days")
    path.write_text(json.dumps(data))
    problem = data_files.first_data_problem(profiles)
    assert problem is not None and "\n" not in problem
    assert "'max_age_dyas'" in problem and "'max_age_days'" in problem


def test_a_prior_file_that_is_not_json_is_named_with_its_line(profiles: Path) -> None:
    path = profiles / "pk-priors" / "chen-2020-khe.json"
    path.write_text('{\n  "prior_id": "chen-2020-khe",\n  oops\n}')
    problem = data_files.first_data_problem(profiles)
    assert problem is not None and "chen-2020-khe.json" in problem and "line 3" in problem


FHIR = ["--fhir-server", "http://127.0.0.1:9/fhir", "--patient", "x"]


@pytest.mark.parametrize("command", [["serve", "--dev"], ["check", *FHIR], ["plan", *FHIR]])
def test_serve_check_and_plan_stop_with_one_line_and_exit_2(command, profiles: Path, monkeypatch, capsys) -> None:
    (profiles / "protocols" / "ihhe-sequential-sirolimus.json").write_text("{}")
    monkeypatch.setattr(data_files.first_data_problem, "__defaults__", (profiles,))
    assert cli.main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("data file error: ") and "ihhe-sequential-sirolimus.json" in err[0]


def test_the_tablet_exposure_is_one_number_in_the_protocols_and_the_pk_priors(profiles: Path) -> None:
    """Review 2026-12-02: the draft check (protocol `measuring.tablet_exposure_vs_solution`) and the PK
    model (prior `relative_bioavailability`) must use the same tablet/solution exposure; a site changing
    one alone would have the card's linear line and its model line disagree about the same switch."""
    path = profiles / "protocols" / "khe-maintenance.json"
    data = json.loads(path.read_text())
    data["measuring"]["tablet_exposure_vs_solution"] = 1.2
    path.write_text(json.dumps(data))
    problem = data_files.first_data_problem(profiles)
    assert problem is not None and "khe-maintenance.json" in problem and "tablet_exposure_vs_solution" in problem
    assert "relative_bioavailability" in problem
