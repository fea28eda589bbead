"""How numbers are written: the conventions that prevent misreading a dose."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.dosing import finding_title
from cards.wording import SUMMARY_MAX, dose_short, dose_text, fit, frequency, number, percent
from tests.cards.factories import Finding, solution, tablet


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (0.5, "0.5"), (0.72, "0.72"), (10.0, "10"), (0.05, "0.05"), (1.2346, "1.235"), (100.0, "100")],
)
def test_numbers_have_a_leading_zero_and_no_trailing_zero(value, text):
    """ISMP: "1.0 mg" is read as 10 mg, ".5 mg" as 5 mg."""
    assert number(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(-10.0, "−10 %"), (-5, "−5 %"), (24.0, "+24 %"), (0.0, "0 %"), (-10.11, "−10.1 %")]
)
def test_percent_uses_a_real_minus_sign(value, text):
    assert percent(value) == text


@pytest.mark.parametrize(
    ("per_day", "text"), [(1, "once daily"), (2, "twice daily"), (3, "three times daily"), (0.5, "every 2 days")]
)
def test_frequency_in_words(per_day, text):
    assert frequency(per_day) == text


def test_liquid_dose_is_always_in_mg_and_ml():
    assert dose_short(solution(0.1)) == "0.1 mg (0.1 mL) twice daily"
    assert dose_text(solution(0.1)) == "0.1 mg (0.1 mL of 1 mg/mL oral solution) by mouth twice daily"


def test_tablet_dose_names_count_and_strength():
    assert dose_short(tablet(1.0, 1, per_day=1)) == "1 mg (one 1 mg tablet) once daily"
    assert dose_text(tablet(0.5, 3)) == "1.5 mg (three 0.5 mg tablets) by mouth twice daily"


def test_a_known_finding_with_a_long_message_leads_with_its_short_title():
    long = Finding("mg-ml-tenfold", "critical", "The draft's volume " + "and its milligrams disagree " * 5)
    assert finding_title(long, None) == "Draft mg and mL disagree about 10-fold"
    assert finding_title(Finding("mg-ml-tenfold", "critical", "0.8 mg is 8 mL here."), None) == "0.8 mg is 8 mL here"


@given(st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=3))
def test_fit_always_returns_a_summary_that_fits(candidates):
    chosen = fit(*candidates)
    assert 0 < len(chosen) <= SUMMARY_MAX
    short = [c for c in candidates if len(c) <= SUMMARY_MAX]
    if short:
        assert chosen == short[0]
