"""Findings for the cards: orders that break the protocol, the tenfold hazard, interactions, levels."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from ..decision import Evidence, Finding, Phase, TroughUsed, Unusable
from ..protocols import Protocol, TaperRules, period, share
from ..reading.draft import DraftOrder
from ..reading.facts import Trough
from ..reading.record import PatientRecord
from ..reading.timeline import DoseEvent, max_dose_in_window
from .dosing import sanity_problems, tenfold_apart
from .relapse import RelapseSignal

TAPER_PHASES = {Phase.TAPERING, Phase.RETURNED_AFTER_RELAPSE, Phase.STABILISING, Phase.TAPERING_AFTER_RELAPSE,
                Phase.READY_TO_STOP}


def interacting_drugs(record: PatientRecord) -> tuple[Finding, ...]:
    """Label: "avoid strong CYP3A4/P-gp inhibitors ... and inducers ...; use caution with ..."."""
    return tuple(Finding(
        "interacting-drug", "warning",
        f"{drug.name} is being taken: {'avoid with' if drug.severity == 'avoid' else 'use caution with'} "
        "sirolimus (CYP3A4/P-gp); check the trough after any change",
        (Evidence(drug.resource, drug.name, None, drug.start, drug.how),)) for drug in record.interacting_drugs)


def same_day_levels(troughs: Sequence[Trough]) -> tuple[Finding, ...]:
    """Two levels on one day: the later by time drawn is used (levels are ordered by instant), and the
    card says that another level exists that day, so the clinician can see both."""
    if not troughs:
        return ()
    latest = troughs[0]
    others = [t for t in troughs[1:] if t.drawn_on == latest.drawn_on]
    if not others:
        return ()
    shown = ", ".join(f"{t.original_value:g} {t.original_unit or ''}".strip() if t.original_value is not None
                      else "no value" for t in others)
    used = f"{latest.original_value:g} {latest.original_unit or ''}".strip() if latest.original_value is not None \
        else "no value"
    return (Finding("another-level-same-day", "info",
                    f"another sirolimus level was drawn on {latest.drawn_on.isoformat()} ({shown}); "
                    f"the later one ({used}) is the one used",
                    tuple(Evidence(t.resource, t.original_value, t.original_unit, t.drawn_on) for t in others)),)


def trough_findings(trough: TroughUsed | None, plausible_max_ng_ml: float) -> tuple[Finding, ...]:
    """An implausible level (<= 0, or above the plausible maximum) and a level drawn too soon."""
    if trough is None:
        return ()
    ev = (Evidence(trough.observation_id, trough.original_value, trough.original_unit, trough.drawn_on),)
    found = []
    above_range = trough.reason(Unusable.ABOVE_RANGE)
    censored = above_range or trough.reason(Unusable.BELOW_RANGE)
    if censored is not None:
        # ">30 ng/mL" may be a toxic level: critical; "<2" cannot scale a dose: a warning.
        found.append(Finding("trough-censored", "critical" if above_range is not None else "warning",
                             f"sirolimus level {censored}", ev))
    elif trough.value_ng_ml is not None and trough.value_ng_ml > plausible_max_ng_ml:
        found.append(Finding("trough-implausible-high", "critical",
                             f"sirolimus level {trough.value_ng_ml:g} ng/mL is above {plausible_max_ng_ml:g} "
                             "ng/mL: verify the sample and the patient now (possible overdose or error)", ev))
    elif trough.value_ng_ml is not None and (trough.value_ng_ml <= 0
                                             or Unusable.BELOW_MINIMUM in trough.unusable_kinds):
        found.append(Finding("trough-implausible", "warning",
                             f"sirolimus level {trough.value_ng_ml:g} ng/mL is not plausible", ev))
    if trough.value_ng_ml is None:
        # Issue #4: a level without a unit is missing data (an info card saying what to order), not a warning.
        found.append(Finding("trough-unit-unknown", "info",
                             f"the level's unit '{trough.original_unit or 'missing'}' is unknown: not used", ev))
    if Unusable.BEFORE_STEADY_STATE in trough.unusable_kinds:
        found.append(Finding("trough-too-soon", "warning",
                             "the level was drawn before steady state after the last dose change: repeat it", ev))
    return tuple(found)


def draft_findings(draft: DraftOrder, protocol: Protocol, phase: Phase | None, timeline: Sequence[DoseEvent],
                   current: DoseEvent | None, last_change_on: date | None,
                   signals: Sequence[RelapseSignal], weight_kg: float | None, today: date) -> tuple[Finding, ...]:
    """A draft order that breaks the protocol, or carries the tenfold hazard."""
    ev = (Evidence(f"MedicationRequest/{draft.resource_id}", draft.daily_dose_mg, "mg/d", today),)
    found = list(_text_tenfold(draft, protocol, ev))
    daily = draft.daily_dose_mg
    if daily is None:
        return tuple(found)
    if current is not None and current.daily_mg > 0 and tenfold_apart(daily, current.daily_mg, protocol.sanity):
        found.append(Finding("mg-ml-tenfold", "critical",
                             f"the draft's {daily:g} mg/day is about 10 times the current {current.daily_mg:g} "
                             "mg/day: check mg against mL (0.1 mL vs 1 mL)", ev))
    if weight_kg is not None:
        for problem in sanity_problems(daily, weight_kg, protocol.sanity):
            found.append(Finding("dose-above-limit", "critical", f"the draft dose: {problem}", ev))
    if current is None or current.daily_mg <= 0 or abs(daily - current.daily_mg) < 1e-9:
        return tuple(found)
    rules = protocol.taper
    if phase is not None and phase in TAPER_PHASES and rules is not None:
        found += _taper_rules_broken(daily, current, phase, rules, timeline, signals, today, ev)
    min_days = rules.min_days_between_changes if rules else protocol.trough.steady_state_days
    if last_change_on is not None and today < last_change_on + timedelta(days=min_days):
        found.append(Finding("change-too-soon", "warning",
                             f"the dose changed on {last_change_on.isoformat()}, less than {min_days} days ago: "
                             "levels are not at steady state yet", ev))
    return tuple(found)


def _text_tenfold(draft: DraftOrder, protocol: Protocol, ev: tuple[Evidence, ...]) -> tuple[Finding, ...]:
    """The order's text and its structured dose about 10-fold apart (mg, or mL)."""
    found = []
    if draft.text_mg is not None and draft.mg_per_administration is not None \
            and tenfold_apart(draft.text_mg, draft.mg_per_administration, protocol.sanity):
        found.append(Finding("mg-ml-tenfold", "critical",
                             f"the dose text says {draft.text_mg:g} mg but the dose entered is "
                             f"{draft.mg_per_administration:g} mg: a factor near 10", ev))
    if draft.text_ml is not None and draft.ml_per_administration is not None \
            and tenfold_apart(draft.text_ml, draft.ml_per_administration, protocol.sanity):
        found.append(Finding("mg-ml-tenfold", "critical",
                             f"the dose text says {draft.text_ml:g} mL but the dose entered is "
                             f"{draft.ml_per_administration:g} mL: a factor near 10", ev))
    return tuple(found)


