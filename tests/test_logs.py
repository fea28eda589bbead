"""Request logs: one JSON line per request, with ids and timings, and no token, JWT or PHI."""
from __future__ import annotations

import json
import logging
import sys

import pytest

from cds_service.http.logs import ACCESS_LOGGER, JsonFormatter, configure_logging, install_request_logging
from cds_service.service.services import services
from tests.support.app import hook_request, make_app

ACCESS_TOKEN = "fhir-access-token-5b2e0c"
JWT = "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJodHRwczovL2VociJ9.c2lnbmF0dXJl"
NAME, BIRTH_DATE = "Philippa Quenneville", "2019-04-03"


@pytest.fixture
def client(tmp_path):
    app = make_app(tmp_path)
    install_request_logging(app)  # idempotent: harmless once create_app installs it too
    return app.test_client()


def _complete_prefetch(patient_id: str) -> dict:
    prefetch: dict = {key: None for key in services()["sirolimus-monitoring"].prefetch}
    prefetch["patient"] = {"resourceType": "Patient", "id": patient_id, "birthDate": BIRTH_DATE,
                           "name": [{"family": NAME.split()[1], "given": [NAME.split()[0]], "text": NAME}]}
    return prefetch


def _lines(caplog) -> list[dict]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records
            if record.name.startswith("sirolimus_cds")]


def _access(caplog) -> dict:
    lines = [line for line in _lines(caplog) if line["logger"] == ACCESS_LOGGER]
    assert len(lines) == 1, lines
    return lines[0]


def test_a_hook_call_is_one_json_line_with_ids_status_timing_and_no_secrets(client, caplog):
    caplog.set_level(logging.DEBUG, logger="sirolimus_cds")
    request = hook_request("patient-view", "log-patient-1", "https://ehr.example.org/fhir", ACCESS_TOKEN,
                           prefetch=_complete_prefetch("log-patient-1"))
    response = client.post("/cds-services/sirolimus-monitoring", json=request,
                           headers={"Authorization": f"Bearer {JWT}", "X-Request-Id": "ehr-req-42"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    line = _access(caplog)
    assert line["request_id"] == "ehr-req-42" == response.headers["X-Request-Id"]
    assert line["method"] == "POST"
    assert line["path"] == "/cds-services/<service_id>"
    assert line["service"] == "sirolimus-monitoring"
    assert line["hookInstance"] == request["hookInstance"]
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert isinstance(line["outcome"], str) and line["outcome"]
    everything = caplog.text + json.dumps(_lines(caplog))
    for secret in (ACCESS_TOKEN, JWT, NAME, NAME.split()[0], BIRTH_DATE):
        assert secret not in everything


def test_a_failed_hook_call_still_logs_its_hook_instance_and_the_issue_code(client, caplog):
    caplog.set_level(logging.INFO, logger="sirolimus_cds")
    request = hook_request("patient-view", "log-patient-2", None, None)
    response = client.post("/cds-services/sirolimus-monitoring", json=request)
    assert response.status_code == 412
    line = _access(caplog)
    assert (line["status"], line["outcome"], line["hookInstance"]) == (412, "incomplete", request["hookInstance"])


def test_a_schema_error_quoting_a_name_does_not_put_the_name_in_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG, logger="sirolimus_cds")
    request = hook_request("patient-view", "log-patient-3", None, None)
    request["context"]["patientId"] = NAME  # not an id: the schema error message quotes it
    response = client.post("/cds-services/sirolimus-monitoring", json=request)
    assert response.status_code == 400
    assert _access(caplog)["outcome"] == "invalid"
    assert NAME not in caplog.text + json.dumps(_lines(caplog))


@pytest.mark.parametrize("header", ["bad id with spaces", "x" * 65, "id;\"quote\"", "é", ""])
def test_an_unsafe_request_id_is_replaced_by_a_fresh_one(client, caplog, header):
    caplog.set_level(logging.INFO, logger="sirolimus_cds")
    response = client.get("/cds-services", headers={"X-Request-Id": header.encode("utf-8").decode("latin-1")})
    line = _access(caplog)
    assert line["request_id"] == response.headers["X-Request-Id"] != header
    assert len(line["request_id"]) == 36  # a uuid4


def test_an_unknown_service_id_is_not_logged_as_a_service(client, caplog):
    caplog.set_level(logging.INFO, logger="sirolimus_cds")
    client.post(f"/cds-services/{NAME.replace(' ', '-')}", json={})
    line = _access(caplog)
    assert (line["status"], line["service"], line["outcome"]) == (404, None, "not-found")
    assert line["path"] == "/cds-services/<service_id>"


def test_an_exception_is_logged_by_type_and_stack_not_by_its_message():
    try:
        raise KeyError(NAME)
    except KeyError:
        record = logging.getLogger("sirolimus_cds.http").makeRecord(
            "sirolimus_cds.http", logging.ERROR, __file__, 1, "unexpected %s", ("KeyError",), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["exc_type"] == "KeyError" and "test_logs.py" in line["stack"]
    assert NAME not in json.dumps(line)


def test_configure_logging_writes_json_lines_to_stderr(capsys):
    tree = logging.getLogger("sirolimus_cds")
    before = (list(tree.handlers), tree.level, tree.propagate)
    try:
        configure_logging("info")
        configure_logging("info")  # twice: still one handler, one line per record
        logging.getLogger(ACCESS_LOGGER).info("hello", extra={"fields": {"status": 204}})
        logging.getLogger(ACCESS_LOGGER).debug("not at info")
        lines = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
        assert [(line["message"], line["status"], line["level"]) for line in lines] == [("hello", 204, "INFO")]
    finally:
        tree.handlers[:], tree.level, tree.propagate = before
