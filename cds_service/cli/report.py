"""`sirolimus-cds report`: card outcomes for clinical governance (alert fatigue), from the service's database.

    report [--since DATE] [--out report.png|report.svg] [--csv report.csv] [--config FILE]

Per card kind and indicator: the cards shown, accepted, overridden (with the override reasons counted),
ignored (no feedback), and the median time from card to feedback; the definitions are decision 0135
(`cds_service.audit.governance`). A table on stdout; `--out` draws a bar chart, `--csv` writes the same numbers.
It reads the audit trail (`decisions`, `decision_cards`) and the `feedback` table of the configured
database and writes nothing there. Nothing patient-specific leaves it: counts, kinds, indicators, the
reasons' codes, durations; never a patient id, a card's text or a clinician's comment.

`--since DATE` (YYYY-MM-DD) keeps the cards shown from 00:00 that day in the configured time zone;
their feedback counts whenever it arrived. Exit status: 0 written, 2 bad usage (unparseable date,
unwritable file, a database that cannot be read), each said in one line.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from cds_service.audit.governance import (
    ALL,
    UNRECORDED_KIND,
    FeedbackItem,
    GovernanceReport,
    OutcomeRow,
    ShownCard,
    duration_words,
    reason_label,
    summarise,
)
from cds_service.audit.store import as_utc
from cds_service.cli.common import EXIT_OK, EXIT_USAGE, ToolkitError
from cds_service.config import load_settings
from cds_service.errors import ConfigError

CHART_SUFFIXES = (".png", ".svg")
OUTCOME_COLOURS = {"accepted": "#2e7d32", "overridden": "#ef6c00", "ignored": "#9e9e9e"}
DEFINITIONS = (
    "Shown: cards the service returned to the EHR (audit trail). Accepted / overridden: the card's first "
    "feedback from the EHR (CDS Hooks feedback); % of cards shown.",
    "Ignored: shown, and no feedback received by the time of this report (EHRs never report ignored cards; "
    "the last cards may still get feedback).",
    "Median time to feedback: over the cards with feedback, from the card shown to the clinician's action "
    "(outcomeTimestamp of its first feedback).",
    "Definitions: docs/decisions/0135-governance-report-definitions.md. No patient identifier, card text or "
    "clinician's comment is shown.",
)


# -- reading the database ------------------------------------------------------------------------------
def read_report(database_url: str, since: dt.datetime | None, made_at: dt.datetime) -> GovernanceReport:
    """The report over the cards shown since `since`, from the audit trail and the feedback table."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.audit.database import engine_url, require_existing

    shown_url = make_url(database_url).render_as_string(hide_password=True)
    require_existing(database_url)  # a report never creates a database
    engine = create_engine(engine_url(database_url))
    try:
        missing = [t for t in ("decisions", "decision_cards", "feedback") if not inspect(engine).has_table(t)]
        if missing:
            raise ConfigError(f"the database {shown_url} holds no audit trail (no table {missing[0]!r}): is it "
                              "the service's database?")
        with engine.connect() as conn:
            cards = list(_shown_cards(conn, since))
            feedback = list(_feedback(conn, since))
            unmatched = _unmatched_feedback(conn, since)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ConfigError(f"cannot read the database {shown_url}: {reason}") from None
    finally:
        engine.dispose()
    return summarise(cards, feedback, made_at=made_at, since=since, unmatched_feedback=unmatched)


def _shown_cards(conn: Any, since: dt.datetime | None) -> Iterator[ShownCard]:
    from sqlalchemy import select

    from cards.common import card_kind
    from cds_service.audit.store import decisions

    query = select(decisions.c.created_at, decisions.c.cards)
    if since is not None:
        query = query.where(decisions.c.created_at >= since)
    for created_at, cards in conn.execute(query):
        for card in cards or ():
            if "uuid" not in card:
                continue
            kind = card_kind(card)
            yield ShownCard(uuid=card["uuid"], kind=kind.value if kind else UNRECORDED_KIND,
                            indicator=str(card.get("indicator", "info")), shown_at=as_utc(created_at))


def _feedback(conn: Any, since: dt.datetime | None) -> Iterator[FeedbackItem]:
    from sqlalchemy import select

    from cds_service.audit.store import decision_cards, decisions, feedback

    query = (
        select(feedback.c.id, feedback.c.card_uuid, feedback.c.outcome, feedback.c.outcome_timestamp,
               feedback.c.override_reason, feedback.c.received_at)
        .join(decision_cards, decision_cards.c.card_uuid == feedback.c.card_uuid)
        .join(decisions, decisions.c.id == decision_cards.c.decision_id)
    )
    if since is not None:
        query = query.where(decisions.c.created_at >= since)
    for row in conn.execute(query).mappings():
        yield FeedbackItem(
            card=row["card_uuid"],
            outcome=row["outcome"],
            at=_instant(row["outcome_timestamp"]) or as_utc(row["received_at"]),
            reason=reason_label(row["override_reason"]) if row["outcome"] == "overridden" else None,
            sequence=row["id"],
        )