def _taper_rules_broken(daily: float, current: DoseEvent, phase: Phase, rules: TaperRules,
                        timeline: Sequence[DoseEvent], signals: Sequence[RelapseSignal], today: date,
                        ev: tuple[Evidence, ...]) -> list[Finding]:
    """During the taper: a cut beyond the cap (rule 1/8), a cut while stabilising, a rise without relapse."""
    found = []
    cap = rules.max_reduction_fraction if phase is Phase.TAPERING else rules.after_relapse_max_reduction_fraction
    reference = max_dose_in_window(timeline, today, rules.window_days)
    if daily < current.daily_mg and daily + 1e-9 < (1 - cap) * reference:
        found.append(Finding("reduction-exceeds-cap", "warning",
                             f"the draft reduces to {daily:g} mg/day, more than {cap:.0%} below "
                             f"{reference:g} mg/day within {rules.window_days} days (protocol rule 1/8)", ev))
    if daily < current.daily_mg and phase in {Phase.RETURNED_AFTER_RELAPSE, Phase.STABILISING}:
        found.append(Finding("reduction-during-stabilisation", "warning",
                             "the draft reduces the dose during the "
                             f"{period(rules.stabilisation_days, adjective=True)} stabilisation after a "
                             f"relapse (rule 8: reductions of at most "
                             f"{share(rules.after_relapse_max_reduction_fraction)} a month only after it)", ev))
    if daily > current.daily_mg and not signals:
        found.append(Finding("increase-during-taper", "warning",
                             "the draft increases the dose during the taper without a recorded relapse "
                             "signal (rule 7 allows a return to the effective dose after a relapse)", ev))
    return found
