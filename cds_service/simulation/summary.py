"""The cohort's figures: one table per arm (mean per child with its 95 % interval) and the chart.

Intervals: the table's are 95 % bootstrap intervals of the mean over the cohort's children (2,000
resamples, seeded); the chart's bands hold 95 % of the children on each day (2.5th-97.5th centiles).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .course import MONTH_DAYS, Course

BOOTSTRAP_RESAMPLES = 2000


def _median_percent(errors: list[float]) -> float | None:
    return 100 * float(np.median(errors)) if errors else None


@dataclass(frozen=True, kw_only=True)
class Figure:
    name: str
    mean: float | None
    low: float | None
    high: float | None
    unit: str  # "%" or "per child"


METRICS: tuple[tuple[str, str, Callable[[Course], float | None]], ...] = (
    ("time in target band (true trough)", "%", lambda c: None if c.time_in_band is None else 100 * c.time_in_band),
    ("dose steps taken", "per child", lambda c: c.steps_taken),
    ("doses held (a change due, none proposed)", "per child", lambda c: c.doses_held),
    ("relapses", "per child", lambda c: c.relapses),
    ("  of which after stopping", "per child", lambda c: c.relapses_after_stop),
    ("relapse returns proposed", "per child", lambda c: c.relapse_returns),
    ("completed tapers", "%", lambda c: 100.0 * c.completed_taper),
    ("troughs outside the sanity range", "per child", lambda c: c.troughs_outside_sanity),
    ("troughs drawn", "per child", lambda c: c.troughs_drawn),
    ("next level |error|: linear rule (median)", "%", lambda c: _median_percent(c.linear_errors)),
    ("next level |error|: PK model (median)", "%", lambda c: _median_percent(c.model_errors)),
    ("next level inside the model's 80 % interval", "%",
     lambda c: 100 * float(np.mean(c.model_inside)) if c.model_inside else None),
)


def _interval(values: list[float], rng: np.random.Generator) -> tuple[float, float, float]:
    data = np.asarray(values, dtype=np.float64)
    means = data[rng.integers(0, len(data), size=(BOOTSTRAP_RESAMPLES, len(data)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(data.mean()), float(low), float(high)


def figures(courses: list[Course], seed: int) -> list[Figure]:
    """Every metric of one arm, mean per child with its 95 % bootstrap interval (None: not applicable)."""
    rng = np.random.default_rng([seed, 95])
    out = []
    for name, unit, metric in METRICS:
        values = [v for v in (metric(c) for c in courses) if v is not None]
        if not values:
            out.append(Figure(name=name, mean=None, low=None, high=None, unit=unit))
            continue
        mean, low, high = _interval([float(v) for v in values], rng)
        out.append(Figure(name=name, mean=mean, low=low, high=high, unit=unit))
    return out


def table(by_arm: dict[str, list[Course]], seed: int) -> str:
    """Plain-text table: one block per arm, one line per figure."""
    lines = []
    for arm, courses in by_arm.items():
        lines.append(f"{arm} ({len(courses)} children)")
        for f in figures(courses, seed):
            value = "n/a" if f.mean is None else f"{f.mean:6.1f} (95 %: {f.low:.1f}-{f.high:.1f})"
            unit = "" if f.mean is None else f" {f.unit}"
            lines.append(f"  {f.name:<44} {value}{unit}")
    return "\n".join(lines)


def _band(rows: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = np.asarray(rows, dtype=np.float64)
    low, mid, high = np.quantile(data, [0.025, 0.5, 0.975], axis=0)
    return low, mid, high


def write_chart(by_arm: dict[str, list[Course]], targets: dict[str, tuple[float, float] | None], out: Path
                ) -> None:
    """Doses (mg/kg/day) and true troughs (ng/mL) per arm: the median child and 95 % of children."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(by_arm), 2, figsize=(11, 3.2 * len(by_arm)), squeeze=False)
    for row, (arm, courses) in enumerate(by_arm.items()):
        months = np.arange(len(courses[0].daily_mg_per_kg)) / MONTH_DAYS
        for col, (series, label) in enumerate(((lambda c: c.daily_mg_per_kg, "dose (mg/kg/day)"),
                                               (lambda c: c.daily_trough_ng_ml, "true trough (ng/mL)"))):
            ax = axes[row][col]
            low, mid, high = _band([series(c) for c in courses])
            ax.fill_between(months, low, high, color="#9ecae1", alpha=0.6, label="95 % of children")
            ax.plot(months, mid, color="#08519c", lw=1.5, label="median child")
            target = targets.get(arm)
            if col == 1 and target is not None:
                ax.axhspan(target[0], target[1], color="#a1d99b", alpha=0.4, label="target band")
            ax.set_title(f"{arm}: {label}", fontsize=9)
            ax.set_xlabel("months")
            ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
