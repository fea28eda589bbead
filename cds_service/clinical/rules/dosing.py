"""Dose arithmetic: trough usability, the linear dose-concentration relation, rounding to what can
be measured out, and sanity limits. Pure functions; the protocol parameters are passed in."""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from ..decision import DoseRegimen, Formulation, MissingData, TroughUsed, Unusable
from ..errors import ClinicalError
from ..protocols import Measuring, SanityLimits, TroughRules
from ..reading.facts import Measurement, Trough
from ..reading.timeline import DoseEvent


def trough_reasons(trough: Trough, last_change_on: date | None, rules: TroughRules, today: date
                   ) -> tuple[tuple[Unusable, str], ...]:
    """Why a level cannot be used to compute a dose, each as its kind and its message (empty = usable).

    Label: "hold a dose for 7-14 days before the next adjustment, because levels before steady state
    mislead"; clinical-protocol.md 3: "An unknown or missing unit on a level is never guessed".
    A censored result ("<2", ">30": beyond the assay's range) is a bound, not a value (decision 0011);
    a level below `plausible_min_ng_ml` (the assays' lower limit of quantitation) is not a value
    to scale a dose from either (decision 0011).
    """
    problems: list[tuple[Unusable, str]] = []
    if trough.status not in rules.accepted_statuses:
        problems.append((Unusable.NOT_FINAL, f"result status is '{trough.status}', not final"))
    if trough.comparator is not None:
        below = trough.comparator.startswith("<")
        shown = "" if trough.original_value is None else f"{trough.original_value:g} {trough.original_unit or ''}"
        problems.append((Unusable.BELOW_RANGE if below else Unusable.ABOVE_RANGE,
                         f"reported as {trough.comparator}{shown.strip()}: {'below' if below else 'above'} "
                         "the assay's range, not a value to scale a dose from"))
    if trough.value_ng_ml is None:
        problems.append((Unusable.UNKNOWN_UNIT,
                         f"unit '{trough.original_unit or 'missing'}' is not ng/mL, ug/L or nmol/L"))
    elif trough.comparator is not None:
        pass  # a bound, already unusable: its number is not checked as if it were a value
    elif trough.value_ng_ml <= 0 or trough.value_ng_ml > rules.plausible_max_ng_ml:
        problems.append((Unusable.IMPLAUSIBLE,
                         f"{trough.value_ng_ml:g} ng/mL is implausible (expected above 0 and at most "
                         f"{rules.plausible_max_ng_ml:g} ng/mL)"))
    elif trough.value_ng_ml < rules.plausible_min_ng_ml:
        problems.append((Unusable.BELOW_MINIMUM,
                         f"{trough.value_ng_ml:g} ng/mL is below the plausible minimum of "
                         f"{rules.plausible_min_ng_ml:g} ng/mL (the assays' lower limit of quantitation): "
                         "not a value to scale a dose from"))
    marker = next((m for m in rules.non_trough_markers if m in trough.sample_text), None)
    if marker:
        problems.append((Unusable.NOT_A_TROUGH, f"the sample is recorded as '{marker}', not a trough"))
    if last_change_on is not None and trough.drawn_on < last_change_on:
        problems.append((Unusable.BEFORE_CHANGE,
                         f"drawn before the dose change of {last_change_on.isoformat()}, at the previous dose"))
    elif last_change_on is not None and (trough.drawn_on - last_change_on).days < rules.steady_state_days:
        problems.append((Unusable.BEFORE_STEADY_STATE,
                         f"drawn {(trough.drawn_on - last_change_on).days} days after the dose change of "
                         f"{last_change_on.isoformat()}, before steady state ({rules.steady_state_days} days)"))
    if (today - trough.drawn_on).days > rules.max_age_days:
        problems.append((Unusable.TOO_OLD, f"drawn {(today - trough.drawn_on).days} days ago: older than "
                                           f"{rules.max_age_days} days"))
    return tuple(problems)


def trough_problems(trough: Trough, last_change_on: date | None, rules: TroughRules, today: date
                    ) -> tuple[str, ...]:
    """The messages of `trough_reasons` (empty = usable)."""
    return tuple(message for _, message in trough_reasons(trough, last_change_on, rules, today))


