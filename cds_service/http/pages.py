"""GET /decisions/<id>: the decision page a card links to.

No login (clinicians open it from the EHR's card), so the id is the secret: a random uuid4, a page
that expires (`decision_page_days`), ids but no patient name on it, and headers that keep it out of
caches, search engines and Referer headers. Unknown and expired ids get the same bare 404.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response

from cards.page import render_decision_page
from cds_service.service.state import app_state

pages = Blueprint("pages", __name__)

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
}
NOT_FOUND_HTML = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found</title></head>'
    "<body><p>This decision page does not exist or has expired.</p></body></html>"
)


@pages.get("/decisions/<decision_id>")
def decision_page(decision_id: str) -> Response:
    state = app_state()
    if not _is_uuid(decision_id):
        return _html(NOT_FOUND_HTML, 404)
    record = state.store.decision(decision_id)
    if record is None or record.decision is None or record.expires_at <= state.clock():
        return _html(NOT_FOUND_HTML, 404)
    html = render_decision_page(
        record.decision,
        history=record.decision.get("dose_history") or (),
        created_at=record.created_at,
        expires_at=record.expires_at,
        cards=record.cards,
        decision_id=record.id,
    )
    return _html(html, 200)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _html(body: str, status: int) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    return response
