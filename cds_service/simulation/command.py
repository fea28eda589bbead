"""`sirolimus-cds simulate`: a virtual cohort through each protocol, decided by the service itself.

    simulate [--patients N] [--months 24] [--protocol ID ...] [--seed S] [--out chart.png]

Prints one table per arm (stdout); a progress bar on stderr; with --out, the chart of doses and troughs.
Deterministic: each child has its own random stream from (seed, arm, child number) and the course
starts on a fixed date, so the same seed gives the same numbers on any day and any machine.
"""
from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import TextIO

import numpy as np

from cds_service.clinical.pk.priors import load_prior
from cds_service.clinical.protocols import load_protocols

from . import ARMS
from .cohort import draw_patient
from .course import Course, follow
from .summary import table, write_chart

COURSE_START = date(2026, 1, 5)  # fixed, so that a seed means the same cohort on any day
EXIT_OK, EXIT_USAGE = 0, 2








class ProgressBar:
    """One line on stderr, redrawn in place: `simulate [#####.....] 12/60 children`."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total, self.stream, self.width, self.done = total, stream, width, 0

    def advance(self) -> None:
        self.done += 1
        filled = self.width * self.done // max(self.total, 1)
        end = "\n" if self.done == self.total else ""
        print(f"\rsimulate [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} children",
              end=end, file=self.stream, flush=True)


def simulate(arms: tuple[str, ...], patients: int, months: int, seed: int,
             progress: ProgressBar | None = None) -> dict[str, list[Course]]:
    """Each arm's courses, children numbered from 0 (the same child for the same seed, arm and number)."""
    prior, protocols = load_prior(), load_protocols()
    by_arm: dict[str, list[Course]] = {}
    for arm in arms:
        courses = []
        for index in range(patients):
            rng = np.random.default_rng([seed, ARMS.index(arm), index])
            patient = draw_patient(arm, index, COURSE_START, prior, rng)
            courses.append(follow(patient, prior, protocols[arm], COURSE_START, months, rng))
            if progress is not None:
                progress.advance()
        by_arm[arm] = courses
    return by_arm


def run_simulate(args: argparse.Namespace) -> int:
    if args.patients < 1 or not 1 <= args.months <= 36:
        print("simulate: --patients must be at least 1 and --months 1-36 (the growth table ends at 12 years)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.out is not None and args.out.suffix.lower() != ".png":
        print(f"simulate: --out must name a .png file, got {args.out}", file=sys.stderr)
        return EXIT_USAGE
    if args.out is not None and not args.out.resolve().parent.is_dir():
        print(f"simulate: the folder of --out does not exist: {args.out.resolve().parent}", file=sys.stderr)
        return EXIT_USAGE
    arms = tuple(dict.fromkeys(args.protocol or ARMS))
    bar = ProgressBar(len(arms) * args.patients, sys.stderr)
    by_arm = simulate(arms, args.patients, args.months, args.seed, bar)
    print(f"Virtual cohort: {args.patients} children per arm, {args.months} months, seed {args.seed} "
          "(assumptions: docs/decisions/0163; mean per child, 95 % bootstrap interval)")
    print(table(by_arm, args.seed))
    if args.out is not None:
        protocols = load_protocols()
        targets = {arm: (p.target_low_ng_ml, p.target_high_ng_ml)
                   if p.target_low_ng_ml is not None and p.target_high_ng_ml is not None else None
                   for arm in arms for p in (protocols[arm],)}
        write_chart(by_arm, targets, args.out)
        print(f"chart written to {args.out}", file=sys.stderr)
    return EXIT_OK
