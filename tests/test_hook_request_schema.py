"""The hook request's schema check without the schema walking every prefetch member (issue #15, decision 0140):
the same bodies refused, with the same messages, as validating the whole body against the schema."""
from __future__ import annotations

import copy
import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_profiles import load_json
from fhir_profiles.schemas import PREFETCH_MEMBER_SCHEMA, hook_request_problems, problems

BUNDLE = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Condition"}}]}
DRAFTS = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "MedicationRequest", "id": "d1"}}]}


def body(hook: str) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/p1", "patientId": "child-1"}
    if hook != "patient-view":
        context["draftOrders"] = DRAFTS
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/d1"]
    return {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": context,
            "prefetch": {"patient": {"resourceType": "Patient", "id": "child-1"}, "conditions": BUNDLE,
                         "labs": None}}


def test_the_schema_names_prefetch_only_in_its_own_property() -> None:
    """What the shortcut rests on: change the schema so that another keyword reads prefetch (or counts the
    body's members), and this fails before the shortcut could accept a body the schema refuses."""
    schema = load_json("schemas/hook-request.schema.json")
    assert schema["properties"]["prefetch"] == {"type": "object", "additionalProperties": PREFETCH_MEMBER_SCHEMA}
    assert set(schema) == {"$schema", "$id", "title", "type", "properties", "required", "dependentRequired", "allOf"}
    assert "prefetch" not in schema["required"]
    assert "prefetch" not in json.dumps(schema["dependentRequired"]) + json.dumps(schema["allOf"])


PREFETCH_MEMBERS: list[Any] = [None, BUNDLE, {"resourceType": "Patient"}, {}, {"resourcetype": "Bundle"}, [], "x", 0,
                               True, [BUNDLE], {"resourceType": None}]
PREFETCHES: list[Any] = ["absent", None, {}, [], "x", 3]
BREAKAGES = ["none", "hookInstance", "context", "fhirAuthorization", "patientId", "draftOrders", "hook"]


def broken(document: dict[str, Any], breakage: str) -> dict[str, Any]:
    document = copy.deepcopy(document)
    if breakage == "hookInstance":
        document["hookInstance"] = "not-a-uuid"
    elif breakage == "context":
        del document["context"]
    elif breakage == "fhirAuthorization":  # dependentRequired: fhirServer missing
        document["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 1, "scope": "s",
                                         "subject": "x"}
    elif breakage == "patientId":
        document["context"]["patientId"] = "has spaces"
    elif breakage == "draftOrders" and "draftOrders" in document["context"]:
        document["context"]["draftOrders"] = {"entry": "no"}
    elif breakage == "hook":
        document["hook"] = ""
    return document


def test_every_combination_is_judged_as_the_whole_schema_judges_it() -> None:
    refused = accepted = 0
    for hook, breakage, prefetch, member in itertools.product(
            ("patient-view", "order-select", "order-sign"), BREAKAGES, PREFETCHES, PREFETCH_MEMBERS):
        document = broken(body(hook), breakage)
        if prefetch == "absent":
            del document["prefetch"]
        elif isinstance(prefetch, dict):
            document["prefetch"] = {**document["prefetch"], "extra": member}
        else:
            document["prefetch"] = prefetch
        expected = problems("hook-request", document)
        assert hook_request_problems(document) == expected, (hook, breakage, prefetch, member)
        refused, accepted = refused + bool(expected), accepted + (not expected)
    assert refused > 500 and accepted > 30  # both sides of the shortcut exercised


def test_a_prefetch_member_without_resource_type_is_refused_with_the_schemas_words() -> None:
    document = body("patient-view")
    document["prefetch"]["labs"] = {"entry": []}
    assert hook_request_problems(document) == ["prefetch.labs: does not satisfy 'anyOf'"]


def test_bodies_that_are_not_objects_are_refused_as_before() -> None:
    for document in ([], "x", None, 1):
        assert hook_request_problems(document) == problems("hook-request", document) != []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["resourceType", "entry", "id"]),
                                                                inner, max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(hook=st.sampled_from(["patient-view", "order-select", "order-sign", "other"]),
       prefetch=st.dictionaries(st.text(max_size=8), json_values, max_size=4) | json_values,
       context=st.none() | st.dictionaries(st.sampled_from(["userId", "patientId", "draftOrders", "selections"]),
                                           json_values, max_size=4))
def test_any_prefetch_and_context_are_judged_as_the_whole_schema_judges_them(hook: str, prefetch: Any,
                                                                            context: Any) -> None:
    document = body(hook if hook != "other" else "order-sign") | {"prefetch": prefetch}
    if hook == "other":
        document["hook"] = "encounter-start"
    if context is not None:
        document["context"] = context
    assert hook_request_problems(document) == problems("hook-request", document)
