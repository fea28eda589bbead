"""Hostile and malformed request bodies: each is a 4xx with an OperationOutcome, never a 500.

The caps are set low here (LimitSettings) so that each test sends a small body just over one cap.
"""
from __future__ import annotations

import http.client
import io
import json
import threading

import pytest
from werkzeug.serving import make_server

from cds_service.config import LimitSettings
from fhir_profiles.schemas import problems
from tests.support.app import hook_request, make_app

LIMITS = LimitSettings(max_body_bytes=64 * 1024, max_json_depth=12, max_array_length=50, max_bundle_entries=20,
                       max_string_length=1000)
HOOK_URL = "/cds-services/sirolimus-monitoring"
FEEDBACK_URL = "/cds-services/sirolimus-monitoring/feedback"
CHUNKED = {"wsgi.input_terminated": True}  # what a server sets for a chunked body (no Content-Length)


@pytest.fixture
def client(tmp_path):
    return make_app(tmp_path, limits=LIMITS).test_client()


def _request(**extra) -> dict:
    return hook_request("patient-view", "limits-1", None, None, **extra)


def _outcome(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert problems("operation-outcome", body) == [], body
    return " | ".join(issue.get("diagnostics", "") for issue in body["issue"])


def _post(client, raw: bytes | str, content_type: str = "application/json", url: str = HOOK_URL):
    data = raw.encode() if isinstance(raw, str) else raw
    return client.post(url, data=data, content_type=content_type)


# -- size ------------------------------------------------------------------------------------------

def test_a_body_over_the_cap_with_content_length_is_413(client):
    body = json.dumps(_request(extension={"pad": "x" * 900} | {f"k{i}": "y" * 900 for i in range(49)}))
    body = body + " " * (LIMITS.max_body_bytes + 1 - len(body))
    assert "larger than" in _outcome(_post(client, body), 413)


@pytest.mark.parametrize("url", [HOOK_URL, FEEDBACK_URL])
def test_a_chunked_body_over_the_cap_without_content_length_is_413(client, url):
    body = json.dumps(_request()).encode() + b" " * LIMITS.max_body_bytes
    response = client.post(url, input_stream=io.BytesIO(body), headers={"Content-Type": "application/json"},
                           environ_overrides=CHUNKED)
    _outcome(response, 413)


def test_a_chunked_body_under_the_cap_is_read(client):
    body = json.dumps(_request()).encode()
    response = client.post(HOOK_URL, input_stream=io.BytesIO(body), headers={"Content-Type": "application/json"},
                           environ_overrides=CHUNKED)
    # read in full: the hook runs, and without prefetch nor fhirServer the data is missing
    assert "no fhirServer" in _outcome(response, 412)


@pytest.mark.parametrize("size", [LIMITS.max_body_bytes + 1, 200 * 1024 * 1024])
def test_a_content_length_over_the_cap_is_refused_before_reading(client, size):
    never_read = io.BytesIO(b"{}")
    response = client.post(HOOK_URL, input_stream=never_read, headers={"Content-Type": "application/json"},
                           environ_overrides={"CONTENT_LENGTH": str(size)})
    _outcome(response, 413)
    assert never_read.tell() == 0


def _post_chunked(tmp_path, chunks: list[bytes]) -> tuple[int, dict]:
    """POST through a real HTTP server (werkzeug's, which decodes chunked bodies as gunicorn does)."""
    app = make_app(tmp_path, limits=LIMITS)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        connection.request("POST", HOOK_URL, body=iter(chunks), headers={"Content-Type": "application/json"},
                           encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        server.shutdown()


@pytest.mark.slow
def test_a_chunked_body_over_the_cap_on_a_real_socket_is_413(tmp_path):
    chunks = [json.dumps(_request()).encode()] + [b" " * 8192] * (LIMITS.max_body_bytes // 8192 + 1)
    status, body = _post_chunked(tmp_path, chunks)
    assert status == 413
    assert problems("operation-outcome", body) == []


def test_a_valid_body_in_many_chunks_on_a_real_socket_is_read_whole(tmp_path):
    raw = json.dumps(_request()).encode()
    status, body = _post_chunked(tmp_path, [raw[i:i + 7] for i in range(0, len(raw), 7)])
    assert status == 412, body  # parsed whole: only the FHIR data is missing
    assert "no fhirServer" in body["issue"][0]["diagnostics"]


# -- structure caps --------------------------------------------------------------------------------

def _nested(depth: int) -> dict:
    node: dict = {"leaf": 1}
    for _ in range(depth):
        node = {"n": node}
    return node


@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        (_nested(LIMITS.max_json_depth), "nested deeper"),
        ({"items": list(range(LIMITS.max_array_length + 1))}, "array has more than"),
        ({f"k{i}": i for i in range(LIMITS.max_array_length + 1)}, "object has more than"),
        ({"s": "x" * (LIMITS.max_string_length + 1)}, "string is longer"),
        ({"k" * (LIMITS.max_string_length + 1): 1}, "member name is longer"),
        ({"b": {"resourceType": "Bundle", "entry": [{}] * (LIMITS.max_bundle_entries + 1)}}, "Bundle holds more"),
        ({"b": {"resourceType": "Bundle", "entry": 5}}, "entry"),
        ({"b": {"resourceType": "Bundle", "entry": "x" * 30}}, "entry"),
        ({"s": "nul \u0000 byte"}, "NUL character"),
        ({"s": "lone \ud800 surrogate"}, "surrogate"),
    ],
    ids=["depth", "array", "object", "string", "key", "bundle-entries", "bundle-entry-int", "bundle-entry-str",
         "nul", "surrogate"],
)
def test_structure_over_a_cap_is_400(client, extension, expected):
    assert expected in _outcome(_post(client, json.dumps(_request(extension=extension))), 400)


def test_deep_nesting_past_the_parser_stack_is_400(client):
    assert "nested" in _outcome(_post(client, "[" * 30_000 + "]" * 30_000), 400)


def test_caps_apply_inside_draft_orders_too(tmp_path):
    client = make_app(tmp_path, limits=LIMITS).test_client()
    request = hook_request("order-select", "limits-2", None, None)
    request["context"]["draftOrders"]["entry"] *= LIMITS.max_bundle_entries + 1
    assert "Bundle holds more" in _outcome(client.post("/cds-services/sirolimus-dosing", json=request), 400)


def _draft(code: str) -> dict:
    return {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/limits-3"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": code}]}}


