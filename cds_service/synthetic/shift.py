"""Move every date of a synthetic patient by a whole number of days.

The bundles are written as of an anchor date; seeding them later shifts all dates by
(today - anchor) so that a patient seeded next year is as "current" as on the anchor day: a trough
stays fresh, a taper step stays due, a child stays the same age. Whole days only, so a trough drawn
at 07:30 before the 08:00 dose is still drawn at 07:30, and the time zone is kept as written.

What is shifted: a string value under a FHIR date, dateTime or instant element (known names, or
names ending in Date/DateTime/Instant, as in `valueDateTime`) that carries a full calendar day
(YYYY-MM-DD, with or without a time). A year or year-month alone (`"2024"`, `"2024-05"`) has no day
to move and is left as written; codes such as Orphanet `"2122"` are never under a date element.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

# Element names of type date, dateTime or instant in the resources the synthetic patients use
# (Period.start/end, Bundle.timestamp, Meta.lastUpdated, Observation.issued, ...).
DATE_ELEMENTS = frozenset(
    {
        "birthDate",
        "start",
        "end",
        "timestamp",
        "lastUpdated",
        "issued",
        "authoredOn",
        "recordedDate",
        "recorded",
        "created",
        "date",
        "dateTime",
        "verificationDate",
        "onsetDateTime",
        "abatementDateTime",
        "effectiveDateTime",
        "effectiveInstant",
        "occurrenceDateTime",
        "lastOccurrence",
        "onset",
        "deceasedDateTime",
    }
)
_DATE_SUFFIXES = ("Date", "DateTime", "Instant")

_FULL_DATE = re.compile(
    r"^(?P<day>\d{4}-\d{2}-\d{2})(?P<rest>T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$"
)


def is_date_element(name: str) -> bool:
    """True for an element name whose value is a FHIR date, dateTime or instant."""
    return name in DATE_ELEMENTS or name.endswith(_DATE_SUFFIXES)


def shift_value(value: str, days: int) -> str:
    """Shift one date/dateTime/instant string by `days`; partial dates come back unchanged."""
    match = _FULL_DATE.match(value)
    if match is None:
        return value
    shifted = date.fromisoformat(match["day"]) + timedelta(days=days)
    return shifted.isoformat() + (match["rest"] or "")


def shift_dates(node: Any, days: int) -> Any:
    """A deep copy of a JSON value (a resource, a Bundle) with every date moved by `days`."""
    if isinstance(node, dict):
        return {
            key: shift_value(value, days)
            if isinstance(value, str) and is_date_element(key)
            else shift_dates(value, days)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [shift_dates(item, days) for item in node]
    return node


def days_between(anchor: date, today: date) -> int:
    """The shift that makes data written as of `anchor` read as of `today`."""
    return (today - anchor).days
