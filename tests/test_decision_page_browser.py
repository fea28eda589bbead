"""The decision page in a real headless browser: it loads with no JavaScript, the chart is visible.

Debian's chromium driven by Playwright against the real Flask app on a free port, reading a
decision from a real SQLite store. Saves `test-artifacts/decision-page.png` for a human to look at.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from cards import build_cards
from cds_service.clinical.decision import Decision
from tests.cards.card_gallery import dosing_decision
from tests.cards.factories import TODAY, URL, maintenance_change, solution_draft, taper_step
from tests.cards.stored import page_app, store_decision
from tests.conftest import require_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")  # the one on PATH, else Debian's
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


DECISIONS: dict[str, Callable[[], Decision]] = {
    "decision-page.png": taper_step,
    "decision-page-maintenance.png": maintenance_change,
    # Through the real core: an IHHE infant started on sirolimus 5 weeks ago, with the PK model's view.
    "decision-page-ihhe.png": lambda: dosing_decision("ihhe-trough-low"),
}


@pytest.fixture(params=sorted(DECISIONS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """The app on 127.0.0.1:<free port> with one stored decision; yields (base URL, decision id, screenshot)."""
    decision = DECISIONS[request.param]()
    app = page_app(tmp_path, lambda: NOW)
    decision_id = store_decision(
        app, decision.to_dict(), created_at=NOW, protocol=decision.protocol.protocol_id,
        cards=build_cards(decision, hook="order-select", draft=solution_draft(), decision_url=URL, today=TODAY),
    )
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}", decision_id, request.param
    finally:
        http.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        require_service("chromium", f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_decision_page_loads_with_a_visible_chart_and_no_javascript(server, browser):
    base, decision_id, screenshot = server
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    response = page.goto(f"{base}/decisions/{decision_id}")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")

    chart = page.locator("figure svg.chart")
    chart.wait_for(state="visible")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 150
    decision = DECISIONS[screenshot]()
    assert decision.proposed_dose is not None
    dose = page.locator(".dose").inner_text()
    assert dose.startswith(f"{decision.proposed_dose.regimen.mg_per_administration:g} mg (")
    assert "Kira" not in page.content()  # ids only: the sandbox patient's name never appears
    assert console_errors == []  # nothing blocked by the page's own CSP

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    context.close()


@pytest.mark.parametrize("server", ["decision-page.png"], indirect=True)
def test_unknown_decision_is_a_bare_404(server, browser):
    base = server[0]
    page = browser.new_page()
    response = page.goto(f"{base}/decisions/{uuid.uuid4()}")
    assert response is not None and response.status == 404
    assert "does not exist or has expired" in page.inner_text("body")


@pytest.mark.parametrize("server", ["decision-page-ihhe.png"], indirect=True)
def test_an_ihhe_childs_page_says_whom_the_prior_fits_and_draws_no_dose_before_the_first(server, browser):
    """What a prescriber sees for an IHHE infant: the PK block names the KHE children its prior comes from
    and says it is not this child's disease; the solid 'dose given' line starts at the first dose (nothing
    drawn at 0 mg/day before it); the date axis is labelled under the plot."""
    base, decision_id, _ = server
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    response = page.goto(f"{base}/decisions/{decision_id}")
    assert response is not None and response.status == 200

    heading = page.get_by_role("heading", name=re.compile("^PK model"))
    assert heading.inner_text() == "PK model: prior from KHE children (Chen 2020)"
    fit = page.locator("p.pk-prior")
    assert fit.is_visible() and fit.inner_text().startswith("Not fitted in IHHE: the prior's children had KHE")

    page.locator("figure svg.chart").wait_for(state="visible")
    given = page.locator("#dose-given").bounding_box()
    first_dose = page.locator("#dose-change-2026-10-19").bounding_box()  # the start, 5 weeks before
    assert given is not None and first_dose is not None and given["width"] > 50
    assert abs(given["x"] - first_dose["x"]) <= 3  # the line begins at the first dose, not weeks before it
    label = page.locator("#date-axis-label")
    box, chart = label.bounding_box(), page.locator("figure svg.chart").bounding_box()
    assert label.is_visible() and box is not None and chart is not None
    assert box["y"] > given["y"] + given["height"]  # under the plot
    assert chart["x"] < box["x"] and box["x"] + box["width"] < chart["x"] + chart["width"]
    context.close()