def _unmatched_feedback(conn: Any, since: dt.datetime | None) -> int:
    from sqlalchemy import func, select

    from cds_service.audit.store import decision_cards, feedback

    query = (
        select(func.count())
        .select_from(feedback.outerjoin(decision_cards, decision_cards.c.card_uuid == feedback.c.card_uuid))
        .where(decision_cards.c.card_uuid.is_(None))
    )
    if since is not None:
        query = query.where(feedback.c.received_at >= since)
    return int(conn.execute(query).scalar_one())


def _instant(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return as_utc(value)


# -- the table -------------------------------------------------------------------------------------------
def _count(part: int, whole: int) -> str:
    return f"{part} ({round(100 * part / whole)} %)" if whole else str(part)


def period_line(report: GovernanceReport, zone: ZoneInfo) -> str:
    def at(value: dt.datetime) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    start = report.period_start
    until = at(report.made_at)
    if start is None:
        return f"No card was shown up to {until} ({zone.key})."
    since = "" if report.since else " (the first card recorded)"
    return (f"Cards shown from {at(start)}{since} to {until} ({zone.key}); feedback received up to {until}.")


def format_table(report: GovernanceReport, zone: ZoneInfo) -> str:
    header = ["Card kind", "Indicator", "Shown", "Accepted", "Overridden", "Ignored", "Median time to feedback"]
    body = [_cells(row) for row in report.rows]
    total = _cells(report.total)
    widths = [max(len(line[i]) for line in [header, total, *body]) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = ["Sirolimus CDS: card outcomes for clinical governance", period_line(report, zone), "",
             line(header), rule, *(line(cells) for cells in body), rule, line(total)]
    lines += ["", *_reason_lines(report)]
    notes = []
    if report.several_feedbacks:
        notes.append(f"{report.several_feedbacks} card(s) had more than one feedback: each is counted once, "
                     "by its first.")
    if report.unmatched_feedback:
        notes.append(f"{report.unmatched_feedback} feedback item(s) name a card the audit trail does not hold "
                     "(not counted).")
    lines += ["", *notes, *DEFINITIONS]
    return "\n".join(lines) + "\n"


def _cells(row: OutcomeRow) -> list[str]:
    return [row.kind_label, "" if row.indicator == ALL else row.indicator, str(row.shown),
            _count(row.accepted, row.shown), _count(row.overridden, row.shown), _count(row.ignored, row.shown),
            duration_words(row.median_seconds_to_feedback)]


def _reason_lines(report: GovernanceReport) -> list[str]:
    if not report.total.overridden:
        return ["Override reasons: no card was overridden."]
    lines = ["Override reasons (overridden cards, by the reason the clinician chose):"]
    for row in report.rows:
        if row.override_reasons:
            reasons = ", ".join(f"{reason} {count}" for reason, count in row.override_reasons.items())
            lines.append(f"  {row.kind_label} ({row.indicator}): {reasons}")
    totals = ", ".join(f"{reason} {count}" for reason, count in report.total.override_reasons.items())
    lines.append(f"  All cards: {totals}")
    return lines


# -- CSV ---------------------------------------------------------------------------------------------------
REASON_COLUMN = "overridden: {}"


def csv_text(report: GovernanceReport) -> str:
    """One row per card kind and indicator, then the total row (card_kind "all"); one column per reason."""
    reasons = report.reasons
    columns = ["card_kind", "card_kind_label", "indicator", "shown", "accepted", "overridden", "ignored",
               "median_seconds_to_feedback", *(REASON_COLUMN.format(r) for r in reasons),
               "cards_shown_from", "cards_shown_to"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    start = report.period_start.isoformat() if report.period_start else ""
    for row in [*report.rows, report.total]:
        median = row.median_seconds_to_feedback
        writer.writerow([row.kind, row.kind_label, row.indicator, row.shown, row.accepted, row.overridden,
                         row.ignored, "" if median is None else f"{median:g}",
                         *(row.override_reasons.get(r, 0) for r in reasons), start, report.made_at.isoformat()])
    return buffer.getvalue()


# -- the chart -------------------------------------------------------------------------------------------
def chart_figure(report: GovernanceReport, zone: ZoneInfo) -> Any:
    """Stacked horizontal bars, one per card kind and indicator: accepted, overridden, ignored."""
    from matplotlib.figure import Figure

    rows = list(report.rows)
    figure = Figure(figsize=(10, 1.6 + 0.55 * max(len(rows), 1)), dpi=100)
    axis = figure.add_subplot()
    start = report.period_start
    period = (f"{start.astimezone(zone):%Y-%m-%d} to {report.made_at.astimezone(zone):%Y-%m-%d}" if start
              else f"up to {report.made_at.astimezone(zone):%Y-%m-%d}")
    axis.set_title(f"Sirolimus CDS card outcomes, cards shown {period} ({report.total.shown} cards)", fontsize=11,
                   pad=24)
    if not rows:
        axis.text(0.5, 0.5, "No card was shown in this period", ha="center", va="center", transform=axis.transAxes)
        axis.set_axis_off()
        figure.tight_layout()
        return figure
    from matplotlib.ticker import MaxNLocator

    labels = [f"{row.kind_label} ({row.indicator})" for row in rows]
    positions = list(range(len(rows)))[::-1]
    widest = max(row.shown for row in rows)
    left = [0] * len(rows)
    for outcome, colour in OUTCOME_COLOURS.items():
        values = [getattr(row, outcome) for row in rows]
        axis.barh(positions, values, left=left, color=colour, label=outcome, height=0.6)
        for position, start, value in zip(positions, left, values, strict=True):
            if value and value >= widest * 0.04:
                axis.text(start + value / 2, position, str(value), ha="center", va="center", color="white",
                          fontsize=8, fontweight="bold")
        left = [a + b for a, b in zip(left, values, strict=True)]
    for position, row in zip(positions, rows, strict=True):
        median = row.median_seconds_to_feedback
        said = "no feedback" if median is None else f"median time to feedback {duration_words(median)}"
        axis.text(row.shown + widest * 0.015, position, f"{row.shown} shown; {said}", va="center", fontsize=8)
    axis.set_yticks(positions, labels, fontsize=9)
    axis.set_xlim(0, widest * 1.75)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("Cards shown, by their first feedback (ignored = no feedback)")
    axis.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=9, frameon=False)
    axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return figure


def chart_bytes(report: GovernanceReport, zone: ZoneInfo, image_format: str) -> bytes:
    """The chart as PNG or SVG."""
    buffer = io.BytesIO()
    chart_figure(report, zone).savefig(buffer, format=image_format, dpi=120)
    return buffer.getvalue()


# -- command line -----------------------------------------------------------------------------------------


def run_report(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        settings = load_settings(args.config)
        zone = ZoneInfo(settings.timezone)
        since = parse_since(args.since, zone)
        chart_path = _writable(args.out, "--out", CHART_SUFFIXES)
        csv_path = _writable(args.csv, "--csv", None)
        report = read_report(settings.database_url, since, dt.datetime.now(dt.UTC))
        print(format_table(report, zone), file=out, end="")
        if csv_path is not None:
            _write(csv_path, "--csv", csv_text(report).encode("utf-8"))
            print(f"CSV written to {csv_path}", file=err)
        if chart_path is not None:
            _write(chart_path, "--out", chart_bytes(report, zone, chart_path.suffix.lower().lstrip(".")))
            print(f"chart written to {chart_path}", file=err)
    except ToolkitError as exc:
        print(f"report: {exc.message}", file=err)
        return exc.status
    except ConfigError as exc:
        print(f"report: {exc.message}", file=err)
        return EXIT_USAGE
    return EXIT_OK


def parse_since(text: str | None, zone: ZoneInfo) -> dt.datetime | None:
    """00:00 on that day in the clinic's time zone, as an instant."""
    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ToolkitError(f"--since must be a date YYYY-MM-DD, got {text!r}", EXIT_USAGE) from None
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _writable(name: str | None, option: str, suffixes: tuple[str, ...] | None) -> Path | None:
    """The path, when it can be written (checked before the database is read), else a one-line error."""
    if name is None:
        return None
    path = Path(name)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ToolkitError(f"{option} must end in {' or '.join(suffixes)}, got {name!r}", EXIT_USAGE)
    folder = path.parent
    if not folder.is_dir():
        raise ToolkitError(f"cannot write {option} {name}: the folder {folder} does not exist", EXIT_USAGE)
    if path.is_dir() or not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ToolkitError(f"cannot write {option} {name}: not a writable file", EXIT_USAGE)
    return path


def _write(path: Path, option: str, content: bytes) -> None:
    try:
        path.write_bytes(content)
    except OSError as exc:
        raise ToolkitError(f"cannot write {option} {path}: {exc.strerror or exc}", EXIT_USAGE) from None
