"""Warm at boot (issue #15, scenario f): the master runs the whole decision path once before forking."""
from __future__ import annotations

from cds_service.service.warm import warm_up


def test_warm_up_runs_the_dosing_path_with_the_pk_model_and_the_monitoring_path() -> None:
    dosing, monitoring = warm_up()
    assert dosing.kind == "dosing" and dosing.proposed_dose is not None
    assert dosing.model is not None and dosing.model.unusable_reason is None and dosing.model.curve  # scipy ran
    assert monitoring.kind == "monitoring" and monitoring.monitoring


def test_what_the_master_loaded_is_left_out_of_every_later_collection() -> None:
    """gc.freeze after the warm-up: a worker's collector never visits (and so never copies) the master's objects."""
    import gc

    from cds_service.service.warm import share_with_workers

    loaded = [["from the master"] for _ in range(10)]  # lists: always tracked by the collector
    assert any(obj is loaded[0] for obj in gc.get_objects())
    try:
        share_with_workers()
        assert gc.get_freeze_count() > 0
        assert not any(obj is loaded[0] for obj in gc.get_objects())
    finally:
        gc.unfreeze()