def _prefetch_over_a_cap() -> dict:
    return {"patient": {"resourceType": "Patient", "id": "limits-3", "name": [{"text": "x" * 1001}]}}


def test_a_prefetch_over_a_cap_is_400_when_the_draft_is_sirolimus(client):
    request = hook_request("order-select", "limits-3", None, None, draft=_draft("314230"),
                           prefetch=_prefetch_over_a_cap())
    assert "string is longer" in _outcome(client.post("/cds-services/sirolimus-dosing", json=request), 400)


def test_another_drug_is_answered_without_walking_its_prefetch(client):
    """Amoxicillin drafted: no card whatever the prefetch holds (its shape is checked only for sirolimus)."""
    request = hook_request("order-select", "limits-3", None, None, draft=_draft("308182"),
                           prefetch=_prefetch_over_a_cap())
    response = client.post("/cds-services/sirolimus-dosing", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.get_json() == {"cards": []}


@pytest.mark.parametrize(("text", "expected"), [(r"nul \u0000 byte", "NUL character"),
                                                (r"lone \udc00 surrogate", "surrogate")])
def test_a_nul_or_lone_surrogate_in_the_prefetch_of_another_drug_is_still_400(client, text, expected):
    """What no store can keep is refused wherever it is, even in a call the service then ignores."""
    request = hook_request("order-select", "limits-3", None, None, draft=_draft("308182"),
                           prefetch={"patient": {"resourceType": "Patient", "id": "limits-3", "name": [{"text": "N"}]}})
    raw = json.dumps(request).replace('"text": "N"', f'"text": "{text}"')
    assert expected in _outcome(_post(client, raw, url="/cds-services/sirolimus-dosing"), 400)


@pytest.mark.parametrize("text", [r"a \\u0000 written out", r"emoji \ud83d\ude00 as a pair"])
def test_escapes_that_are_not_a_nul_nor_a_lone_surrogate_are_accepted(client, text):
    raw = json.dumps(_request())[:-1] + f', "extension": {{"s": "{text}"}}}}'
    _outcome(_post(client, raw), 412)  # past the body checks: the data is missing, not the body wrong


# -- media type and encoding -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
     "application/json-patch+json", ""],
)
def test_a_non_json_content_type_is_415(client, content_type):
    response = client.post(HOOK_URL, data=json.dumps(_request()), headers={"Content-Type": content_type})
    _outcome(response, 415)


