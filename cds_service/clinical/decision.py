"""The Decision: everything a card, the decision page, the audit trail and the `plan` CLI need.

Plain frozen dataclasses, no behaviour beyond `to_dict()`. The core fills them; `cards/` only
words them. Dates are `datetime.date`; every number carries its unit in its name.

    Decision
    ├── protocol: ProtocolRef | None        id, title, version, PlanDefinition canonical
    ├── arm: ArmAssignment | None           arm + how it was known (careplan / research_subject / default_assumed)
    ├── phase: Phase | None
    ├── eligibility: tuple[Eligibility]     per protocol: criteria, each met / not_met / unknown + evidence
    ├── troughs_used: tuple[TroughUsed]     each reason not usable: a message and its Unusable kind
    ├── last_dose_change: DoseChange | None
    ├── current_dose: DoseRegimen | None    (None also when the order's product is unknown: decision 0020)
    ├── draft_check: DraftCheck | None      the draft: follows / departs / dangerous, predicted trough
    ├── proposed_dose: ProposedDose | None  (None -> no_proposal_reasons says why)
    ├── alternatives: tuple[Alternative]    keep current / smaller step / solution equivalent
    ├── next_trough_due, trough_overdue_since, next_step_due: date | None
    ├── taper_stop: TaperStop | None        stopped after the taper began: completed or not (0018, 0021)
    ├── findings: tuple[Finding]            code, severity, message, evidence
    ├── missing_data: tuple[MissingData]    what is missing, what to order
    ├── schedule: tuple[ScheduleStep]       projected taper plan
    └── monitoring: tuple[MonitoringItem]   patient-view items (trough due, step due, ...)
"""
from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .pk.informed import ModelView
    from .rules.draft_check import DraftCheck

Answer = Literal["met", "not_met", "unknown"]
Severity = Literal["info", "warning", "critical"]
Formulation = Literal["solution", "tablet"]
ArmSource = Literal["careplan", "research_subject", "default_assumed"]
DecisionKind = Literal["dosing", "monitoring", "not_sirolimus", "incomplete_draft"]


class Phase(enum.StrEnum):
    """Where the child stands in the protocol (clinical-protocol.md section 1)."""

    SEQUENTIAL = "sequential"  # IHHE, sirolimus after propranolol, target 8-15 ng/mL
    MAINTENANCE = "maintenance"  # KHE maintenance arm, target 5-7 ng/mL
    TAPERING = "tapering"  # KHE guided discontinuation, rules 1-5 (10 % steps)
    RETURNED_AFTER_RELAPSE = "returned_after_relapse"  # rule 7, back on the effective dose
    STABILISING = "stabilising"  # rule 8, the 3-month stabilisation
    TAPERING_AFTER_RELAPSE = "tapering_after_relapse"  # rule 8, smaller reductions after the stabilisation
    READY_TO_STOP = "ready_to_stop"  # the stop rule (choice) is met
    STOPPED = "stopped"  # no sirolimus in force after a taper


class Rule(enum.StrEnum):
    """The rule a proposed dose follows (`ProposedDose.rule`, kept in the audit trail): rules and cards
    compare these, never a prefix of the name."""

    TAPER_STEP_RULE_1 = "taper_step_rule_1"  # KHE taper, rule 1 (at most 10 %, at most monthly)
    TAPER_STEP_RULE_1_AS_SOLUTION = "taper_step_rule_1_as_solution"  # ... as the oral solution (decision 0005)
    TAPER_STEP_RULE_8 = "taper_step_rule_8"  # after a relapse, rule 8 (at most 5 % a month)
    TAPER_STEP_RULE_8_AS_SOLUTION = "taper_step_rule_8_as_solution"
    RELAPSE_RETURN = "relapse_return_to_effective_dose"  # rule 7
    RESTART_AT_EFFECTIVE_DOSE = "restart_at_effective_dose"  # rule 7 after a completed taper (decision 0018)
    IHHE_STARTING_DOSE = "ihhe_starting_dose"
    LINEAR_ADJUSTMENT = "linear_adjustment_to_target"  # titration: dose x target / level
    LINEAR_ADJUSTMENT_AS_SOLUTION = "linear_adjustment_to_target_as_solution"
    WITHIN_TARGET_KEEP_DOSE = "within_target_keep_dose"
    KEEP_CURRENT_DOSE = "keep_current_dose"  # the keep-the-dose alternative


