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


@pytest.mark.parametrize(("folder", "name", "key_path", "value"), [
    ("protocols", "khe-maintenance", ("measuring", "tablet_exposure_vs_solution"), 1.2),
    ("protocols", "ihhe-sequential-sirolimus", ("measuring", "exposure_source"), "a site's label"),
    ("pk-priors", "chen-2020-khe", ("relative_bioavailability",), {"solution": 1.0, "tablet": 1.2}),
])
def test_the_tablet_exposure_is_one_number_and_a_files_own_copy_is_refused(
        profiles: Path, folder: str, name: str, key_path: tuple[str, ...], value: object) -> None:
    """Review 2026-12-02 and finding 4 (#14): the draft check, the solution proposals (protocols) and the PK
    model (priors) use one tablet/solution exposure, kept in pharmacology/sirolimus.json (decision 0023); a
    site that puts its own figure into one file would have the card's linear line and its model line
    disagree about the same switch, so such a file stops start-up in one line naming where the number lives."""
    path = profiles / folder / f"{name}.json"
    data = json.loads(path.read_text())
    target = data
    for key in key_path[:-1]:
        target = target[key]
    target[key_path[-1]] = value
    path.write_text(json.dumps(data))
    problem = data_files.first_data_problem(profiles)
    assert problem is not None and "\n" not in problem
    assert f"{name}.json" in problem and "/".join(key_path) in problem
    assert "pharmacology/sirolimus.json" in problem and "remove it here" in problem


def test_a_broken_pharmacology_file_is_named(profiles: Path) -> None:
    path = profiles / "pharmacology" / "sirolimus.json"
    data = json.loads(path.read_text())
    data["tablet_exposure_vs_solution"] = "1.27"
    path.write_text(json.dumps(data))
    problem = data_files.first_data_problem(profiles)
    assert problem is not None and "sirolimus.json" in problem and "tablet_exposure_vs_solution" in problem
