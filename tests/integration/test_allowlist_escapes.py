"""The FHIR allowlist against a server process that logs every path it is asked for (issue #13, item 1).

A fhirServer, a `next` link or a redirect target that climbs out of the allowed base, however it is
spelled (tests.support.misbehaving_fhir.ESCAPES), gets a 412 with an OperationOutcome and makes no
request outside the allowed base: the paths the server received are checked after decoding and
resolving dot segments, as a server that decodes `%2e%2e` would see them.
"""
from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from fhir_profiles.schemas import problems
from tests.support.app import hook_request, make_app
from tests.support.misbehaving_fhir import ESCAPES, MisbehavingServer, start_misbehaving_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "allowlist-test-token-71c2"
ESCAPE_IDS = [f"v{index}:{escape}" for index, escape in enumerate(ESCAPES)]


@pytest.fixture(scope="module")
def server() -> Iterator[MisbehavingServer]:
    running = start_misbehaving_server()
    yield running
    running.stop()


def _call(tmp_path, allowed: str, fhir_server: str):
    app = make_app(tmp_path, fhir_servers=(allowed,), timeout_seconds=2.0)
    request = hook_request("patient-view", "allowlist-patient-1", fhir_server, TOKEN)
    return app.test_client().post("/cds-services/sirolimus-monitoring", json=request)


def _refused_with_outcome(response) -> str:
    assert response.status_code == 412, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert problems("operation-outcome", body) == [], body
    return " | ".join(issue.get("diagnostics", "") for issue in body["issue"])


def _all_paths(server: MisbehavingServer) -> list[str]:
    return [entry["path"] for entry in server.requests_under("/")]


def _outside(paths: list[str], allowed_path: str) -> list[str]:
    """The paths that, as a decoding server resolves them, are not under `allowed_path`."""
    outside = []
    for path in paths:
        raw = urlsplit(path).path
        resolved = posixpath.normpath(unquote(unquote(raw)).replace("\\", "/").replace(";", "/"))
        clean = not any(mark in raw.lower() for mark in ("/..", "/./", "%2e", "%2f", "%5c", ";", "\\", "//"))
        if not clean or not resolved.startswith(allowed_path + "/"):
            outside.append(path)
    return outside


def _doubled_slashes(url: str) -> str:
    return url.replace("/ok/", "//ok/", 1).replace("/fhir", "//fhir", 1)


@pytest.mark.parametrize("spelling", [str, _doubled_slashes], ids=["as-is", "doubled-slashes"])
@pytest.mark.parametrize("escape", ESCAPES, ids=ESCAPE_IDS)
def test_a_fhir_server_climbing_out_of_the_allowed_base_gets_a_412_and_no_request(tmp_path, server, escape,
                                                                                  spelling):
    allowed = server.base_url("ok", uuid.uuid4().hex[:8])
    before = len(_all_paths(server))
    response = _call(tmp_path, allowed, spelling(allowed + escape))
    assert "no request was sent" in _refused_with_outcome(response)
    assert _all_paths(server)[before:] == []


@pytest.mark.parametrize("index", range(len(ESCAPES)), ids=ESCAPE_IDS)
def test_a_next_link_climbing_out_of_the_base_gets_a_412_and_no_request_outside(tmp_path, server, index):
    allowed = server.base_url("next-escape", f"v{index}-{uuid.uuid4().hex[:8]}")
    before = len(_all_paths(server))
    response = _call(tmp_path, allowed, allowed)
    assert "outside the allowed FHIR server" in _refused_with_outcome(response)
    paths = _all_paths(server)[before:]
    assert paths  # the first pages were read, from inside the base
    assert _outside(paths, urlsplit(allowed).path) == []


@pytest.mark.parametrize("index", range(len(ESCAPES)), ids=ESCAPE_IDS)
def test_a_redirect_climbing_out_of_the_base_gets_a_412_and_is_not_followed(tmp_path, server, index):
    allowed = server.base_url("redirect-escape", f"v{index}-{uuid.uuid4().hex[:8]}")
    before = len(_all_paths(server))
    response = _call(tmp_path, allowed, allowed)
    assert "redirected (302) outside the allowed server" in _refused_with_outcome(response)
    paths = _all_paths(server)[before:]
    assert paths and _outside(paths, urlsplit(allowed).path) == []


def test_the_allowed_base_written_differently_is_the_same_base_and_is_read_in_canonical_form(tmp_path, server):
    tag = uuid.uuid4().hex[:8]
    fhir_server = server.base_url("ok", tag)
    configured = "HTTP" + _doubled_slashes(fhir_server).removeprefix("http").replace("/fhir", "/./fhir/")
    response = _call(tmp_path, configured, fhir_server + "/")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    paths = server.requests_under(f"/ok/{tag}/")
    assert paths and _outside([entry["path"] for entry in paths], f"/ok/{tag}/fhir") == []
    assert all(entry["authorization"] == f"Bearer {TOKEN}" for entry in paths)


def test_a_redirect_inside_the_base_is_followed_with_the_token(tmp_path, server):
    tag = uuid.uuid4().hex[:8]
    allowed = server.base_url("moved", tag)
    response = _call(tmp_path, allowed, allowed)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    paths = [entry["path"] for entry in server.requests_under(f"/moved/{tag}/")]
    moved = [path for path in paths if "/fhir/v2/" in path]
    assert moved and len(moved) * 2 == len(paths)  # each read: one redirect, then the new place
    assert _outside(paths, f"/moved/{tag}/fhir") == []


def test_redirects_are_followed_at_most_three_times(tmp_path, server):
    tag = uuid.uuid4().hex[:8]
    allowed = server.base_url("redirect-loop", tag)
    response = _call(tmp_path, allowed, allowed)
    assert "more than 3 times" in _refused_with_outcome(response)
    paths = [entry["path"] for entry in server.requests_under(f"/redirect-loop/{tag}/")]
    assert paths and max(paths.count(path) for path in paths) == 4  # the request and 3 redirects
