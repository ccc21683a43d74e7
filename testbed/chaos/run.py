"""Chaos on a real cluster: running a schedule, reading what failed in a verdict, and the real
shrink predicate — run a candidate schedule on the pool's (reused, reset) cluster and say
whether the same invariant failed again."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from testbed.chaos import schedule as S
from testbed.chaos.shrink import Shrunk, shrink
from testbed.core.history import load as load_history
from testbed.engine.execute import execute
from testbed.pool import ClusterPool
from testbed.scenario.chaos_generate import ChaosError
from testbed.scenario.verdict import Verdict, compute

HEAL_AUDIT = "heal audit"


def failures(verdict: Verdict) -> list[str]:
    """What failed, by name: expectations, steps (fault names without their ``fN-`` index, so
    a candidate's renumbered faults compare), and ``heal audit``."""
    out = [e["name"] for e in verdict.expectations if not e["ok"]]
    for s in verdict.failed_steps:
        name = re.sub(r"^f\d+-", "", s.get("name") or "")
        out.append(f"step {s['action']} {name}".strip())
    if verdict.heal_problems or verdict.heal_failures:
        out.append(HEAL_AUDIT)
    return out


def record_verdict(record: str | Path) -> Verdict:
    """The record's verdict (``verdict.json``, else computed from its history)."""
    history = S.history_path(record)
    saved = history.parent / "verdict.json"
    if saved.is_file():
        data = json.loads(saved.read_text())
        data.pop("clean", None)
        return Verdict(**data)
    return compute(history.parent.name, load_history(history))


def run_schedule(
    schedule: S.Schedule, pool: ClusterPool, name: str, on_step=None
) -> tuple[Verdict, Path]:
    """Run ``schedule`` on the pool's cluster of its topology; its ``chaos`` event first."""
    scenario = S.runnable(schedule, name)
    cluster = pool.get(scenario.topology.build())
    return execute(scenario, cluster, on_step=on_step)


@dataclass
class SameFailure:
    """The shrink predicate: does the candidate fail ``invariant`` again?"""

    pool: ClusterPool
    invariant: str
    name: str
    on_result: Callable[[S.Schedule, Path, list[str]], None] | None = None
    tried: list[tuple[S.Schedule, Path, list[str]]] = field(default_factory=list)

    def __call__(self, candidate: S.Schedule) -> bool:
        verdict, folder = run_schedule(candidate, self.pool, self.name)
        failed = failures(verdict)
        self.tried.append((candidate, folder, failed))
        if self.on_result:
            self.on_result(candidate, folder, failed)
        return self.invariant in failed


def failing_invariant(record: str | Path, wanted: str | None) -> str:
    """The invariant to keep failing: ``wanted``, else the record's first failure."""
    failed = failures(record_verdict(record))
    if not failed:
        raise ChaosError(f"{record}: every invariant held; there is no failure to shrink")
    if wanted is None:
        return failed[0]
    if wanted not in failed:
        raise ChaosError(
            f"{record}: {wanted!r} did not fail there; what failed: {'; '.join(failed)}"
        )
    return wanted


def shrink_record(
    record: str | Path,
    pool: ClusterPool,
    *,
    invariant: str | None = None,
    max_runs: int = 30,
    out: Path | None = None,
    on_result=None,
) -> tuple[Shrunk, Path, str]:
    """Shrink the schedule of a failing chaos record; write the smaller one as a plain scenario
    YAML (default: ``shrunk.yaml`` in the record). Returns it, the file and the invariant."""
    schedule = S.from_record(record)
    target = failing_invariant(record, invariant)
    name = S.scenario_name(schedule.seed, "shrink")
    predicate = SameFailure(pool, target, name, on_result)
    result = shrink(schedule, predicate, max_runs=max_runs)
    path = out or S.history_path(record).parent / "shrunk.yaml"
    description = (
        f"Shrunk by `testbed chaos --shrink` from {record} (seed {schedule.seed}): "
        f"{result.faults_before} faults -> {len(result.schedule.faults)}, "
        f"{schedule.duration:g}s -> {result.schedule.duration:g}s of chaos, in {result.runs} "
        f"runs; it still fails: {target}"
        + (" -- WITH NO FAULT AT ALL: the workload or the cluster fails on its own"
           if result.without_faults else "")
    )  # fmt: skip
    text = S.to_yaml(result.schedule, S.scenario_name(schedule.seed, "shrunk"), description)
    path.write_text(text)
    return result, path, target
