def test_fhir_server_requires_token_and_stores_transaction(fhir_server):
    import requests

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "id": "fixture-check", "birthDate": "2021-03-04"},
                "request": {"method": "PUT", "url": "Patient/fixture-check"},
            }
        ],
    }
    fhir_server.transaction(bundle)
    assert fhir_server.search("Patient/fixture-check")["birthDate"] == "2021-03-04"
    assert requests.get(f"{fhir_server.base_url}/Patient/fixture-check", timeout=5).status_code == 401