LINEAR_RULES = frozenset({Rule.LINEAR_ADJUSTMENT, Rule.LINEAR_ADJUSTMENT_AS_SOLUTION})
SMALLER_STEP_RULES = frozenset({Rule.TAPER_STEP_RULE_8, Rule.TAPER_STEP_RULE_8_AS_SOLUTION})
AS_SOLUTION = {Rule.TAPER_STEP_RULE_1: Rule.TAPER_STEP_RULE_1_AS_SOLUTION,
               Rule.TAPER_STEP_RULE_8: Rule.TAPER_STEP_RULE_8_AS_SOLUTION,
               Rule.LINEAR_ADJUSTMENT: Rule.LINEAR_ADJUSTMENT_AS_SOLUTION}  # a step made as the oral solution


class Unusable(enum.StrEnum):
    """Why a level cannot be used to compute a dose: the kind a rule reads, next to the message a
    person reads (`TroughUsed.reasons_unusable`). Rules never match the wording."""

    NOT_FINAL = "not_final"  # result status not accepted
    BELOW_RANGE = "below_range"  # censored "<2": below the assay's range (decision 0011)
    ABOVE_RANGE = "above_range"  # censored ">30": above the assay's range, possibly toxic
    UNKNOWN_UNIT = "unknown_unit"
    IMPLAUSIBLE = "implausible"  # <= 0 or above the plausible maximum
    BELOW_MINIMUM = "below_minimum"  # below the plausible minimum (the assays' LLOQ, decision 0011)
    NOT_A_TROUGH = "not_a_trough"  # the sample is recorded as a peak, random, ...
    BEFORE_CHANGE = "before_change"  # drawn at the previous dose
    BEFORE_STEADY_STATE = "before_steady_state"
    TOO_OLD = "too_old"
    DRUG_STARTED_SINCE = "drug_started_since"  # an interacting drug started after the draw


class MonitoringKind(enum.StrEnum):
    TROUGH_DUE = "trough_due"
    TROUGH_OVERDUE = "trough_overdue"
    TAPER_STEP_DUE = "taper_step_due"
    ELIGIBLE_FOR_DISCONTINUATION = "eligible_for_discontinuation"
    POSSIBLE_RELAPSE = "possible_relapse"
    DOSE_CHANGE_DUE = "dose_change_due"  # maintenance / sequential: the usable trough is out of range
    DATA_MISSING = "data_missing"  # on sirolimus, but the dose cannot be checked (e.g. no recent weight)
    NOTHING_DUE = "nothing_due"


@dataclass(frozen=True, kw_only=True)
class ProtocolRef:
    protocol_id: str  # e.g. "khe-guided-discontinuation"
    title: str
    version: str
    plan_definition_url: str
    registration: str  # e.g. "NCT04448873"


@dataclass(frozen=True, kw_only=True)
class ArmAssignment:
    protocol_id: str
    arm: str  # "sequential", "maintenance", "guided-discontinuation"
    source: ArmSource
    source_reference: str | None  # "CarePlan/123", "ResearchSubject/9", None when assumed
    taper_started_on: date | None  # CarePlan.period.start for guided discontinuation
    careplan_id: str | None = None  # the CarePlan a relapse suggestion updates
    note: str = ""  # plain words, e.g. "No CarePlan or ResearchSubject: maintenance assumed"
    on_hold: bool = False  # the CarePlan is on hold: the taper is paused (no step proposed)


@dataclass(frozen=True)
class Evidence:
    resource: str | None  # "Observation/abc"; None when the evidence is an absence
    value: str | float | None
    unit: str | None
    on: date | None
    note: str = ""


@dataclass(frozen=True)
class CriterionResult:
    criterion_id: str  # e.g. "remission_two_years"
    text: str  # the protocol line, e.g. "at least 2 years of remission"
    kind: Literal["inclusion", "exclusion"]
    answer: Answer  # "met" = satisfied for eligibility (for an exclusion: the condition is absent)
    evidence: tuple[Evidence, ...] = ()
    settle_by: str | None = None  # for unknown: what would settle it
    condition: str | None = None  # for an exclusion: the disease it excludes, e.g. "hypertension"


