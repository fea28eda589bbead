"""/metrics of a real `sirolimus-cds serve` with 2 gunicorn workers (issue #13, item 6).

Hook calls go to both workers (over new connections, until each worker has recorded some); one worker
is then stopped and replaced; every scrape of the metrics listener shows the counters summed over the
workers, the stopped one included, whichever worker answers it, and no patient id, hookInstance, card
or decision id appears anywhere in the text. `serve` removes its metrics directory when it stops.
"""
from __future__ import annotations

import os
import re
import signal
import time
import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cards.common import card_kind
from cds_service.config import METRICS_PORT_ENV
from cds_service.synthetic.seed import seed
from tests.support.jwt_tokens import bearer, make_es384_key, sandbox_token
from tests.support.service_process import ServiceProcess, free_port, running_service, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PATIENT = "khe-taper-step-due"
MONITORING = {"service": "sirolimus-monitoring", "hook": "patient-view"}


def _post(service: ServiceProcess, key, kid, path: str, body: dict) -> requests.Response:
    url = f"{service.base_url}{path}"
    token = sandbox_token(key, kid, aud=url)
    return requests.post(url, json=body, headers={"Authorization": bearer(token), "Connection": "close"},
                         timeout=30)


def _hook(fhir_server, fhir_base: str) -> dict:
    return {
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": fhir_base,
        "fhirAuthorization": {"access_token": fhir_server.token, "token_type": "Bearer", "expires_in": 300,
                              "scope": "patient/*.read", "subject": "sirolimus-cds"},
        "context": {"userId": "Practitioner/1", "patientId": PATIENT},
    }


def _workers(service: ServiceProcess, expected: int, without: int | None = None) -> set[int]:
    """The gunicorn master's children, once `expected` of them (not `without`) have started."""
    pid, deadline = service.process.pid, time.monotonic() + 30
    while True:
        children = {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
        children.discard(without)  # type: ignore[arg-type]
        if len(children) >= expected or time.monotonic() > deadline:
            return children
        time.sleep(0.1)


def _counting_workers(directory: Path, workers: set[int]) -> set[int]:
    """The workers that have written a counter sample file (prometheus_client: counter_<pid>.db)."""
    return {worker for worker in workers if (directory / f"counter_{worker}.db").exists()}


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def _value(samples, name: str, **labels: str) -> float:
    return sum(value for sample, found, value in samples
               if sample == name and all(found.get(k) == v for k, v in labels.items()))


def test_metrics_sum_the_two_workers_and_name_no_patient(tmp_path, fhir_server, monkeypatch):
    seed(fhir_server.base_url, fhir_server.token, names=[PATIENT])
    key, kid, port, metrics_port = make_es384_key(), str(uuid.uuid4()), free_port(), free_port()
    monkeypatch.setenv(METRICS_PORT_ENV, str(metrics_port))
    config = write_config(tmp_path, port, [fhir_server.base_url], key, kid)
    identifiers: list[str] = [PATIENT]
    with running_service(tmp_path, config, port, workers=2) as service:
        directory = Path(re.search(r"worker samples in (\S+)\)", service.output()).group(1))
        workers = _workers(service, 2)
        assert len(workers) == 2
        answers = []
        while len(answers) < 12 or (_counting_workers(directory, workers) != workers and len(answers) < 60):
            hook = _hook(fhir_server, fhir_server.base_url)
            answered = _post(service, key, kid, "/cds-services/sirolimus-monitoring", hook)
            assert answered.status_code == 200, answered.text[:500]
            answers.append(answered.json()["cards"])
            identifiers.append(hook["hookInstance"])
        assert _counting_workers(directory, workers) == workers  # both workers answered hook calls
        refused = _post(service, key, kid, "/cds-services/sirolimus-monitoring",
                        _hook(fhir_server, "http://127.0.0.1:9/fhir"))  # not in allowed_servers
        assert refused.status_code == 412
        cards = [card for cards in answers for card in cards]
        identifiers += [card["uuid"] for card in cards] + [link["url"].rsplit("/", 1)[1] for card in cards
                                                           for link in card.get("links", [])]
        for card, outcome in ((answers[0][0], "accepted"), (answers[1][0], "overridden")):
            item = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": "2026-11-22T10:00:00Z"}
            if outcome == "accepted":
                item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
            posted = _post(service, key, kid, "/cds-services/sirolimus-monitoring/feedback", {"feedback": [item]})
            assert posted.status_code == 200, posted.text
        # A worker that exits (gunicorn replaces it) takes neither the directory nor its counts with it.
        stopped = min(workers)
        os.kill(stopped, signal.SIGTERM)
        replaced = _workers(service, 2, without=stopped)
        assert len(replaced) == 2 and directory.is_dir()
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        scrapes = [requests.get(metrics_url, headers={"Connection": "close"}, timeout=10) for _ in range(4)]
        on_service_port = requests.get(f"{service.base_url}/metrics", timeout=10)
        hooks_on_metrics_port = requests.get(f"http://127.0.0.1:{metrics_port}/cds-services", timeout=10)
        ready = requests.get(f"http://127.0.0.1:{metrics_port}/readyz", timeout=10)

    assert not directory.exists()  # serve removed its PROMETHEUS_MULTIPROC_DIR on exit
    assert on_service_port.status_code == 404 and hooks_on_metrics_port.status_code == 404
    assert ready.status_code == 200
    assert all(scrape.status_code == 200 for scrape in scrapes)
    assert scrapes[0].headers["Content-Type"].startswith("text/plain; version=0.0.4")
    calls = len(answers)
    for scrape in scrapes:  # whichever worker answered the scrape, the same sums
        samples = _samples(scrape.text)
        assert _value(samples, "sirolimus_cds_hook_calls_total", outcome="cards", **MONITORING) == calls
        assert _value(samples, "sirolimus_cds_hook_calls_total", outcome="data-unavailable", **MONITORING) == 1
        assert _value(samples, "sirolimus_cds_hook_call_seconds_count", **MONITORING) == calls + 1
        assert _value(samples, "sirolimus_cds_fhir_read_seconds_count") >= 2  # at least the first call's reads
        assert _value(samples, "sirolimus_cds_fhir_read_failures_total", cause="not-allowed") == 1
        for card, outcome in ((answers[0][0], "accepted"), (answers[1][0], "overridden")):
            kind = card_kind(card)
            assert kind is not None
            assert _value(samples, "sirolimus_cds_card_feedback_total", outcome=outcome, kind=kind.value,
                          service="sirolimus-monitoring") == 1
    text = scrapes[0].text
    leaked = [identifier for identifier in identifiers if identifier in text]
    assert leaked == []
