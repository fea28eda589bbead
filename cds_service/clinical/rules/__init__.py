"""The protocol's rules over a PatientRecord: eligibility, dosing, taper, titration, findings, follow-up."""
