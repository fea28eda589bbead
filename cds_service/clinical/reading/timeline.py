"""The sirolimus dose history as a timeline of daily doses (0 mg = not taking sirolimus)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ..decision import DoseChange, Formulation
from .facts import DosePeriod


@dataclass(frozen=True, kw_only=True)
class DoseEvent:
    """From `on` (inclusive) this daily dose is in force, until the next event."""

    on: date
    daily_mg: float
    mg_per_administration: float
    per_day: float
    formulation: Formulation | None


def same_regimen(a: DoseEvent, b: DoseEvent) -> bool:
    """Same mg per administration, administrations per day and formulation (so the same daily dose).

    A switch between tablets and solution at the same mg is a change: they are not bioequivalent.
    """
    return (abs(a.daily_mg - b.daily_mg) <= 1e-9 and abs(a.mg_per_administration - b.mg_per_administration) <= 1e-9
            and abs(a.per_day - b.per_day) <= 1e-9 and a.formulation == b.formulation)


def dose_timeline(periods: Sequence[DosePeriod]) -> tuple[DoseEvent, ...] | None:
    """Events oldest first; None when a dose in the history cannot be read (then no taper maths).

    An order with any problem (an unreadable dose, two orders in force at once) makes it unreadable.
    """
    events: list[DoseEvent] = []
    for period in sorted(periods, key=lambda p: p.start):
        if period.daily_dose_mg is None or period.mg_per_administration is None \
                or period.administrations_per_day is None or period.problems:
            return None
        if events and events[-1].daily_mg == 0.0 and events[-1].on == period.start:
            events.pop()
        event = DoseEvent(on=period.start, daily_mg=period.daily_dose_mg,
                          mg_per_administration=period.mg_per_administration, per_day=period.administrations_per_day,
                          formulation=period.formulation)
        if not events or not same_regimen(events[-1], event):
            events.append(event)
        if period.end is not None:
            events.append(DoseEvent(on=period.end, daily_mg=0.0, mg_per_administration=0.0, per_day=event.per_day,
                                    formulation=event.formulation))
    return tuple(events)


def event_on(timeline: Sequence[DoseEvent], day: date) -> DoseEvent | None:
    current = None
    for event in timeline:
        if event.on <= day:
            current = event
        else:
            break
    return current


def dose_on(timeline: Sequence[DoseEvent], day: date) -> float:
    event = event_on(timeline, day)
    return 0.0 if event is None else event.daily_mg


def dose_changes(timeline: Sequence[DoseEvent]) -> tuple[DoseChange, ...]:
    """Every change of regimen, oldest first: the start (from 0 mg), each change of daily dose, and a change
    of mg per administration, frequency or formulation at the same daily dose (from == to): each needs a new
    trough at steady state. Reductions are the changes with 0 < to_daily_mg < from_daily_mg."""
    start = ((DoseChange(changed_on=timeline[0].on, from_daily_mg=0.0, to_daily_mg=timeline[0].daily_mg),)
             if timeline and timeline[0].daily_mg > 0 else ())
    return start + tuple(DoseChange(changed_on=b.on, from_daily_mg=a.daily_mg, to_daily_mg=b.daily_mg)
                         for a, b in zip(timeline, timeline[1:], strict=False) if a.daily_mg > 0 or b.daily_mg > 0)


def max_dose_in_window(timeline: Sequence[DoseEvent], day: date, window_days: int) -> float:
    """The highest daily dose in force on any of the `window_days` days before `day`."""
    start = day - timedelta(days=window_days)
    doses = [dose_on(timeline, start)] + [e.daily_mg for e in timeline if start < e.on < day]
    return max(doses)
