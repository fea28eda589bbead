"""The synthetic patients as FHIR R4 transaction Bundles, one JSON file per scenario (data only;
written by `python -m cds_service.synthetic.scenarios`, read through `cds_service.synthetic`)."""
