"""Card outcomes for clinical governance: how often each kind of card was accepted, overridden or ignored.

    summarise(shown cards, feedback items, ...) -> GovernanceReport (one row per card kind and indicator)

Pure: the cards and feedback come in as values (`cds_service.cli.report` reads them from the audit
trail and the feedback table). The definitions are decision 0135:
- a card is *shown* when the service returned it in a hook response (the audit trail holds it);
- its outcome is its **first** feedback (earliest `outcomeTimestamp`); later feedback on the same card
  is counted in `several_feedbacks` only, so shown = accepted + overridden + ignored in every row;
- *ignored* = no feedback received for the card when the report is made (CDS Hooks clients never
  report ignored cards);
- *time to feedback* = first feedback's `outcomeTimestamp` minus the moment the card was shown, 0 when
  the client's clock puts it earlier; the median is over the cards that got feedback;
- an override counts under the reason the clinician picked (its Coding); with none, under NO_REASON.
  Free-text comments are never read: they may name the patient.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cards.common import OVERRIDE_REASON_SYSTEM, OVERRIDE_REASONS, CardKind

UNRECORDED_KIND = "unrecorded"  # a card recorded before cards named their kind
NO_REASON = "(no reason coded)"
ALL = "all"
_OUR_REASONS = dict(OVERRIDE_REASONS)
_INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}
_KIND_ORDER = {kind.value: index for index, kind in enumerate(CardKind)}
_FOREIGN_CODE_MAX = 64


@dataclass(frozen=True)
class ShownCard:
    uuid: str
    kind: str  # a CardKind value, or UNRECORDED_KIND
    indicator: str
    shown_at: dt.datetime


@dataclass(frozen=True)
class FeedbackItem:
    card: str
    outcome: str  # "accepted" | "overridden"
    at: dt.datetime  # the client's outcomeTimestamp (when the clinician acted)
    reason: str | None = None  # the override reason's label (reason_label), None when none was coded
    sequence: int = 0  # order of arrival, breaks ties between equal timestamps


@dataclass(frozen=True, kw_only=True)
class OutcomeRow:
    kind: str
    indicator: str
    shown: int
    accepted: int
    overridden: int
    ignored: int
    median_seconds_to_feedback: float | None
    override_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)


@dataclass(frozen=True, kw_only=True)
class GovernanceReport:
    since: dt.datetime | None  # cards shown from this instant (None: from the first card recorded)
    made_at: dt.datetime  # the report's own time: cards shown until then, feedback received until then
    rows: tuple[OutcomeRow, ...]
    total: OutcomeRow
    several_feedbacks: int  # cards with more than one feedback (counted once, by the first)
    unmatched_feedback: int  # feedback naming a card the audit trail does not hold (not counted)
    first_shown: dt.datetime | None = None

    @property
    def period_start(self) -> dt.datetime | None:
        return self.since or self.first_shown

    @property
    def reasons(self) -> list[str]:
        """Every override reason that occurs, most frequent first."""
        return [reason for reason, _ in self.total.override_reasons.items()]


def kind_label(kind: str) -> str:
    if kind == ALL:
        return "All cards"
    if kind in _KIND_ORDER:
        return CardKind(kind).label
    return "kind not recorded"


def reason_label(override_reason: dict[str, Any] | None) -> str | None:
    """Our reasons by their display; another system's by its code (shortened); None when none coded."""
    coding = (override_reason or {}).get("reason") or {}
    code = coding.get("code")
    if not isinstance(code, str) or not code:
        return None
    if coding.get("system") == OVERRIDE_REASON_SYSTEM and code in _OUR_REASONS:
        return _OUR_REASONS[code]
    return code[:_FOREIGN_CODE_MAX]


def summarise(
    cards: Iterable[ShownCard],
    feedback: Iterable[FeedbackItem],
    *,
    made_at: dt.datetime,
    since: dt.datetime | None = None,
    unmatched_feedback: int = 0,
) -> GovernanceReport:
    shown = list(cards)
    by_card: dict[str, list[FeedbackItem]] = defaultdict(list)
    for item in feedback:
        by_card[item.card].append(item)
    groups: dict[tuple[str, str], list[ShownCard]] = defaultdict(list)
    for card in shown:
        groups[(card.kind, card.indicator)].append(card)
    order = sorted(groups, key=lambda key: (_KIND_ORDER.get(key[0], len(_KIND_ORDER)), key[0],
                                            _INDICATOR_ORDER.get(key[1], 3), key[1]))
    return GovernanceReport(
        since=since,
        made_at=made_at,
        rows=tuple(_row(kind, indicator, groups[(kind, indicator)], by_card) for kind, indicator in order),
        total=_row(ALL, ALL, shown, by_card),
        several_feedbacks=sum(1 for card in shown if len(by_card.get(card.uuid, ())) > 1),
        unmatched_feedback=unmatched_feedback,
        first_shown=min((card.shown_at for card in shown), default=None),
    )


def _row(kind: str, indicator: str, cards: list[ShownCard], by_card: dict[str, list[FeedbackItem]]) -> OutcomeRow:
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    seconds: list[float] = []
    for card in cards:
        items = by_card.get(card.uuid)
        if not items:
            outcomes["ignored"] += 1
            continue
        first = min(items, key=lambda item: (item.at, item.sequence))
        outcomes[first.outcome] += 1
        if first.outcome == "overridden":
            reasons[first.reason or NO_REASON] += 1
        seconds.append(max(0.0, (first.at - card.shown_at).total_seconds()))
    return OutcomeRow(
        kind=kind,
        indicator=indicator,
        shown=len(cards),
        accepted=outcomes["accepted"],
        overridden=outcomes["overridden"],
        ignored=outcomes["ignored"],
        median_seconds_to_feedback=statistics.median(seconds) if seconds else None,
        override_reasons=dict(sorted(reasons.items(), key=lambda pair: (-pair[1], pair[0]))),
    )


def duration_words(seconds: float | None) -> str:
    """A duration a committee reads at a glance: 45 s, 3 min 20 s, 2 h 5 min, 3 d 4 h; '-' when none."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"
