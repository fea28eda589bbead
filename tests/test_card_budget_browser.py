"""Short cards (issue #10 item 3): every card the service gives, from the synthetic patients through the
real core, fits the budget: summary <= 140 characters, detail <= 1,200 characters, no emoji, and rendered
as CDS clients render card Markdown (a CommonMark + GFM-tables renderer, markdown-it-py, like the sandbox's
`marked`) in headless Chromium at 600 px wide, each card at most 700 px tall. Saves
test-artifacts/cards.png (every card, one under the other) for a human to look at.
"""
from __future__ import annotations

import html
import unicodedata
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.cards.card_gallery import gallery
from tests.conftest import require_service
from tests.test_decision_page_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

SUMMARY_MAX, DETAIL_MAX, CARD_MAX_PX, WIDTH_PX = 140, 1200, 700, 600
CARDS = gallery()


def _emoji(text: str) -> list[str]:
    """Pictographs and dingbats that render as empty boxes without an emoji font (plain symbols such as
    the approx sign, the en dash, the minus sign and the multiplication sign are fine)."""
    return [c for c in text if unicodedata.category(c) == "So" or 0x1F000 <= ord(c) <= 0x1FAFF
            or 0x2600 <= ord(c) <= 0x27BF or c == "\ufe0f"]


def test_the_gallery_covers_every_kind_of_card() -> None:
    indicators = {card["indicator"] for card in CARDS.values()}
    assert indicators == {"info", "warning", "critical"}
    assert any(name.endswith("patient-view-0") for name in CARDS) and len(CARDS) >= 20


@pytest.mark.parametrize("name", sorted(CARDS))
def test_summary_and_detail_fit_the_budget_in_plain_symbols(name: str) -> None:
    card = CARDS[name]
    assert len(card["summary"]) <= SUMMARY_MAX, card["summary"]
    assert len(card.get("detail", "")) <= DETAIL_MAX, (len(card["detail"]), card["detail"])
    text = card["summary"] + card.get("detail", "") + " ".join(s["label"] for s in card.get("suggestions", []))
    assert _emoji(text) == [], _emoji(text)


def _card_html(name: str, card: dict[str, Any], markdown: MarkdownIt) -> str:
    """Shaped like the sandbox's card: summary, detail (Markdown), source, suggestion buttons, links."""
    buttons = "".join(f"<button>{html.escape(s['label'])}</button>" for s in card.get("suggestions", []))
    links = "".join(f"<a href='#'>{html.escape(link['label'])}</a> " for link in card.get("links", []))
    return (f"<section class='card {card['indicator']}' id='{html.escape(name)}'>"
            f"<h3>{html.escape(card['summary'])}</h3>"
            f"<div class='detail'>{markdown.render(card.get('detail', ''))}</div>"
            f"<p class='source'>Source: {html.escape(card['source']['label'])}</p>"
            f"<div class='buttons'>{buttons}</div><p>{links}</p></section>")


STYLE = """
body { font: 14px/1.45 Helvetica, Arial, sans-serif; margin: 0; width: 600px; }
.card { box-sizing: border-box; width: 600px; padding: 12px 16px; margin: 0 0 12px; border: 1px solid #ccc;
        border-left: 6px solid #4a90d9; }
.card.warning { border-left-color: #f0a500; } .card.critical { border-left-color: #d0021b; }
h3 { font-size: 16px; margin: 0 0 8px; } p { margin: 0 0 8px; } ul { margin: 0 0 8px; padding-left: 20px; }
button { display: block; margin: 4px 0; padding: 6px 10px; font: inherit; text-align: left; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 2px 4px; }
"""


@pytest.mark.slow
@pytest.mark.integration
def test_each_card_is_at_most_700_px_tall_at_600_px_wide_in_chromium() -> None:
    if not CHROMIUM.exists():
        require_service("chromium", f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = "".join(_card_html(name, card, markdown) for name, card in sorted(CARDS.items()))
    document = (f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style></head>"
                f"<body>{body}</body></html>")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH_PX, "height": 900})
            page.set_content(document)
            heights = {name: page.locator(f"[id='{name}']").bounding_box()["height"] for name in CARDS}
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "cards.png"), full_page=True)
        finally:
            browser.close()
    too_tall = {name: round(h) for name, h in heights.items() if h > CARD_MAX_PX}
    assert too_tall == {}, too_tall
    print("tallest card:", max(heights.items(), key=lambda kv: kv[1]))
