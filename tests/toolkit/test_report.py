"""`sirolimus-cds report`: the definitions of decision 0135 on plain values, and bad input in one line.

The counts on a database filled through the HTTP endpoints are tests/e2e/test_governance_report.py.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cards.common import OVERRIDE_REASON_SYSTEM
from cds_service.audit.governance import NO_REASON, FeedbackItem, ShownCard, duration_words, reason_label, summarise
from cds_service.cli import main

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_first_feedback_decides_and_every_card_is_counted_once() -> None:
    cards = [ShownCard(f"c{i}", "dose", "warning", T0) for i in range(4)]
    feedback = [
        FeedbackItem("c0", "accepted", _at(600), sequence=3),  # later: not the card's outcome
        FeedbackItem("c0", "overridden", _at(60), reason="Clinical judgement", sequence=1),
        FeedbackItem("c1", "accepted", _at(-30), sequence=2),  # the client's clock behind: 0 s, not negative
        FeedbackItem("c2", "overridden", _at(300), sequence=4),
    ]
    report = summarise(cards, feedback, made_at=_at(3600))
    (row,) = report.rows
    assert (row.shown, row.accepted, row.overridden, row.ignored) == (4, 1, 2, 1)
    assert row.override_reasons == {"Clinical judgement": 1, NO_REASON: 1}
    assert row.median_seconds_to_feedback == 60  # of 60, 0 and 300
    assert report.several_feedbacks == 1
    assert report.total.shown == row.accepted + row.overridden + row.ignored


def test_rows_per_kind_and_indicator_and_the_total() -> None:
    cards = [ShownCard("a", "possible_relapse", "critical", T0), ShownCard("b", "dose", "info", T0),
             ShownCard("c", "dose", "warning", T0), ShownCard("d", "unrecorded", "info", T0)]
    report = summarise(cards, [FeedbackItem("b", "accepted", _at(10)), FeedbackItem("a", "accepted", _at(30))],
                       made_at=_at(60))
    assert [(r.kind, r.indicator) for r in report.rows] == [
        ("dose", "warning"), ("dose", "info"), ("possible_relapse", "critical"), ("unrecorded", "info")]
    assert report.rows[-1].kind_label == "kind not recorded"
    assert (report.total.shown, report.total.accepted, report.total.ignored) == (4, 2, 2)
    assert report.total.median_seconds_to_feedback == 20


def test_override_reasons_are_labelled_and_comments_never_read() -> None:
    ours = {"reason": {"system": OVERRIDE_REASON_SYSTEM, "code": "suspected-lab-error"}, "userComment": "MRN 123"}
    assert reason_label(ours) == "Suspected lab error"
    assert reason_label({"reason": {"system": "https://ehr.example/reasons", "code": "x" * 200}}) == "x" * 64
    assert reason_label({"userComment": "free text only"}) is None
    assert reason_label(None) is None


@pytest.mark.parametrize(("seconds", "words"), [(None, "-"), (42.4, "42 s"), (200, "3 min 20 s"),
                                                (7500, "2 h 5 min"), (3 * 86400 + 4 * 3600, "3 d 4 h")])
def test_durations_read_at_a_glance(seconds: float | None, words: str) -> None:
    assert duration_words(seconds) == words


@pytest.fixture
def empty_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from cds_service.audit.schema import upgrade
    from cds_service.audit.store import Store

    url = f"sqlite:///{tmp_path / 'cds.db'}"
    store = Store(url)
    upgrade(store.engine)
    store.close()
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    monkeypatch.setenv("SIROLIMUS_CDS_DATABASE_URL", url)
    return url


@pytest.mark.parametrize(("args", "said"), [
    (["--since", "2026-13-01"], "report: --since must be a date YYYY-MM-DD, got '2026-13-01'"),
    (["--since", "last week"], "report: --since must be a date YYYY-MM-DD, got 'last week'"),
    (["--out", "/no/such/folder/report.png"], "report: cannot write --out /no/such/folder/report.png: "
                                              "the folder /no/such/folder does not exist"),
    (["--out", "report.jpg"], "report: --out must end in .png or .svg, got 'report.jpg'"),
    (["--csv", "/no/such/folder/report.csv"], "report: cannot write --csv /no/such/folder/report.csv: "
                                              "the folder /no/such/folder does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(empty_database: str, capsys: pytest.CaptureFixture[str],
                                          args: list[str], said: str) -> None:
    assert main(["report", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err == said + "\n" and captured.out == ""


def test_an_output_that_is_a_folder_is_one_line(empty_database: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "chart.png").mkdir()
    assert main(["report", "--out", str(tmp_path / "chart.png")]) == 2
    assert capsys.readouterr().err == f"report: cannot write --out {tmp_path / 'chart.png'}: not a writable file\n"


def test_a_database_that_is_not_there_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    monkeypatch.setenv("SIROLIMUS_CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'typo.db'}")
    assert main(["report"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "typo.db does not exist" in err
    assert not (tmp_path / "typo.db").exists()  # the report never creates a database


def test_an_empty_database_reports_that_no_card_was_shown(empty_database: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--since", "2026-01-01", "--out", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    assert "No card was shown" not in out  # --since given: the period is known
    assert "Cards shown from 2026-01-01 00:00 to " in out and "All cards" in out
    assert (tmp_path / "r.png").stat().st_size > 5000
