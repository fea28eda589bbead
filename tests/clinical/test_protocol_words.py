"""The protocol's numbers in words, from the data: what cards and rule lines say when a site changes them."""
from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.clinical.protocols import KHE_GUIDED, load_protocols, period, share


@pytest.mark.parametrize(("fraction", "words"), [(0.1, "10 %"), (0.05, "5 %"), (0.08, "8 %"), (0.075, "7.5 %")])
def test_a_fraction_reads_as_the_protocol_writes_it(fraction: float, words: str) -> None:
    assert share(fraction) == words


@pytest.mark.parametrize(("days", "words", "adjective"), [
    (730, "2 years", "2-year"), (91, "3 months", "3-month"), (183, "6 months", "6-month"),
    (14, "2 weeks", "2-week"), (30, "1 month", "1-month"), (45, "45 days", "45-day"),
])
def test_a_period_reads_in_its_largest_whole_unit(days: int, words: str, adjective: str) -> None:
    assert period(days) == words and period(days, adjective=True) == adjective


def test_the_taper_rule_lines_carry_the_sites_numbers() -> None:
    shipped = load_protocols()[KHE_GUIDED].taper
    assert shipped is not None
    assert shipped.rule_1 == ("Each reduction is at most 10 % of the previous dose, and reductions come at most "
                              "monthly.")
    assert shipped.rule_8 == ("After a 3-month stabilisation at that dose, reductions of at most 5 % a month may "
                              "be considered.")
    site = replace(shipped, max_reduction_fraction=0.08, after_relapse_max_reduction_fraction=0.04,
                   stabilisation_days=122)
    assert "at most 8 % of the previous dose" in site.rule_1
    assert site.rule_8.startswith("After a 4-month stabilisation") and "at most 4 % a month" in site.rule_8
