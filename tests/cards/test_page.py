"""The decision page and its chart, from the Decision's JSON form, and GET /decisions/<id>."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from cards.chart import dose_series, render_chart_svg, target_band
from cards.page import render_decision_page
from tests.cards.card_gallery import dosing_decision
from tests.cards.factories import (
    TODAY,
    Finding,
    MissingData,
    MonitoringKind,
    item,
    maintenance_change,
    monitoring,
    taper_step,
)
from tests.cards.stored import page_app, store_decision

CREATED = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


def page_of(decision, **kwargs):
    return render_decision_page(decision.to_dict(), created_at=CREATED, **kwargs)


def test_page_states_dose_rule_troughs_schedule_and_protocol_version():
    html = page_of(taper_step())
    for expected in (
        "0.72 mg (0.72 mL of 1 mg/mL oral solution) by mouth twice daily",
        "<strong>−10 %</strong> vs the current dose",
        "Predicted trough 5.2 ng/mL",
        "taper_step_rule_1",
        "version 1.0.0 (NCT04448873)",
        "2026-10-20: 1.78 mg/day → 1.6 mg/day (−10.1 %)",
        "8.4 ng/mL",
        "LC-MS/MS",
        '<td class="num">2026-12-22</td>',  # projected taper step
        "0.65 mg (0.65 mL)",
        "at least 2 years of remission",
        ">absent<",  # an exclusion that is met reads "absent", not "met"
    ):
        assert expected in html, expected


def test_page_has_no_javascript_and_escapes_everything_from_the_record():
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    decision = taper_step(findings=(Finding("x", "warning", hostile),), notes=(hostile,), patient_id="p<1>")
    html = page_of(decision, cards=[{"indicator": "warning", "summary": hostile}])
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "javascript:" not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "p&lt;1&gt;" in html


def test_page_renders_without_a_proposal_or_a_protocol():
    decision = taper_step(
        kind="incomplete_draft",
        protocol=None,
        arm=None,
        proposed_dose=None,
        alternatives=(),
        schedule=(),
        missing_data=(MissingData("dose and frequency", "complete the order"),),
    )
    html = page_of(decision)
    assert "No dose proposed" in html and "dose and frequency" in html and "complete the order" in html


def test_monitoring_page_lists_what_is_due():
    html = page_of(monitoring(item(MonitoringKind.TROUGH_DUE, dt.date(2026, 11, 29), "Monthly trough.")))
    assert "Trough due: 2026-11-29" in html and "Monthly trough." in html


@pytest.mark.parametrize(
    ("protocol_id", "version", "band"),
    [
        ("khe-maintenance", "1.0.0", (5.0, 7.0)),
        ("ihhe-sequential-sirolimus", "1.0.0", (8.0, 15.0)),
        ("khe-guided-discontinuation", "1.0.0", None),
        ("khe-maintenance", "0.9.0", None),
        ("elsewhere", "1", None),
    ],
)
def test_target_band_comes_from_the_protocol_version_that_decided(protocol_id, version, band):
    assert target_band({"protocol_id": protocol_id, "version": version}) == band


def test_dose_series_has_the_past_change_the_proposal_and_the_projected_steps():
    series = dose_series(taper_step().to_dict(), history=[{"on": "2026-09-20", "daily_dose_mg": 1.78}])
    assert (dt.date(2026, 10, 20), 1.6) in series["past"]
    assert (dt.date(2026, 9, 20), 1.78) in series["past"]
    assert series["projected"] == [(TODAY, 1.44), (dt.date(2026, 12, 22), 1.3), (dt.date(2027, 1, 21), 1.16)]
    assert series["changes"] == [dt.date(2026, 9, 20), dt.date(2026, 10, 20)]


def test_a_first_dose_is_drawn_from_its_day_with_no_dose_given_before_it():
    """An IHHE infant started on sirolimus 5 weeks ago: the change is 0 -> 1 mg/day; before it nothing was
    given, and the chart must not draw 'dose given' at 0 mg/day there."""
    decision = dosing_decision("ihhe-trough-low").to_dict()
    started = dt.date.fromisoformat(decision["last_dose_change"]["changed_on"])
    assert decision["last_dose_change"]["from_daily_mg"] == 0

    series = dose_series(decision, decision["dose_history"])

    assert min(day for day, _ in series["past"]) == started
    assert all(mg_per_day > 0 for _, mg_per_day in series["past"])
    # A change between two doses still shows the dose before it.
    assert (dt.date(2026, 9, 22), 1.78) in dose_series(taper_step().to_dict())["past"]


def test_the_chart_names_its_date_axis():
    svg = render_chart_svg(maintenance_change().to_dict())
    assert re.search(r'<g id="date-axis-label">\s*<!-- Date -->', svg)


def test_the_pk_block_says_the_prior_was_fitted_in_khe_children_not_in_this_ihhe_child():
    decision = dosing_decision("ihhe-trough-low")
    assert decision.model is not None and decision.model.prior_id == "chen-2020-khe"
    page = page_of(decision)
    assert "PK model (chen-2020-khe)" not in page
    assert "<h3>PK model: prior from KHE children (Chen 2020)</h3>" in page
    assert "Not fitted in IHHE: the prior&#39;s children had KHE, so for this child the model extrapolates" in page
    assert "decision 0113" in page and "3–40 kg and 0.08–14 years" in page


def test_the_pk_block_says_a_khe_childs_prior_was_fitted_in_its_disease():
    decision = dosing_decision("khe-maintenance-high")
    assert decision.model is not None and decision.model.unusable_reason is None
    page = page_of(decision)
    assert "<h3>PK model: prior from KHE children (Chen 2020)</h3>" in page
    assert "Fitted in children with this child&#39;s disease (KHE)" in page and "Not fitted" not in page


def test_chart_is_an_inline_svg_without_prolog_or_script():
    svg = render_chart_svg(maintenance_change().to_dict())
    assert svg.startswith("<svg ") and 'role="img"' in svg and 'width="100%"' in svg
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<script" not in svg


# GET /decisions/<id> ---------------------------------------------------------------------------------


@pytest.fixture
def app_and_clock(tmp_path):
    now = {"value": CREATED}
    return page_app(tmp_path, lambda: now["value"]), now


def store(app, decision=None):
    """Record a decision (the taper step by default)."""
    return store_decision(app, (decision or taper_step()).to_dict(), created_at=CREATED)


def test_page_is_served_with_privacy_headers(app_and_clock):
    app, _ = app_and_clock
    decision_id = store(app)
    response = app.test_client().get(f"/decisions/{decision_id}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    assert "0.72 mg (0.72 mL of 1 mg/mL oral solution)" in response.get_data(as_text=True)


@pytest.mark.parametrize("case", ["unknown", "expired", "not-a-uuid", "no-decision"])
def test_unknown_or_expired_pages_are_the_same_bare_404(app_and_clock, case):
    app, now = app_and_clock
    if case == "unknown":
        path = f"/decisions/{uuid.uuid4()}"
    elif case == "expired":
        path = f"/decisions/{store(app)}"
        now["value"] = CREATED + dt.timedelta(days=30)
    elif case == "no-decision":
        # a record whose decision JSON is null (the pipeline before the core is wired)
        path = f"/decisions/{store_decision(app, None, created_at=CREATED, protocol=None, protocol_version=None)}"
    else:
        path = "/decisions/DROP TABLE decisions"
    response = app.test_client().get(path)
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert "does not exist or has expired" in body and "khe-demo" not in body


def test_the_page_shows_the_draft_check_and_the_exposure_source():
    """Issue #10: the card states the factor it applied; the page gives its source (protocol data)."""
    import datetime as dt

    from cards.page import render_decision_page
    from tests.clinical import fhir as clinical_fhir
    from tests.clinical.test_scenarios import baseline, run

    decision = run(baseline(8.1), clinical_fhir.draft(1, "{tbl}", 2, product=clinical_fhir.TAB_05))
    page = render_decision_page(decision.to_dict(), created_at=dt.datetime(2026, 11, 22, tzinfo=dt.UTC))
    assert "Draft compared with the protocol" in page and "trough above target" in page
    assert "10.3 ng/mL at steady state" in page  # 8.1 x 1.0 / 1.0 x 1.27 = 10.29
    assert "not bioequivalent" in page
