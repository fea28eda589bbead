"""`sirolimus-cds report` on a database filled through the HTTP endpoints, SQLite and PostgreSQL.

Hook calls produce cards (the app's clock says when each was shown), then feedback is POSTed as a CDS
Hooks client sends it: accepted with the suggestion taken, overridden with a reason, overridden with
none, a card given two outcomes, one posted twice, one for a card that is not ours; the rest ignored.
The report must count exactly what was sent (decision 0135): per card kind and indicator, shown,
accepted, overridden by reason, ignored, median time to the first feedback; `--since` leaves out the
older day's cards; the CSV reads back to the same numbers; the chart is a real PNG; no patient id
appears anywhere.
"""
from __future__ import annotations

import csv
import datetime as dt
import statistics
import struct
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cards.common import CARD_KIND_EXTENSION, OVERRIDE_REASON_SYSTEM
from cds_service.cli import main
from tests.e2e.support import TODAY, call_hook, load_request, post_feedback, service_for
from tests.support.app import make_app

# They talk to the real FHIR server process: out of the inner loop (-m "not slow"), always in CI.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

RELAPSE = ("sandbox-patient-view.json", "khe-taper-relapse", {})
STEP = ("ehr-order-select-mg.json", "khe-taper-step-due",
        {"dose": 0.25, "frequency": 2, "dose_text": "0.25 mg (0.25 mL) by mouth twice daily"})
ELIGIBLE = ("sandbox-patient-view.json", "khe-taper-eligible", {})
NO_WEIGHT = ("sandbox-patient-view.json", "khe-no-weight", {})
PATIENTS = ("khe-taper-relapse", "khe-taper-step-due", "khe-taper-eligible", "khe-no-weight")


