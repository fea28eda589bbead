"""Protocol parameters: versioned data in fhir_profiles/protocols/, validated on load.

Every threshold the rules use lives in those files (schema: fhir_profiles/protocols/schema.json).
Each (choice) point of clinical-protocol.md is a named parameter there, with a decision record in
docs/decisions/. Loaded once and cached; a file that fails its schema raises ProtocolDataError at
start-up, never on a request.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_profiles import load_json, schema_problems

from .decision import ProtocolRef
from .errors import ProtocolDataError
from .pharmacology import load_pharmacology, refuse_own_copy

IHHE_SEQUENTIAL = "ihhe-sequential-sirolimus"
KHE_MAINTENANCE = "khe-maintenance"
KHE_GUIDED = "khe-guided-discontinuation"
PROTOCOL_IDS = (IHHE_SEQUENTIAL, KHE_MAINTENANCE, KHE_GUIDED)


def share(fraction: float) -> str:
    """A protocol fraction as its text writes it: 0.1 -> "10 %", 0.075 -> "7.5 %"."""
    return f"{round(fraction * 100, 2):g} %"


def fold(ratio: float) -> str:
    """A protocol ratio as its text writes it: 2.0 -> "2-fold", 1.5 -> "1.5-fold"."""
    return f"{round(ratio, 2):g}-fold"


def period(days: int, *, adjective: bool = False) -> str:
    """A protocol period in its own words: 730 -> "2 years", 91 -> "3 months" ("3-month"), 14 -> "2 weeks",
    else days."""
    years, months = days / 365.25, days / 30.4375
    if round(years) >= 1 and abs(years - round(years)) < 0.02:
        count, unit = round(years), "year"
    elif round(months) >= 1 and abs(months - round(months)) < 0.1:
        count, unit = round(months), "month"
    elif days % 7 == 0:
        count, unit = days // 7, "week"
    else:
        count, unit = days, "day"
    if adjective:
        return f"{count}-{unit}"
    return f"{count} {unit}" + ("" if count == 1 else "s")


@dataclass(frozen=True, kw_only=True)
class TroughRules:
    steady_state_days: int  # "hold a dose for 7-14 days"; KHE: "2 weeks" between reductions
    max_age_days: int  # (choice) a trough older than this is stale
    plausible_max_ng_ml: float  # (choice) above this a level is implausible
    monitoring_interval_days: int  # KHE rule 3: "a trough level every month"
    accepted_statuses: tuple[str, ...]
    non_trough_markers: tuple[str, ...]
    plausible_min_ng_ml: float  # (choice, decision 0011) below this a level is implausible
    # (choice, decision 0015) the trough after a change of dose or formulation: label "7-14 days"
    follow_up_days: int = 14


@dataclass(frozen=True, kw_only=True)
class Measuring:
    solution_mg_per_ml: float
    solution_step_ml: float  # (choice) 0.01 mL on a 1 mL oral syringe
    tablet_strengths_mg: tuple[float, ...]
    tablet_exposure_vs_solution: float  # trough on tablets / same mg of solution (pharmacology file, 0023)
    exposure_source: str

    @property
    def solution_step_mg(self) -> float:
        return self.solution_step_ml * self.solution_mg_per_ml

    @property
    def tablet_step_mg(self) -> float:
        return min(self.tablet_strengths_mg)


@dataclass(frozen=True, kw_only=True)
class SanityLimits:
    max_mg_per_kg_day: float
    max_daily_mg: float
    weight_max_age_days: int
    tenfold_ratio_low: float
    tenfold_ratio_high: float
    min_weight_kg: float  # (choice, decision 0013) a lighter weight is implausible
    max_weight_change_fraction: float  # (choice, decision 0013) how far two weights within the
    weight_jump_window_days: int  # window may differ: larger <= smaller x (1 + fraction)
    # (choice, decision 0014) plausible weight by age: (age_from_days, age_to_days, min_kg, max_kg)
    weight_for_age_kg: tuple[tuple[int, int, float, float], ...] = ()


@dataclass(frozen=True, kw_only=True)
class RelapseRules:
    condition_statuses: tuple[str, ...]
    platelets_below_10e9_l: float
    fibrinogen_below_g_l: float
    return_triggers: tuple[str, ...]  # (choice) signals that trigger "back to the effective dose"
    warning_signals: tuple[str, ...]  # (choice) signals that only warn
    after_stop_watch_days: int  # (choice, decision 0018) how long after a completed taper signals are read
    after_stop_signal_max_age_days: int  # (choice, decision 0018) an older signal proposes no restart dose


@dataclass(frozen=True, kw_only=True)
class TaperRules:
    max_reduction_fraction: float  # rule 1: "at most 10 % of the previous dose"
    window_days: int  # (choice) "monthly" as a rolling window
    min_days_between_changes: int  # rule 2: "5 half-lives, stated as 2 weeks"
    min_taper_days: int  # rule 5: "at least 6 months"
    stabilisation_days: int  # rule 8: "a 3-month stabilisation"
    after_relapse_max_reduction_fraction: float  # rule 8: "at most 5 % a month"
    relapse: RelapseRules
    stop_below_mg_per_kg_day: float  # (choice) stop rule
    stop_when_step_not_measurable: bool  # (choice) stop rule

    # The protocol's lines, worded from these parameters: a site's numbers are the numbers every card says.
    @property
    def rule_1(self) -> str:
        return (f"Each reduction is at most {share(self.max_reduction_fraction)} of the previous dose, and "
                "reductions come at most monthly.")

    @property
    def rule_8(self) -> str:
        return (f"After a {period(self.stabilisation_days, adjective=True)} stabilisation at that dose, reductions "
                f"of at most {share(self.after_relapse_max_reduction_fraction)} a month may be considered.")


@dataclass(frozen=True, kw_only=True)
class Protocol:
    ref: ProtocolRef
    disease_valueset: str
    default_arm: str
    target_low_ng_ml: float | None
    target_high_ng_ml: float | None
    titration_aim: str
    titration_line: str
    titration_max_fold_change: float | None  # (choice, decision 0012) one level's largest dose ratio
    starting_dose_mg_per_kg_day: float | None
    starting_administrations_per_day: int
    trough: TroughRules
    measuring: Measuring
    sanity: SanityLimits
    taper: TaperRules | None
    eligibility: dict[str, Any]
    starting_dose_tolerance_fraction: float | None = None  # (choice, decision 0106) IHHE start, e.g. 0.2
    loading_dose_at_start: bool = False  # (choice, decision 0015) label: 3 x (new - current), at a start only

    @property
    def target_ng_ml(self) -> float | None:
        """The trough aimed at by titration: the (choice) `titration.aim` within the target range."""
        if self.target_low_ng_ml is None or self.target_high_ng_ml is None:
            return None
        aims = {"low": self.target_low_ng_ml, "high": self.target_high_ng_ml}
        return aims.get(self.titration_aim, (self.target_low_ng_ml + self.target_high_ng_ml) / 2)


def parse_protocol(data: dict[str, Any]) -> Protocol:
    """Validate protocol data against schema.json and build the typed Protocol; the tablet/solution
    exposure comes from the pharmacology file, the one place it is kept (decision 0023)."""
    for key in ("tablet_exposure_vs_solution", "exposure_source"):
        refuse_own_copy(data, ("measuring", key), f"protocol data {data.get('protocol_id', '?')}")
    problems = schema_problems(data, "protocols/schema.json")
    if problems:
        raise ProtocolDataError(f"protocol data {data.get('protocol_id', '?')} is invalid", details=problems)
    t, m, s = data["trough"], data["measuring"], data["sanity_limits"]
    target = data.get("target_trough_ng_ml")
    titration = data.get("titration", {"aim": "midpoint", "protocol_line": ""})
    return Protocol(
        ref=ProtocolRef(protocol_id=data["protocol_id"], title=data["title"], version=data["version"],
                        plan_definition_url=data["plan_definition_url"], registration=data["registration"]),
        disease_valueset=data["disease_valueset"],
        default_arm=data["default_arm"],
        target_low_ng_ml=target["low"] if target else None,
        target_high_ng_ml=target["high"] if target else None,
        titration_aim=titration["aim"],
        titration_line=titration["protocol_line"],
        titration_max_fold_change=titration.get("max_fold_change"),
        starting_dose_mg_per_kg_day=data.get("starting_dose_mg_per_kg_day"),
        starting_administrations_per_day=data.get("starting_administrations_per_day", 2),
        trough=TroughRules(steady_state_days=t["steady_state_days"], max_age_days=t["max_age_days"],
                           plausible_max_ng_ml=t["plausible_max_ng_ml"],
                           monitoring_interval_days=t["monitoring_interval_days"],
                           accepted_statuses=tuple(t["accepted_statuses"]),
                           non_trough_markers=tuple(t["non_trough_markers"]),
                           plausible_min_ng_ml=t["plausible_min_ng_ml"], follow_up_days=t["follow_up_days"]),
        measuring=Measuring(solution_mg_per_ml=m["solution_mg_per_ml"], solution_step_ml=m["solution_step_ml"],
                            tablet_strengths_mg=tuple(sorted(m["tablet_strengths_mg"], reverse=True)),
                            tablet_exposure_vs_solution=load_pharmacology().tablet_exposure_vs_solution,
                            exposure_source=load_pharmacology().exposure_source),
        sanity=SanityLimits(max_mg_per_kg_day=s["max_mg_per_kg_day"], max_daily_mg=s["max_daily_mg"],
                            weight_max_age_days=s["weight_max_age_days"], tenfold_ratio_low=s["tenfold_ratio_low"],
                            tenfold_ratio_high=s["tenfold_ratio_high"], min_weight_kg=s["min_weight_kg"],
                            max_weight_change_fraction=s["max_weight_change_fraction"],
                            weight_jump_window_days=s["weight_jump_window_days"],
                            weight_for_age_kg=tuple((b["age_from_days"], b["age_to_days"], float(b["min_kg"]),
                                                     float(b["max_kg"])) for b in s["weight_for_age_kg"])),
        taper=_taper_rules(data["taper"]) if "taper" in data else None,
        eligibility=data.get("eligibility", {}),
        starting_dose_tolerance_fraction=data.get("starting_dose_tolerance_fraction"),
        loading_dose_at_start=data.get("loading_dose_at_start", False),
    )



def _taper_rules(tp: dict[str, Any]) -> TaperRules:
    """The `taper` section (guided discontinuation only), already validated against the schema."""
    rl = tp["relapse"]
    return TaperRules(
        max_reduction_fraction=tp["max_reduction_fraction"],
        window_days=tp["window_days"],
        min_days_between_changes=tp["min_days_between_changes"],
        min_taper_days=tp["min_taper_days"],
        stabilisation_days=tp["stabilisation_days"],
        after_relapse_max_reduction_fraction=tp["after_relapse_max_reduction_fraction"],
        relapse=RelapseRules(
            condition_statuses=tuple(rl["condition_statuses"]),
            platelets_below_10e9_l=rl["platelets_below_10e9_l"],
            fibrinogen_below_g_l=rl["fibrinogen_below_g_l"],
            return_triggers=tuple(rl["return_triggers"]),
            warning_signals=tuple(rl["warning_signals"]),
            after_stop_watch_days=rl["after_stop_watch_days"],
            after_stop_signal_max_age_days=rl["after_stop_signal_max_age_days"],
        ),
        stop_below_mg_per_kg_day=tp["stop_rule"]["stop_below_mg_per_kg_day"],
        stop_when_step_not_measurable=tp["stop_rule"]["stop_when_step_not_measurable"],
    )


@dataclass(frozen=True)
class Protocols:
    by_id: dict[str, Protocol]

    def __getitem__(self, protocol_id: str) -> Protocol:
        return self.by_id[protocol_id]

    def by_canonical(self, canonical: str) -> Protocol | None:
        """`<url>|<version>` or the bare url -> Protocol, matched by url (the caller notes a version
        that differs from the one loaded: following the child's protocol under these rules is safer
        than falling back to another protocol's)."""
        url = canonical.partition("|")[0]
        return next((p for p in self.by_id.values() if p.ref.plan_definition_url == url), None)


@cache
def load_protocols() -> Protocols:
    """Load and validate the three protocol files once."""
    return Protocols({pid: parse_protocol(load_json(f"protocols/{pid}.json")) for pid in PROTOCOL_IDS})
