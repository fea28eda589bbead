"""The allowlist's canonical URLs (cds_service/fhir/urls.py, decision 0120)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_service.fhir.urls import Unnormalisable, canonical_url, is_under

BASE = "https://ehr.example.org/fhir"


@pytest.mark.parametrize(("url", "canonical"), [
    ("HTTPS://EHR.Example.ORG:443/fhir/", BASE),
    ("https://ehr.example.org./fhir", BASE),
    ("https://ehr.example.org//fhir//Patient/1", f"{BASE}/Patient/1"),
    ("https://ehr.example.org/fhir/./x/../Patient/1", f"{BASE}/Patient/1"),
    ("https://ehr.example.org/fhir/%50atient/%7e1", f"{BASE}/Patient/~1"),
    ("https://ehr.example.org/fhir/Patient/a%3ab", f"{BASE}/Patient/a%3Ab"),
    ("https://ehr.example.org/fhir/%2e%2e/admin", "https://ehr.example.org/admin"),
    ("https://ehr.example.org/fhir/.%2E/admin", "https://ehr.example.org/admin"),
    ("http://ehr.example.org:80/fhir", "http://ehr.example.org/fhir"),
    ("http://ehr.example.org:8080/fhir", "http://ehr.example.org:8080/fhir"),
    ("http://[0:0::1]:8080/fhir", "http://[::1]:8080/fhir"),
    ("https://ehr.example.org/fhir/Observation?code=a|b&patient=p%201#top",
     f"{BASE}/Observation?code=a|b&patient=p%201"),
])
def test_a_url_is_put_in_one_canonical_form(url, canonical):
    assert canonical_url(url) == canonical


@pytest.mark.parametrize("url", [
    "https://ehr.example.org/fhir/..;/admin",  # a Tomcat path parameter
    "https://ehr.example.org/fhir/%2e%2e%2fadmin",  # an encoded slash
    "https://ehr.example.org/fhir/%2e%2e%5cadmin",  # an encoded backslash
    "https://ehr.example.org/fhir/%252e%252e/admin",  # a double encoding
    "https://ehr.example.org/fhir/%zz",  # a broken escape
    "https://ehr.example.org/fhir\\..\\admin",
    "https://ehr.example.org/../etc",
    "https://user:pw@ehr.example.org/fhir",
    "https://ehr%2eexample.org/fhir",
    "https://ehr.example.org:99999/fhir",
    "https://ehr.example.org:x/fhir",
    "https://[::1/fhir",
    "https://ehr example.org/fhir",
    "https://ehr.exämple.org/fhir",
    "https://ehr.example.org/fhir/\x00",
    "ftp://ehr.example.org/fhir",
    "//ehr.example.org/fhir",
    "https:///fhir",
])
def test_a_url_without_one_meaning_is_refused(url):
    with pytest.raises(Unnormalisable):
        canonical_url(url)


@pytest.mark.parametrize(("url", "under"), [
    (f"{BASE}/Patient/1", True),
    ("HTTPS://EHR.EXAMPLE.ORG:443//fhir/./Patient/1", True),
    (f"{BASE}/Patient/../Observation", True),
    (f"{BASE}/../admin", False),
    (f"{BASE}/%2e%2e/admin", False),
    (f"{BASE}/Patient/..//../admin", False),
    (f"{BASE}/..;/admin", False),
    ("https://ehr.example.org/fhir-evil", False),
    ("https://ehr.example.org:8443/fhir/Patient/1", False),
])
def test_the_allowlist_compares_canonical_urls_on_whole_segments(url, under):
    assert is_under(url, BASE) is under


URL_TEXT = st.text(alphabet="aA./%2eEfF5c;:@?#\\-_~", max_size=30)


@given(path=URL_TEXT)
def test_the_canonical_form_is_its_own_canonical_form_with_no_dot_segment_left(path):
    try:
        canonical = canonical_url(f"{BASE}/{path}")
    except Unnormalisable:
        return
    assert canonical_url(canonical) == canonical
    assert "/../" not in canonical and "/./" not in canonical and "%2E" not in canonical.upper().split("?")[0]