@dataclass(frozen=True)
class Eligibility:
    protocol_id: str
    answer: Answer  # not_met if any criterion is not met; else unknown if any unknown; else met
    criteria: tuple[CriterionResult, ...]
    # Criteria a prescriber may confirm at the bedside when the record is silent (protocol data,
    # docs/decisions/0010): consent, past toxicity, the exclusion diagnoses. Never labs or remission.
    prescriber_can_confirm: tuple[str, ...] = ()

    @property
    def to_confirm(self) -> tuple[CriterionResult, ...]:
        """The unknown criteria, when every one of them is the prescriber's to confirm; else ()."""
        unknown = self.unknown
        if self.answer != "unknown" or not all(c.criterion_id in self.prescriber_can_confirm for c in unknown):
            return ()
        return unknown

    @property
    def unknown(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.answer == "unknown")

    @property
    def not_met(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.answer == "not_met")


@dataclass(frozen=True, kw_only=True)
class TroughUsed:
    value_ng_ml: float | None  # None when the unit was unknown
    original_value: float | None
    original_unit: str | None
    drawn_on: date
    observation_id: str  # the reference, "Observation/abc"
    usable: bool
    reasons_unusable: tuple[str, ...] = ()  # for people: why not usable
    method: str | None = None  # assay, when the Observation records it
    unusable_kinds: tuple[Unusable, ...] = ()  # for rules: the kind of each reason, in the same order

    def reason(self, kind: Unusable) -> str | None:
        """The message of the first reason of this kind (None: the level has no such problem)."""
        return next((r for k, r in zip(self.unusable_kinds, self.reasons_unusable, strict=False) if k is kind), None)


@dataclass(frozen=True, kw_only=True)
class DoseChange:
    changed_on: date
    from_daily_mg: float
    to_daily_mg: float

    @property
    def percent_change(self) -> float | None:
        if self.from_daily_mg <= 0:
            return None  # a start, not a change of dose
        return 100.0 * (self.to_daily_mg - self.from_daily_mg) / self.from_daily_mg


@dataclass(frozen=True)
class DosePoint:
    """From `on`, this daily dose was in force (0 = no sirolimus): the history the decision page draws."""

    on: date
    daily_dose_mg: float
    administrations_per_day: float | None = None  # of the order in force from `on` (the PK model's dose times)
    formulation: Formulation | None = None


@dataclass(frozen=True, kw_only=True)
class DoseRegimen:
    mg_per_administration: float
    administrations_per_day: float
    formulation: Formulation
    strength_mg: float  # mg per mL for the solution, mg per tablet for tablets
    ml_per_administration: float | None = None  # solution only
    tablets_per_administration: float | None = None  # tablets only
    tablet_strengths_mg: tuple[float, ...] = ()  # e.g. (1.0, 0.5) for 1.5 mg

    @property
    def daily_dose_mg(self) -> float:
        return round(self.mg_per_administration * self.administrations_per_day, 6)


@dataclass(frozen=True, kw_only=True)
class ProposedDose:
    regimen: DoseRegimen
    daily_dose_mg: float
    dose_mg_per_kg_day: float | None
    percent_change: float | None  # vs current daily dose; None when starting
    predicted_trough_ng_ml: float | None
    rule: Rule
    protocol_line: str  # the protocol text the rule implements
    loading_dose_mg: float | None = None  # label: 3 x (new - current), shown, never ordered by us


@dataclass(frozen=True, kw_only=True)
class TaperStop:
    """Sirolimus stopped after the guided taper began (decisions 0018, 0021)."""

    stopped_on: date
    taper_started_on: date
    # The taper's own rules proposed the stop that day: at least `min_taper_days` since it began (rule 5)
    # and the stop rule's last step (decision 0004). False: stopped before the taper's end. None: the
    # record cannot tell (no weight to judge the stop rule's floor, or the product unknown).
    completed: bool | None

    @property
    def taper_days(self) -> int:
        return (self.stopped_on - self.taper_started_on).days


@dataclass(frozen=True)
class Alternative:
    kind: Literal["keep_current", "smaller_step", "solution_equivalent", "stop"]
    dose: ProposedDose | None
    note: str
    then: str = ""  # what follows the alternative, on its own (stop: "monitor the trough and platelets monthly")


