"""Relapse signals during a taper (clinical-protocol.md section 5).

"A relapse signal during the taper may be: a Condition for KHE whose clinicalStatus becomes relapse
or recurrence (or active) after the taper began; platelets falling below 100 x 10^9/L; fibrinogen
below 1.5 g/L. Which of these trigger the 'go back to the effective dose' card, and which only a
warning, is a (choice)": `taper.relapse.return_triggers` / `warning_signals`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from ..decision import Evidence
from ..protocols import RelapseRules
from ..reading.observations import LOINC_FIBRINOGEN, LOINC_PLATELETS
from ..reading.record import PatientRecord

SignalKind = Literal["condition_status", "platelets", "fibrinogen"]


@dataclass(frozen=True)
class RelapseSignal:
    on: date
    kind: SignalKind
    message: str
    evidence: Evidence


def relapse_signals(record: PatientRecord, taper_start: date, rules: RelapseRules, today: date
                    ) -> tuple[RelapseSignal, ...]:
    """Every relapse signal dated on or after the taper start, oldest first."""
    signals: list[RelapseSignal] = []
    for condition in record.conditions:
        if "khe" not in condition.valuesets or condition.clinical_status not in rules.condition_statuses:
            continue
        explicit = condition.clinical_status in {"relapse", "recurrence"}
        on = condition.recorded_on
        if on is None or on < taper_start:
            if not explicit and condition.abatement_on is None:
                continue  # an "active" KHE Condition from before the taper is the original diagnosis
            # "relapse"/"recurrence", or a Condition once in remission (abatement recorded) that is
            # active again: the record says relapse now, without a date of its own.
            on = today
        signals.append(RelapseSignal(on, "condition_status",
                                     f"KHE recorded as '{condition.clinical_status}'",
                                     Evidence(condition.resource, condition.clinical_status, None, on)))
    for lab in record.labs:
        if lab.on < taper_start or lab.on > today:
            continue
        if lab.loinc == LOINC_PLATELETS and lab.value < rules.platelets_below_10e9_l:
            signals.append(RelapseSignal(lab.on, "platelets",
                                         f"platelets {lab.value:g} x 10^9/L, below "
                                         f"{rules.platelets_below_10e9_l:g}",
                                         Evidence(lab.resource, lab.value, "10*9/L", lab.on)))
        if lab.loinc == LOINC_FIBRINOGEN and lab.value < rules.fibrinogen_below_g_l:
            signals.append(RelapseSignal(lab.on, "fibrinogen",
                                         f"fibrinogen {lab.value:g} g/L, below {rules.fibrinogen_below_g_l:g}",
                                         Evidence(lab.resource, lab.value, "g/L", lab.on)))
    return tuple(sorted(signals, key=lambda s: s.on))
