"""Errors of the clinical core.

    ClinicalError              base
    └── ProtocolDataError      a protocol parameter file fails its schema (raised at load, start-up)

Data problems in a patient's record are not errors: they become `MissingData`, unusable
resources and findings in the Decision, so that the card can say what is missing.
"""
from __future__ import annotations


class ClinicalError(Exception):
    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ProtocolDataError(ClinicalError):
    pass