@dataclass(frozen=True)
class Finding:
    code: str  # e.g. "reduction-exceeds-cap", "mg-ml-tenfold", "interacting-drug"
    severity: Severity
    message: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class MissingData:
    what: str
    order: str | None  # what to order or record to settle it


@dataclass(frozen=True, kw_only=True)
class ScheduleStep:
    due_on: date
    daily_dose_mg: float
    mg_per_administration: float
    ml_per_administration: float | None
    predicted_trough_ng_ml: float | None
    trough_due_on: date
    note: str = ""


@dataclass(frozen=True)
class MonitoringItem:
    kind: MonitoringKind
    due_on: date | None
    message: str


@dataclass(frozen=True, kw_only=True)
class Decision:
    kind: DecisionKind
    patient_id: str
    decided_on: date
    protocol: ProtocolRef | None = None
    arm: ArmAssignment | None = None
    phase: Phase | None = None
    eligibility: tuple[Eligibility, ...] = ()
    troughs_used: tuple[TroughUsed, ...] = ()
    last_dose_change: DoseChange | None = None
    current_dose: DoseRegimen | None = None
    draft_dose: DoseRegimen | None = None
    draft_missing: tuple[str, ...] = ()  # what the sirolimus draft still lacks, in plain words
    draft_check: DraftCheck | None = None  # the draft compared with the protocol (a readable dose only)
    draft_tablet_count_for_solution: bool = False  # the solution drafted with a tablet count (no mg)
    draft_unknown_unit: str | None = None  # the draft's dose is in a unit no dose is written in (nmol/L)
    proposed_dose: ProposedDose | None = None
    no_proposal_reasons: tuple[str, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    next_trough_due: date | None = None  # the day to draw it, never before decided_on (follow_up.py)
    trough_overdue_since: date | None = None  # when it was due, if before decided_on
    next_step_due: date | None = None
    taper_paused_by: tuple[str, ...] = ()  # why a started taper is paused, one short phrase per criterion
    # A protecting criterion unknown during a taper step, the prescriber's to confirm (decision 0019)
    taper_to_confirm: tuple[CriterionResult, ...] = ()
    taper_stop: TaperStop | None = None  # off sirolimus after the taper began, with a relapse sign (0018, 0021)
    findings: tuple[Finding, ...] = ()
    missing_data: tuple[MissingData, ...] = ()
    schedule: tuple[ScheduleStep, ...] = ()
    monitoring: tuple[MonitoringItem, ...] = ()
    weight_kg: float | None = None
    notes: tuple[str, ...] = field(default=())
    # For the decision page only (never read by a rule): the recent dose and level history.
    dose_history: tuple[DosePoint, ...] = ()
    trough_history: tuple[TroughUsed, ...] = ()
    # The PK model's predictions next to the linear rule (issue #16); never read by a rule.
    model: ModelView | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (dates as ISO strings, enums as values) for the audit trail: what
        `dataclasses.asdict` gives, converted, in one walk and without its deep copies."""
        result: dict[str, Any] = _jsonable(self)
        return result


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _jsonable(value: Any) -> Any:
    kind = type(value)
    convert = _CONVERTERS.get(kind)
    if convert is None:
        convert = _CONVERTERS[kind] = _converter(kind)
    return convert(value)


# How a value of exactly this type becomes JSON-ready: chosen once per type, not per value.
_CONVERTERS: dict[type, Callable[[Any], Any]] = {}


def _converter(kind: type) -> Callable[[Any], Any]:
    if issubclass(kind, enum.Enum):
        return _enum_value
    if kind is type(None) or issubclass(kind, str | int | float | bool):
        return _as_is
    if dataclasses.is_dataclass(kind):
        names = _field_names(kind)
        return lambda value: {name: _jsonable(getattr(value, name)) for name in names}
    if issubclass(kind, dict):
        return lambda value: {k: _jsonable(v) for k, v in value.items()}
    if issubclass(kind, list | tuple):
        return lambda value: [_jsonable(v) for v in value]
    if issubclass(kind, date):
        return _iso_date
    return _as_is


def _enum_value(value: enum.Enum) -> Any:
    return value.value


def _as_is(value: Any) -> Any:
    return value


def _iso_date(value: date) -> str:
    return value.isoformat()
