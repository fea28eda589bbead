"""Time per MAP fit of the PK model on a 2-year twice-daily history with 12 troughs (target <= 20 ms).

    python -m bench.pk_fit [--repeats 200]
"""
from __future__ import annotations

import argparse
import statistics
import time

from cds_service.clinical.pk import Child, fit_map, load_prior, regimen


def two_year_history() -> tuple[list, list[float], list[float]]:
    """Four dose changes over 730 days, twice daily, one switch to tablets; a trough every 2 months."""
    doses = (regimen(0, 24 * 120, 0.4, 2) + regimen(24 * 120, 24 * 300, 0.5, 2)
             + regimen(24 * 300, 24 * 500, 0.5, 2, "tablet") + regimen(24 * 500, 24 * 730, 1.0, 1, "tablet"))
    trough_h = [24.0 * d - 0.1 for d in range(60, 731, 60)]
    levels = [9.0 + (i % 3) for i in range(len(trough_h))]
    return doses, trough_h, levels


def time_fits(repeats: int) -> list[float]:
    prior = load_prior("chen-2020-khe")
    child = Child(weight_kg=11.0, age_years=1.5)
    doses, trough_h, levels = two_year_history()
    fit_map(prior, child, doses, trough_h, levels)  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit_map(prior, child, doses, trough_h, levels)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    ms = sorted(time_fits(parser.parse_args().repeats))
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"MAP fit, 2-year history ({len(two_year_history()[0])} doses, 12 troughs): "
          f"median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms (target <= 20 ms)")


if __name__ == "__main__":
    main()
