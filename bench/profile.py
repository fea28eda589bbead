"""Where an order-sign call spends its time: pyinstrument over scenarios (a) and (b) of bench.load.

    python -m bench.profile [--calls 20]

In one process, through Flask's test client (no gunicorn, no wrk), each call with a different
prefetch so no record memory answers. Prints pyinstrument's text tree for each scenario.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from pyinstrument import Profiler

from bench.load import child, draft, hook_body, prefetch_of
from cds_service.app import create_app
from cds_service.config import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)
    settings = load_settings(None)
    settings = replace(settings, database_url=f"sqlite:///{Path(tempfile.mkdtemp()) / 'audit.db'}",
                       auth=replace(settings.auth, require_jwt=False))
    client = create_app(settings).test_client()
    for name, months, draws, orders in (("a", 24, 1, 30), ("b", 120, 2, 200)):
        bodies = []
        for i in range(args.calls + 1):
            pid = f"profile-{name}-{i}"
            body = hook_body("order-sign", pid, prefetch_of(child(pid, months, draws, orders, i)),
                             draft(pid, "314230", 0.8))
            bodies.append(json.dumps(body).replace("BENCHNONCE", str(i)))
        assert client.post("/cds-services/sirolimus-order-sign", data=bodies[0],
                           content_type="application/json").status_code == 200  # warm
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for body in bodies[1:]:
            client.post("/cds-services/sirolimus-order-sign", data=body, content_type="application/json")
        profiler.stop()
        print(f"=== scenario {name}: {args.calls} order-sign calls ===")
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
