"""When the next sirolimus trough is due: the one rule every card, suggestion, page and plan uses.

Label (clinical-protocol.md section 2): "hold a dose for 7-14 days before the next adjustment, because
levels before steady state mislead"; "a switch [of formulation] needs a new trough". KHE rule 3: "a
trough level every month". So after any change of dose or formulation (one made, or one proposed
today) the next trough comes `follow_up_days` after it (a protocol parameter within 7-14, decision
0015), never on the routine monthly date; otherwise a month after the last usable level, or 14 days
after the next projected taper step when that comes first (the step's trough is the month's trough).
The date returned is the day to draw it: never before today; when it was due earlier, `overdue_since`
says since when (decision 0017).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ..decision import ProposedDose
from ..reading.timeline import DoseEvent


@dataclass(frozen=True, kw_only=True)
class TroughClock:
    """What the date depends on, read from the record and the proposal."""
    today: date
    last_change_on: date | None  # the last change of dose or formulation already in force
    change_proposed: bool  # the proposal changes the dose or the formulation from today
    level_drawn_on: date | None  # the newest level at the current dose, usable or not
    level_usable: bool
    level_only_stale: bool  # usable but for its age: the monthly clock still runs (it is overdue)
    next_change_on: date | None = None  # the next projected taper step, when it is after today


@dataclass(frozen=True, kw_only=True)
class NextTrough:
    """The day to draw the next trough (never before today) and, when it was due earlier, since when."""
    draw_on: date
    overdue_since: date | None


def follow_up_due(changed_on: date, follow_up_days: int) -> date:
    """A new trough `follow_up_days` (7-14) after a change of dose or formulation."""
    return changed_on + timedelta(days=follow_up_days)


def next_trough_due(clock: TroughClock, *, follow_up_days: int, monitoring_interval_days: int) -> NextTrough:
    """The next trough for the child on (or starting) sirolimus.

    A level that cannot be used (no unit, implausible, censored, before an interacting drug) does not
    start the monthly clock: a usable one is due now, or after the change if that is later."""
    due = _due(clock, follow_up_days, monitoring_interval_days)
    if clock.next_change_on is not None and not clock.change_proposed:
        due = min(due, follow_up_due(clock.next_change_on, follow_up_days))
    return NextTrough(draw_on=max(due, clock.today), overdue_since=due if due < clock.today else None)


def _due(clock: TroughClock, follow_up_days: int, monitoring_interval_days: int) -> date:
    if clock.change_proposed:
        return follow_up_due(clock.today, follow_up_days)
    after_change = None if clock.last_change_on is None else follow_up_due(clock.last_change_on, follow_up_days)
    drawn = clock.level_drawn_on
    if drawn is None or (clock.last_change_on is not None and drawn < clock.last_change_on):
        return after_change or clock.today
    if not clock.level_usable and not clock.level_only_stale:
        return max(after_change or clock.today, clock.today)
    return drawn + timedelta(days=monitoring_interval_days)


def proposes_change(proposed: ProposedDose, current: DoseEvent) -> bool:
    """A proposal changes the regimen when its daily mg or its formulation differs from the current (a
    product the record does not give differs from any: decision 0020)."""
    return (abs(proposed.daily_dose_mg - current.daily_mg) > 1e-9
            or proposed.regimen.formulation != current.formulation)
