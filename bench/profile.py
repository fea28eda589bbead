"""Where a hook call spends its time: pyinstrument over scenarios (a), (b), (d) and (e1) of bench.load.

    python -m bench.profile [--calls 20] [--only abde]

In one process, through Flask's test client (no gunicorn, no wrk), each call with a different
prefetch so no record memory answers. Prints pyinstrument's text tree for each scenario.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from pyinstrument import Profiler

from bench.load import child, draft, hook_body, prefetch_of
from cds_service.app import create_app
from cds_service.config import load_settings

SERVICES = {"order-sign": "sirolimus-order-sign", "order-select": "sirolimus-order-select",
            "patient-view": "sirolimus-monitoring"}
DRAFTS = {"order-sign": ("314230", 0.8), "order-select": ("308182", 250)}  # sirolimus solution; amoxicillin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--only", default="abde", help="scenarios: a, b (order-sign), d (order-select of "
                        "another drug), e (patient-view of an unconcerned child, full prefetch)")
    args = parser.parse_args(argv)
    settings = load_settings(None)
    settings = replace(settings, database_url=f"sqlite:///{Path(tempfile.mkdtemp()) / 'audit.db'}",
                       auth=replace(settings.auth, require_jwt=False))
    client = create_app(settings, upgrade_database=True).test_client()
    scenarios = (("a", 24, 1, 30, "order-sign"), ("b", 120, 2, 200, "order-sign"),
                 ("d", 24, 1, 1, "order-select"), ("e", 24, 1, 1, "patient-view"))
    for name, months, draws, orders, hook in scenarios:
        if name not in args.only:
            continue
        url = f"/cds-services/{SERVICES[hook]}"
        bodies = []
        for i in range(2 * args.calls + 1):  # one to warm, then each call its own prefetch (no memory answers)
            pid = f"profile-{name}-{i}"
            record = child(pid, months, draws, orders, i, on_sirolimus=hook == "order-sign")
            order = None if hook == "patient-view" else draft(pid, *DRAFTS[hook])
            bodies.append(json.dumps(hook_body(hook, pid, prefetch_of(record), order)).replace("BENCHNONCE", str(i)))
        assert client.post(url, data=bodies[0], content_type="application/json").status_code == 200  # warm
        wall, cpu = [], []
        for body in bodies[1:args.calls + 1]:  # timed without the profiler
            started, cpu_started = time.perf_counter(), time.process_time()
            client.post(url, data=body, content_type="application/json")
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for body in bodies[args.calls + 1:]:
            client.post(url, data=body, content_type="application/json")
        profiler.stop()
        print(f"=== scenario {name}: {hook}, {args.calls} calls unprofiled: median {statistics.median(wall):.1f} ms "
              f"wall, {statistics.median(cpu):.1f} ms CPU per call (load average {os.getloadavg()[0]:.1f}); "
              f"profile of {args.calls} more ===")
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
