"""Running a validated scenario against a cluster: each model step is handed to the engine's
:class:`~testbed.engine.Runner`; the scenario gets its own history file under the run
directory; every fault is healed and audited at the end, whatever happened; the verdict is
computed from that history."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from testbed.checks import registry
from testbed.cluster import Cluster
from testbed.engine import Runner, StepFailed
from testbed.history import History
from testbed.scenario import model as M
from testbed.scenario.plan import describe_step
from testbed.scenario.verdict import Verdict, compute


def scenario_dir(cluster: Cluster, name: str) -> Path:
    """A new folder ``scenarios/<name>-<n>`` (never one a previous run wrote to)."""
    base = cluster.dir / "scenarios"
    base.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        try:
            (base / f"{name}-{n}").mkdir()
            return base / f"{name}-{n}"
        except FileExistsError:
            n += 1


def execute(
    scenario: M.Scenario,
    cluster: Cluster,
    on_step: Callable[[int, str], None] | None = None,
) -> tuple[Verdict, Path]:
    """Run ``scenario`` on ``cluster``; return its verdict and its folder (history, verdict)."""
    folder = scenario_dir(cluster, scenario.name)
    saved, cluster.history = cluster.history, History(folder / "history.jsonl")
    try:
        runner = Runner(cluster).start(scenario=scenario.name, run_id=cluster.run_id)
        deadline = time.monotonic() + scenario.timeout
        try:
            for i, step in enumerate(scenario.steps):
                if on_step:
                    on_step(i, describe_step(step))
                if time.monotonic() > deadline:
                    raise StepFailed(f"scenario timeout of {scenario.timeout:g}s reached")
                _dispatch(runner, step)
        except Exception as exc:  # recorded in the step's end event; stop here
            cluster.history.append("aborted", error=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            runner.finish()
        verdict = compute(scenario.name, cluster.history.events())
        verdict.save(folder / "verdict.json")
        return verdict, folder
    finally:
        cluster.history = saved


def _dispatch(runner: Runner, step) -> None:
    if isinstance(step, M.Trigger):
        runner.trigger(step.name, step.dag, step.conf)
    elif isinstance(step, M.Wait):
        runner.wait(step.run, step.state, step.timeout, step.task)
    elif isinstance(step, M.Fault):
        runner.fault(step.name, step.kind, step.target, step.for_, **step.params())
    elif isinstance(step, M.Heal):
        runner.heal(step.fault)
    elif isinstance(step, M.AddNode):
        runner.add_node(step.node)
    elif isinstance(step, M.Sleep):
        runner.sleep(step.seconds)
    elif isinstance(step, M.Expect):
        spec = registry.get(step.check)
        runner.expect(
            step.label,
            spec,
            step.check_params(),
            within=step.within,
            during=step.during,
            finding=step.finding,
        )
