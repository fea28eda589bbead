"""Warm at boot (issue #15, scenario f): the master runs the whole decision path once before forking."""
from __future__ import annotations

from cds_service.service.warm import warm_up


def test_warm_up_runs_the_dosing_path_with_the_pk_model_and_the_monitoring_path() -> None:
    dosing, monitoring = warm_up()
    assert dosing.kind == "dosing" and dosing.proposed_dose is not None
    assert dosing.model is not None and dosing.model.unusable_reason is None and dosing.model.curve  # scipy ran
    assert monitoring.kind == "monitoring" and monitoring.monitoring