def assess_trough(trough: Trough, last_change_on: date | None, rules: TroughRules, today: date) -> TroughUsed:
    reasons = trough_reasons(trough, last_change_on, rules, today)
    return TroughUsed(value_ng_ml=trough.value_ng_ml, original_value=trough.original_value,
                      original_unit=trough.original_unit, drawn_on=trough.drawn_on, observation_id=trough.resource,
                      usable=not reasons, reasons_unusable=tuple(m for _, m in reasons), method=trough.method,
                      unusable_kinds=tuple(k for k, _ in reasons))


def linear_dose_mg(current_daily_mg: float, trough_ng_ml: float, target_ng_ml: float) -> float:
    """Label rule: "new dose = current dose x (target level / current level)"."""
    return current_daily_mg * target_ng_ml / trough_ng_ml


def predicted_trough_ng_ml(trough_ng_ml: float, at_daily_mg: float, new_daily_mg: float) -> float:
    """Protocol rule 4: "the linear relation between dose and concentration"."""
    return trough_ng_ml * new_daily_mg / at_daily_mg


def not_bioequivalent(tablet_exposure_vs_solution: float) -> str:
    """The one wording of clinical-protocol.md 2 (the alternative's note, the cards, the decision page),
    its figure from the pharmacology data (decision 0023): 1.27 -> "about 27 % more exposure"."""
    more = round((tablet_exposure_vs_solution - 1) * 100)
    return (f"Tablets and oral solution are not bioequivalent (tablets give about {more} % more exposure): "
            "a new trough is due after the switch.")


def exposure_factor(from_form: Formulation | None, to_form: Formulation | None, measuring: Measuring) -> float:
    """Trough ratio at the same mg after a switch of formulation (protocol data, decision 0106): tablets
    give more exposure than the oral solution. 1.0 when there is no switch or a formulation is unknown."""
    if from_form is None or to_form is None or from_form == to_form:
        return 1.0
    ratio = measuring.tablet_exposure_vs_solution
    return ratio if to_form == "tablet" else 1.0 / ratio


def measuring_step_mg(formulation: Formulation, measuring: Measuring) -> float:
    """(choice) solution: 0.01 mL of 1 mg/mL = 0.01 mg; tablets: whole tablets of the smallest strength."""
    return measuring.solution_step_mg if formulation == "solution" else measuring.tablet_step_mg


def round_to_step(mg: float, step_mg: float) -> float:
    """Nearest multiple of the measuring step (halves round up): moves a dose by at most half a step."""
    return round(math.floor(mg / step_mg + 0.5 + 1e-9) * step_mg, 6)


def tablets_for(mg: float, strengths_mg: tuple[float, ...]) -> tuple[float, ...] | None:
    """Whole tablets, largest first, making exactly `mg` (tablets are never split); None if impossible."""
    left, chosen = round(mg, 6), []
    for strength in sorted(strengths_mg, reverse=True):
        while left + 1e-9 >= strength:
            chosen.append(strength)
            left = round(left - strength, 6)
    return tuple(chosen) if abs(left) < 1e-9 else None


def regimen(mg_per_administration: float, per_day: float, formulation: Formulation, measuring: Measuring
            ) -> DoseRegimen:
    """A measurable regimen, stated in mg and, for the solution, mL (clinical-protocol.md 2)."""
    if formulation == "solution":
        ml = round(mg_per_administration / measuring.solution_mg_per_ml, 4)
        return DoseRegimen(mg_per_administration=mg_per_administration, administrations_per_day=per_day,
                           formulation="solution", strength_mg=measuring.solution_mg_per_ml, ml_per_administration=ml)
    tablets = tablets_for(mg_per_administration, measuring.tablet_strengths_mg) or ()
    return DoseRegimen(mg_per_administration=mg_per_administration, administrations_per_day=per_day,
                       formulation="tablet", strength_mg=tablets[-1] if tablets else 0.0,
                       tablets_per_administration=float(len(tablets)), tablet_strengths_mg=tablets)


def product_of(event: DoseEvent) -> Formulation:
    """The product a dose is given as, oral solution or tablets: never guessed (decision 0020).

    Tablets give more exposure than the same mg of solution, so a dose computed for the wrong product
    misses the level. Every rule that computes a dose from `event` runs only once `event.formulation`
    is known (assess.py, titration and the taper check first and say what is missing); reaching here
    without it is a defect, refused rather than dosed."""
    if event.formulation is None:
        raise ClinicalError(f"the product of the dose from {event.on.isoformat()} is unknown: no dose is computed "
                            "from it (decision 0020)")
    return event.formulation


