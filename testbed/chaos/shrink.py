"""Shrinking a failing chaos schedule: fewer faults (delta debugging), then shorter ones.

0. The schedule with no fault at all is tried first: an invariant that fails without any
   fault is not the faults' doing (the workload or the cluster fails on its own), and no
   fault should be blamed for it.
1. :func:`ddmin` (Zeller's delta debugging) over the drawn faults: a subset of them that
   still fails the same way, from which no single fault can be dropped (1-minimal).
2. :func:`shorten`: each remaining fault's time in force halved while it still fails (never
   below the floor), then the quiet gaps cut to the floor and the quiet tail dropped.

``fails(schedule) -> bool`` is injected: the real one (:mod:`testbed.chaos.run`) runs the
candidate on a reused cluster and says whether the same invariant failed; unit tests pass a
fake. Every candidate is run at most once (cached) and at most ``max_runs`` are run in all: a
shrink that runs out of budget returns the smallest failing schedule found so far. Chaos runs
are not perfectly repeatable; a result is a schedule that did fail, not a proof of minimality.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from testbed.chaos.schedule import Schedule
from testbed.scenario.chaos_generate import Drawn

T = TypeVar("T")


class OutOfRuns(Exception):
    """The run budget is spent; the search stops with what it has."""


@dataclass
class Budget:
    max_runs: int
    runs: int = 0
    seen: dict[tuple, bool] = field(default_factory=dict)

    def test(self, key: tuple, run: Callable[[], bool]) -> bool:
        """``run()``'s answer for ``key``: from the cache, or run now if the budget allows."""
        if key not in self.seen:
            if self.runs >= self.max_runs:
                raise OutOfRuns
            self.runs += 1
            self.seen[key] = run()
        return self.seen[key]


def _chunks(items: Sequence[int], n: int) -> list[tuple[int, ...]]:
    size, extra, out, start = len(items) // n, len(items) % n, [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(tuple(items[start:end]))
        start = end
    return [c for c in out if c]


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool], budget: Budget) -> list[T]:
    """A 1-minimal failing subset of ``items`` (which together fail), in their order."""
    current = tuple(range(len(items)))

    def test(subset: tuple[int, ...]) -> bool:
        return budget.test(subset, lambda: fails([items[i] for i in subset]))

    n = 2
    try:
        while len(current) >= 2:
            current, n, reduced = _reduce(current, n, test)
            if not reduced:
                if n >= len(current):
                    break
                n = min(len(current), 2 * n)
    except OutOfRuns:
        pass
    return [items[i] for i in current]


def _reduce(current: tuple[int, ...], n: int, test) -> tuple[tuple[int, ...], int, bool]:
    """One round: a failing chunk (restart at 2), else a failing complement (n - 1)."""
    chunks = _chunks(current, n)
    for chunk in chunks:
        if test(chunk):
            return chunk, 2, True
    if len(chunks) > 2:  # with two chunks the complements are the chunks
        for chunk in chunks:
            rest = tuple(i for i in current if i not in chunk)
            if test(rest):
                return rest, max(n - 1, 2), True
    return current, n, False


def shorten(
    schedule: Schedule,
    fails: Callable[[Schedule], bool],
    budget: Budget,
    min_fault: float,
    min_gap: float,
) -> Schedule:
    """Each fault halved while it still fails (not below ``min_fault``), then every gap cut to
    ``min_gap`` and the quiet tail dropped, if it still fails."""
    best = schedule

    def test(candidate: Schedule) -> bool:
        return budget.test(_key(candidate), lambda: fails(candidate))

    try:
        for i in range(len(best.faults)):
            while True:
                now = best.faults[i].seconds
                half = max(min_fault, round(now / 2, 1))
                if half >= now or not test(_with(best, i, seconds=half)):
                    break
                best = _with(best, i, seconds=half)
        tight = tuple(replace(f, gap=min(f.gap, min_gap)) for f in best.faults)
        candidate = replace(best, faults=tight, duration=sum(f.gap + f.seconds for f in tight))
        if _key(candidate) != _key(best) and test(candidate):
            best = candidate
    except OutOfRuns:
        pass
    return best


def _with(schedule: Schedule, i: int, **changes: float) -> Schedule:
    faults = list(schedule.faults)
    faults[i] = replace(faults[i], **changes)
    return schedule.with_faults(faults)


def _key(schedule: Schedule) -> tuple:
    return ("shortened", json.dumps([f.to_json() for f in schedule.faults]), schedule.duration)


@dataclass
class Shrunk:
    schedule: Schedule
    runs: int
    faults_before: int
    without_faults: bool = False  # it fails with no fault at all


def shrink(
    schedule: Schedule,
    fails: Callable[[Schedule], bool],
    max_runs: int = 30,
    min_fault: float | None = None,
    min_gap: float | None = None,
) -> Shrunk:
    """A smaller schedule that still ``fails`` (the given one is known to): fewer faults, then
    shorter. ``fails`` is called at most ``max_runs`` times, never twice for one candidate."""
    budget = Budget(max_runs)
    ranges = schedule.asked.get("ranges") or {}
    floor = min_fault if min_fault is not None else ranges.get("min_fault", 5.0)
    gap_floor = min_gap if min_gap is not None else 1.0

    def subset_fails(faults: list[Drawn]) -> bool:
        return fails(schedule.with_faults(faults))

    budget.seen[tuple(range(len(schedule.faults)))] = True  # the record says so
    quiet = replace(schedule, faults=())  # the whole window, the workload, no fault: a fair control
    try:
        if schedule.faults and budget.test(("no faults",), lambda: fails(quiet)):
            return Shrunk(quiet, budget.runs, len(schedule.faults), True)
    except OutOfRuns:
        pass
    fewer = schedule.with_faults(ddmin(schedule.faults, subset_fails, budget))
    budget.seen[_key(fewer)] = True  # it failed as a subset (or is the original)
    shorter = shorten(fewer, fails, budget, floor, gap_floor)
    return Shrunk(shorter, budget.runs, len(schedule.faults))
