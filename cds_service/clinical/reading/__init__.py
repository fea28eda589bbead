"""Reading the record: plain FHIR JSON -> typed, dated facts (PatientRecord, the draft, the dose timeline)."""