def test_json_with_a_charset_parameter_is_accepted(client):
    response = _post(client, json.dumps(_request()), "application/json; charset=utf-8")
    _outcome(response, 412)  # read and validated; only the data is missing


@pytest.mark.parametrize(
    "raw",
    [
        b'{"hook": "patient-view", "x": "\xff\xfe"}',
        json.dumps(_request()).encode("utf-16"),
        "\ufeff".encode() + json.dumps(_request()).encode(),
        b"",
        b"   ",
        b'{"hook": "patient-view",',
    ],
    ids=["latin-1-bytes", "utf-16", "bom", "empty", "blank", "truncated"],
)
def test_bytes_that_are_not_utf8_json_are_400(client, raw):
    _outcome(_post(client, raw), 400)


# -- JSON values that parse but must not pass ------------------------------------------------------

@pytest.mark.parametrize("raw", ["[]", "[1, 2]", '"patient-view"', "42", "-0", "null", "true"])
def test_a_top_level_value_that_is_not_an_object_is_400(client, raw):
    assert "object" in _outcome(_post(client, raw), 400)


@pytest.mark.parametrize("url", [HOOK_URL, FEEDBACK_URL])
def test_duplicate_member_names_are_400(client, url):
    raw = json.dumps(_request())[:-1] + ', "hookInstance": "00000000-0000-4000-8000-000000000000"}'
    assert "duplicate" in _outcome(_post(client, raw, url=url), 400)


@pytest.mark.parametrize("literal", ["1e999999", "-1e999999", "NaN", "Infinity", "-Infinity", "1" * 5000])
def test_numbers_json_cannot_carry_are_400(client, literal):
    raw = json.dumps(_request())[:-1] + f', "extension": {{"n": {literal}}}}}'
    _outcome(_post(client, raw), 400)


@pytest.mark.parametrize("literal", ["-0", "0.0", "1e308", "-1.5e-300"])
def test_ordinary_numbers_are_accepted(client, literal):
    raw = json.dumps(_request())[:-1] + f', "extension": {{"n": {literal}}}}}'
    _outcome(_post(client, raw), 412)  # past the body checks: the data is missing, not the body wrong


# -- schema-level and routing answers ------------------------------------------------------------

@pytest.mark.parametrize(
    "document",
    [
        {},
        {"hook": "patient-view"},
        {"hook": 7, "hookInstance": "x", "context": []},
        {"hook": "patient-view", "hookInstance": "not-a-uuid", "context": {}},
        {"hook": "order-select", "hookInstance": "00000000-0000-4000-8000-000000000000", "context": {}},
        _request(fhirServer="http://[::1"),
        _request(prefetch={"patient": {"resourceType": "Bundle", "entry": 3}}),
        _request(prefetch=[1]),
    ],
    ids=["empty", "no-instance", "wrong-types", "bad-uuid", "wrong-hook", "bad-url", "bad-prefetch-bundle",
         "prefetch-list"],
)
def test_malformed_hook_requests_are_4xx_never_500(client, document):
    response = client.post(HOOK_URL, json=document)
    assert 400 <= response.status_code < 500
    _outcome(response, response.status_code)


def test_an_unknown_service_is_404_with_an_operation_outcome(client):
    _outcome(client.post("/cds-services/no-such-service", json=_request()), 404)


def test_a_get_on_a_hook_endpoint_is_405_with_an_operation_outcome(client):
    _outcome(client.get(HOOK_URL), 405)


def _feedback(comment: str) -> dict:
    return {"feedback": [{"card": "8e2b6d4c-4a5e-4b8e-9d53-0c6a1f0e7a11", "outcome": "overridden",
                          "overrideReason": {"reason": {"code": "other"}, "userComment": comment},
                          "outcomeTimestamp": "2026-11-20T10:00:00Z"}]}


@pytest.mark.parametrize("comment", ["nul \u0000 here", "lone \udc00 here"], ids=["nul", "surrogate"])
def test_feedback_postgres_could_not_store_is_400_not_500(tmp_path, database_url, comment):
    """PostgreSQL's JSONB refuses NUL and lone surrogates: refused at the door, not lost in a 500."""
    client = make_app(tmp_path, database_url=database_url).test_client()
    _outcome(client.post(FEEDBACK_URL, json=_feedback(comment)), 400)


def test_feedback_with_other_control_characters_is_stored(tmp_path, database_url):
    client = make_app(tmp_path, database_url=database_url).test_client()
    response = client.post(FEEDBACK_URL, json=_feedback("bell \u0007, tab \t, new line \n"))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
