"""OperationOutcome bodies for error answers (CDS Hooks 3.0 style, compatible with 2.0 clients)."""
from __future__ import annotations

from typing import Any

from cds_service.errors import ServiceError


def operation_outcome(error: ServiceError) -> dict[str, Any]:
    issues = [{"severity": "error", "code": error.issue_code, "diagnostics": error.message}]
    issues += [{"severity": "error", "code": error.issue_code, "diagnostics": detail} for detail in error.details]
    return {"resourceType": "OperationOutcome", "issue": issues}
