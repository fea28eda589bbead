"""The toolkit tests share one seeding of every synthetic patient into the session's FHIR server (a test
that changes a patient puts it back)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.toolkit.helpers import seed_all


@pytest.fixture(scope="session")
def seeded(fhir_server: Any) -> Any:
    seed_all(fhir_server)
    return fhir_server
