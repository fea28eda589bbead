"""The ceiling: a bare Flask app under the same gunicorn settings as `sirolimus-cds serve`.

    python -m bench.ceiling --port 9000 --cards DIR

It parses each request body as JSON (as the service must) and answers with the card bytes the
service gave for that scenario (`DIR/<scenario>.json`), so the comparison isolates what the
service does between parsing the body and writing the answer.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

from flask import Flask, Response, request

from cds_service.cli.serve import run


class _NoStore:
    """The ceiling keeps no audit: what `serve.run` closes before the fork and resets after it."""

    def close(self) -> None: ...

    def after_fork(self) -> None: ...


def ceiling_app(cards: Path) -> Flask:
    answers = {p.stem: p.read_bytes() for p in cards.glob("*.json")}
    app = Flask("ceiling")
    app.extensions["sirolimus_cds"] = SimpleNamespace(store=_NoStore())

    @app.post("/cds-services/<scenario>")
    def answer(scenario: str) -> Response:
        request.get_json(force=True)
        return Response(answers[scenario], mimetype="application/json")

    @app.get("/healthz")
    def health() -> str:
        return "ok"

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cards", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    run(ceiling_app(args.cards), "127.0.0.1", args.port, args.workers)


if __name__ == "__main__":
    main()