def product_missing(what: str) -> MissingData:
    """What settles an unknown product: the order coded by product (the ValueSet `sirolimus`)."""
    return MissingData(f"the product of {what} (oral solution 1 mg/mL or tablets)",
                       "order sirolimus by product: RxNorm 314230 (oral solution), 905158, 349208 or 360110 (tablets)")


def current_regimen(event: DoseEvent, measuring: Measuring) -> DoseRegimen:
    """The regimen in force, as it is measured out (its product known: decision 0020)."""
    return regimen(event.mg_per_administration, event.per_day, product_of(event), measuring)


def rounded_regimen(daily_mg: float, per_day: float, formulation: Formulation, measuring: Measuring
                    ) -> DoseRegimen:
    """Split a daily dose over the administrations and round each to the measuring step."""
    step = measuring_step_mg(formulation, measuring)
    return regimen(round_to_step(daily_mg / per_day, step), per_day, formulation, measuring)


def sanity_problems(daily_mg: float, weight_kg: float, limits: SanityLimits) -> tuple[str, ...]:
    """Sanity limits (choice) beyond which no dose is proposed and a critical finding is raised."""
    if daily_mg <= 0:
        return (f"{daily_mg:g} mg/day is not a dose that can be given (it must be above 0 mg/day)",)
    if weight_kg <= 0:
        return (f"a weight of {weight_kg:g} kg cannot be used to check the dose",)
    problems = []
    if daily_mg / weight_kg > limits.max_mg_per_kg_day + 1e-9:
        problems.append(f"{daily_mg / weight_kg:.3f} mg/kg/day is above the limit of "
                        f"{limits.max_mg_per_kg_day:g} mg/kg/day")
    if daily_mg > limits.max_daily_mg + 1e-9:
        problems.append(f"{daily_mg:g} mg/day is above the limit of {limits.max_daily_mg:g} mg/day")
    return tuple(problems)


def weight_problems(weights_kg_newest_first: Sequence[Measurement], on: date, limits: SanityLimits,
                    age_days: int | None = None) -> tuple[str, ...]:
    """Why the newest weight (measured on or before `on`) cannot be used to dose (empty = usable).

    (choice, decision 0013) Below `min_weight_kg` a weight is implausible. Compared with each weight of
    the `weight_jump_window_days` before it, the larger of the two may exceed the smaller by at most
    `max_weight_change_fraction`: beyond that it is a likely entry error (3.5 kg recorded as 35 kg, g
    as kg, lb as kg), until the wrong weight is corrected (entered-in-error). A repeat of the same
    number does not confirm it: a copied-forward error would confirm itself.
    """
    weights = [w for w in weights_kg_newest_first if w.on <= on]
    if not weights:
        return ()
    newest, problems = weights[0], []
    band = next((b for b in limits.weight_for_age_kg if age_days is not None and b[0] <= age_days < b[1]), None)
    if band is not None and not band[2] <= newest.value <= band[3]:
        # (decision 0014) The per-kg limit divides by the same weight, so it cannot catch a wrong one.
        problems.append(f"weight {newest.value:g} kg on {newest.on.isoformat()} is outside the plausible "
                        f"{band[2]:g}-{band[3]:g} kg for a child of {age_days} days: confirm the weight and its unit")
    if newest.value < limits.min_weight_kg:
        problems.append(f"weight {newest.value:g} kg on {newest.on.isoformat()} is below the plausible "
                        f"minimum of {limits.min_weight_kg:g} kg: confirm the weight and its unit")
    for other in weights[1:]:
        if (newest.on - other.on).days > limits.weight_jump_window_days:
            break
        low, high = sorted((newest.value, other.value))
        if low <= 0:
            continue
        ratio = high / low
        if ratio > 1 + limits.max_weight_change_fraction + 1e-9:
            problems.append(f"weight {newest.value:g} kg on {newest.on.isoformat()} differs from "
                            f"{other.value:g} kg on {other.on.isoformat()} by more than "
                            f"{100 * limits.max_weight_change_fraction:g} % (×{ratio:.3g}): confirm the weight")
            break
    return tuple(problems)


def tenfold_apart(a_mg: float, b_mg: float, limits: SanityLimits) -> bool:
    """True when two doses differ by a factor near 10 (the 1 mL instead of 0.1 mL syringe error)."""
    if a_mg <= 0 or b_mg <= 0:
        return False
    ratio = max(a_mg, b_mg) / min(a_mg, b_mg)
    return limits.tenfold_ratio_low <= ratio <= limits.tenfold_ratio_high
