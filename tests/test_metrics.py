"""Metrics labels come from closed sets; /metrics answers only on the metrics listener (decision 0122)."""
from __future__ import annotations

import pytest

from cds_service.http.metrics import hook_outcome
from cds_service.http.operations import METRICS_PORT
from tests.support.app import make_app

METRICS = {"SERVER_PORT": "9464"}


@pytest.fixture
def client(tmp_path):
    app = make_app(tmp_path)
    app.config[METRICS_PORT] = 9464
    return app.test_client()


@pytest.mark.parametrize(("status", "logged", "label"), [
    (200, "2 card(s)", "cards"), (200, "no-cards", "no-cards"), (200, "not-concerned", "not-concerned"),
    (200, "not-sirolimus", "not-sirolimus"), (412, "incomplete", "data-unavailable"), (401, None, "unauthorized"),
    (503, "transient", "unavailable"), (418, None, "bad-request"), (502, None, "error"),
])
def test_a_hook_outcome_is_one_word_of_a_closed_set(status, logged, label):
    assert hook_outcome(status, logged) == label


def test_caller_text_never_becomes_a_label(client):
    patient_like = "patient-8812345-jane-doe"
    assert client.post(f"/cds-services/{patient_like}", json={}).status_code == 404
    bad = {"hook": "patient-view", "hookInstance": patient_like, "context": {"patientId": patient_like}}
    assert client.post("/cds-services/sirolimus-monitoring", json=bad).status_code == 400
    text = client.get("/metrics", environ_overrides=METRICS).get_data(as_text=True)
    assert patient_like not in text
    assert 'sirolimus_cds_hook_calls_total{hook="unknown",outcome="not-found",service="unknown"}' in text
    assert 'hook="patient-view",outcome="bad-request",service="sirolimus-monitoring"' in text


def test_metrics_are_not_served_where_the_ehr_calls(client):
    refused = client.get("/metrics")
    assert refused.status_code == 404
    assert refused.get_json()["resourceType"] == "OperationOutcome"
    assert client.get("/metrics", environ_overrides=METRICS).content_type.startswith("text/plain; version=0.0.4")


@pytest.mark.parametrize("path", ["/cds-services", "/decisions/00000000-0000-4000-8000-000000000000",
                                  "/fhir/PlanDefinition/x"])
def test_the_metrics_listener_answers_only_metrics_and_probes(client, path, caplog):
    assert client.get(path, environ_overrides=METRICS).status_code == 404
    before = _hook_calls(client)
    assert client.post("/cds-services/sirolimus-monitoring", json={}, environ_overrides=METRICS).status_code == 404
    assert _hook_calls(client) == before  # refused there, and not counted as a hook call
    assert "metrics not recorded" not in caplog.text
    assert client.get("/livez", environ_overrides=METRICS).status_code == 200
    assert client.get("/readyz", environ_overrides=METRICS).status_code == 200


def _hook_calls(client) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics", environ_overrides=METRICS).get_data(as_text=True)
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "sirolimus_cds_hook_calls_total")