@dataclass
class Expected:
    """What the test sent, per (card kind, indicator): the numbers the report must show."""

    shown: Counter[tuple[str, str]] = field(default_factory=Counter)
    outcome: dict[str, tuple[str, str | None, float]] = field(default_factory=dict)  # card -> first feedback
    kind_of: dict[str, tuple[str, str]] = field(default_factory=dict)

    def show(self, cards: list[dict[str, Any]]) -> None:
        for card in cards:
            key = (card["extension"][CARD_KIND_EXTENSION], card["indicator"])
            self.shown[key] += 1
            self.kind_of[card["uuid"]] = key

    def rows(self) -> dict[tuple[str, str], dict[str, Any]]:
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for key, shown in self.shown.items():
            cards = [c for c, k in self.kind_of.items() if k == key]
            firsts = [self.outcome[c] for c in cards if c in self.outcome]
            reasons = Counter(reason or "(no reason coded)" for outcome, reason, _ in firsts if outcome == "overridden")
            rows[key] = {
                "shown": shown,
                "accepted": sum(1 for f in firsts if f[0] == "accepted"),
                "overridden": sum(1 for f in firsts if f[0] == "overridden"),
                "ignored": shown - len(firsts),
                "median": statistics.median(f[2] for f in firsts) if firsts else None,
                "reasons": dict(reasons),
            }
        return rows


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.combine(TODAY, dt.time(9, 0), dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def _at(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _accepted(card: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    chosen = card["suggestions"][0]
    return {"feedback": [{"card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": chosen["uuid"]}],
                          "outcomeTimestamp": _at(at)}]}


def _overridden(card: dict[str, Any], at: dt.datetime, code: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": _at(at)}
    if code is not None:
        reason = next(r for r in card["overrideReasons"] if r["code"] == code)
        item["overrideReason"] = {"reason": reason, "userComment": "Spoke with Jane Doe's mother (MRN 12345)"}
    return {"feedback": [item]}


@dataclass
class Filled:
    database_url: str
    all_days: Expected
    today_only: Expected
    unmatched: int


@pytest.fixture
def filled(tmp_path: Path, fhir: Any, database_url: str) -> Iterator[Filled]:
    clock = Clock()
    app = make_app(tmp_path, fhir_servers=(fhir.base_url,), database_url=database_url, clock=clock)
    client = app.test_client()
    all_days, today_only = Expected(), Expected()

    def feedback(card: dict[str, Any], body: dict[str, Any], shown_at: dt.datetime, *, first: bool = True) -> None:
        post_feedback(client, service_for_card[card["uuid"]], body)
        if first:
            item = body["feedback"][0]
            reason = item.get("overrideReason", {}).get("reason", {})
            label = {"suspected-lab-error": "Suspected lab error", "clinical-judgement": "Clinical judgement"}.get(
                reason.get("code")) if reason.get("system") == OVERRIDE_REASON_SYSTEM else None
            seconds = (dt.datetime.fromisoformat(item["outcomeTimestamp"]) - shown_at).total_seconds()
            for expected in (all_days, today_only) if shown_at.date() == TODAY else (all_days,):
                expected.outcome[card["uuid"]] = (item["outcome"], label, seconds)

    service_for_card: dict[str, str] = {}

    def call(fixture: tuple[str, str, dict[str, Any]], at: dt.datetime) -> list[dict[str, Any]]:
        clock.now = at
        request = load_request(fixture[0], patient_id=fixture[1], fhir=fhir, **fixture[2])
        cards = call_hook(client, request)
        assert cards, f"{fixture[1]} gave no card"
        for expected in (all_days, today_only) if at.date() == TODAY else (all_days,):
            expected.show(cards)
        service_for_card.update({c["uuid"]: service_for(request) for c in cards})
        return cards

    day_before = dt.datetime.combine(TODAY - dt.timedelta(days=1), dt.time(15, 0), dt.UTC)
    nine, ten, eleven = (dt.datetime.combine(TODAY, dt.time(h, 0), dt.UTC) for h in (9, 10, 11))
    s = dt.timedelta(seconds=1)

    old = call(RELAPSE, day_before)  # yesterday: --since today leaves these out
    feedback(old[0], _overridden(old[0], day_before + 3600 * s, "clinical-judgement"), day_before)

    relapse = call(RELAPSE, nine)
    relapse_card = next(c for c in relapse if "overrideReasons" in c)
    lab_error = _overridden(relapse_card, nine + 95 * s, "suspected-lab-error")
    feedback(relapse_card, lab_error, nine)
    feedback(relapse_card, lab_error, nine, first=False)  # posted twice: one record
    feedback(relapse_card, _accepted(relapse_card, nine + 900 * s), nine, first=False)  # changed mind: not counted

    step = call(STEP, ten)
    feedback(step[0], _accepted(step[0], ten + 42 * s), ten)

    again = call(RELAPSE, eleven)
    again_card = next(c for c in again if "overrideReasons" in c)
    feedback(again_card, _overridden(again_card, eleven + 20 * s, None), eleven)
    # A client clock 5 s behind: the card's time to feedback is 0, never negative.
    step_again = call(STEP, eleven + 600 * s)
    post_feedback(client, service_for_card[step_again[0]["uuid"]], _accepted(step_again[0], eleven + 595 * s))
    for expected in (all_days, today_only):
        expected.outcome[step_again[0]["uuid"]] = ("accepted", None, 0.0)

    call(ELIGIBLE, eleven + 900 * s)  # these cards get no feedback: ignored
    call(NO_WEIGHT, eleven + 960 * s)
    call(STEP, eleven + 1200 * s)

    post_feedback(client, "sirolimus-monitoring", {"feedback": [{"card": "a-card-from-elsewhere",
                                                                 "outcome": "overridden",
                                                                 "outcomeTimestamp": _at(eleven)}]})
    app.extensions["sirolimus_cds"].store.engine.dispose()  # lets the test database be dropped
    yield Filled(database_url, all_days, today_only, unmatched=1)


def _report(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str,
            *args: str) -> tuple[int, str, str]:
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    monkeypatch.setenv("SIROLIMUS_CDS_DATABASE_URL", database_url)
    status = main(["report", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _csv_rows(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    parsed = {}
    for row in rows:
        reasons = {k.removeprefix("overridden: "): int(v) for k, v in row.items()
                   if k.startswith("overridden: ") and int(v)}
        parsed[(row["card_kind"], row["indicator"])] = {
            "shown": int(row["shown"]), "accepted": int(row["accepted"]), "overridden": int(row["overridden"]),
            "ignored": int(row["ignored"]),
            "median": float(row["median_seconds_to_feedback"]) if row["median_seconds_to_feedback"] else None,
            "reasons": reasons,
        }
    return parsed


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _total(expected: Expected) -> dict[str, Any]:
    rows = expected.rows().values()
    seconds = [f[2] for f in expected.outcome.values()]
    reasons: defaultdict[str, int] = defaultdict(int)
    for row in rows:
        for reason, count in row["reasons"].items():
            reasons[reason] += count
    return {key: sum(r[key] for r in rows) for key in ("shown", "accepted", "overridden", "ignored")} | {
        "median": statistics.median(seconds), "reasons": dict(reasons)}


def test_report_counts_what_the_ehr_sent(filled: Filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, png_path = tmp_path / "today.csv", tmp_path / "today.png"
    status, out, err = _report(monkeypatch, capsys, filled.database_url, "--since", TODAY.isoformat(),
                               "--csv", str(csv_path), "--out", str(png_path))
    assert status == 0, err
    expected = filled.today_only.rows()
    got = _csv_rows(csv_path)
    assert got.pop(("all", "all")) == _total(filled.today_only)
    assert got == expected
    # The table says the same: one line per kind and indicator, the totals, the period covered.
    assert f"Cards shown from {TODAY.isoformat()} 00:00 to " in out
    total_line = next(line for line in out.splitlines() if line.startswith("All cards"))
    total = _total(filled.today_only)
    assert total_line.split()[2] == str(total["shown"])
    assert "Suspected lab error 1" in out and "(no reason coded) 1" in out
    assert "1 card(s) had more than one feedback" in out
    assert total["ignored"] >= 3 and len(expected) >= 4
    assert f"{filled.unmatched} feedback item(s) name a card the audit trail does not hold" in out
    width, height = _png_size(png_path.read_bytes())
    assert 20_000 < png_path.stat().st_size < 500_000 and width >= 1000 and height >= 200
    for text in (out, err, csv_path.read_text(encoding="utf-8")):
        assert not any(patient in text for patient in PATIENTS)
        assert "Jane Doe" not in text and "12345" not in text


def test_since_leaves_out_older_cards_and_svg_is_written(filled: Filled, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, svg_path = tmp_path / "all.csv", tmp_path / "all.svg"
    status, out, _ = _report(monkeypatch, capsys, filled.database_url, "--csv", str(csv_path), "--out", str(svg_path))
    assert status == 0
    every = _csv_rows(csv_path)
    assert every.pop(("all", "all")) == _total(filled.all_days)
    assert every == filled.all_days.rows()
    assert _total(filled.all_days)["shown"] > _total(filled.today_only)["shown"]
    assert "(the first card recorded)" in out
    assert "Clinical judgement 1" in out  # the override on yesterday's card
    svg = svg_path.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert not any(patient in svg for patient in PATIENTS) and "Jane Doe" not in svg
