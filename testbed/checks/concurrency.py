"""The concurrency check: how many of a run's task instances ran at once, from the start and end
times the metadata database recorded for each (exact, not sampled), against a limit the
deployment sets: `[core] parallelism` on the guide's single machine (the LocalExecutor runs that
many task processes), a pool's slots, a worker's concurrency. A limit not in force shows as
more at once; ``reached`` makes sure the drill loaded the limit at all."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from testbed.checks.result import CheckResult
from testbed.checks.view import View, ti_label


class ConcurrencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str
    task: str | None = None  # none: every task of the run
    at_most: int = Field(ge=1)  # never more than this many at once
    reached: bool = True  # ... and this many at once at some moment


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` spans overlapping at one moment (one that ends
    as another starts does not overlap it)."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    most = now = 0
    for _, step in edges:  # at one instant an end (-1) sorts before a start (+1)
        now += step
        most = max(most, now)
    return most


def _spans(view: View, p: ConcurrencyParams) -> tuple[list[tuple[float, float]], list[str]]:
    spans, unfinished = [], []
    for (task, _), series in sorted(view.task_series(p.run).items()):
        v: dict[str, Any] = series[-1]["value"]
        if p.task not in (None, task) or v.get("start_epoch") is None:
            continue
        if v.get("end_epoch") is None:
            unfinished.append(ti_label(v))
        else:
            spans.append((v["start_epoch"], v["end_epoch"]))
    return spans, unfinished


def running_at_once(view: View, p: ConcurrencyParams) -> CheckResult:
    """At most ``at_most`` of the run's task instances (of ``task``) ran at once, and with
    ``reached`` that many did at some moment; judged once every one of them has ended, on
    each instance's latest try (the database keeps no earlier try's times)."""
    if view.run(p.run) is None:
        return CheckResult.failed(f"run {p.run!r} was never triggered")
    spans, unfinished = _spans(view, p)
    if unfinished:
        return CheckResult.failed(f"still running: {', '.join(unfinished[:6])}")
    if not spans:
        return CheckResult.failed(f"no task instance of run {p.run} ran")
    most = most_at_once(spans)
    m = {"most_at_once": most, "instances": len(spans)}
    if most > p.at_most:
        return CheckResult.failed(f"{most} of {len(spans)} ran at once, over {p.at_most}", **m)
    if p.reached and most < p.at_most:
        return CheckResult.failed(
            f"at most {most} of {len(spans)} ran at once: the limit {p.at_most} was never reached",
            **m,
        )
    return CheckResult.passed(
        f"at most {most} of {len(spans)} ran at once (limit {p.at_most})", **m
    )
