"""Running a validated scenario against a cluster: each model step is handed to the engine's
:class:`~testbed.engine.Runner`; the scenario gets its own history file under the run
directory; every fault is healed and audited at the end, whatever happened; the verdict is
computed from that history. :data:`HANDLERS` says which Runner method carries out each step
kind, with which of its fields."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testbed import dagcheck
from testbed.checks import registry
from testbed.cluster import Cluster
from testbed.core import progress
from testbed.core.history import History
from testbed.core.interrupts import deferred
from testbed.engine import DIAGNOSTICS_JOIN, Runner, StepFailed
from testbed.report import write_html
from testbed.scenario import model as M
from testbed.scenario.compress import compress
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


make_runner: Callable[[Cluster], Runner] = Runner  # tests swap in a runner with fake probes


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a scenario: its faults were healed (unless Ctrl-C came again) and a
    partial verdict was written; carries them so the caller can say where."""

    def __init__(self, verdict: Verdict, folder: Path) -> None:
        super().__init__(f"interrupted; partial verdict in {folder}")
        self.verdict, self.folder = verdict, folder


def execute(
    scenario: M.Scenario,
    cluster: Cluster,
    on_step: Callable[[int, str], None] | None = None,
) -> tuple[Verdict, Path]:
    """Run ``scenario`` on ``cluster``; return its verdict and its folder (history, verdict).

    Each step is bounded by its own bound and by the scenario's timeout, enforced by this
    (the main) thread. Ctrl-C heals, writes a partial verdict and raises :class:`Interrupted`;
    a second Ctrl-C skips what is left of the healing (the caller's teardown still runs)."""
    scenario = compress(scenario, cluster.topology.timescale)
    folder = scenario_dir(cluster, scenario.name)
    saved, cluster.history = cluster.history, History(folder / "history.jsonl")
    interrupted = False
    try:
        runner = make_runner(cluster).start(scenario=scenario.name, run_id=cluster.run_id)
        runner.watch_logs = wants_every_log(scenario)
        cluster.history.retain(PERIODIC_PROBES, retention(scenario))
        for schedule in scenario.chaos_schedules:  # a chaos run: what it drew, before step 0
            cluster.history.append("chaos", schedule=schedule)
        try:
            _steps(runner, scenario, on_step)
        except KeyboardInterrupt:
            interrupted = True
            _interrupted(cluster, runner, "a step")
        except Exception as exc:  # recorded in the step's end event; stop here
            cluster.history.append("aborted", error=f"{type(exc).__name__}: {exc}"[:2000])
        try:
            runner.finish(diagnostics_wait=0 if interrupted else DIAGNOSTICS_JOIN)
        except KeyboardInterrupt:  # the second Ctrl-C: no more healing, teardown follows
            interrupted = True
            _interrupted(cluster, runner, "healing")
        with deferred("writing the verdict; the cluster is removed next"):
            verdict = compute(scenario.name, cluster.history.events())
            if scenario.known_issue is not None:
                version = cluster.topology.airflow_version
                verdict.known_issue = scenario.known_issue.judge(version, verdict)
            verdict.save(folder / "verdict.json")
            write_report(folder)
        if interrupted:
            raise Interrupted(verdict, folder)
        return verdict, folder
    finally:
        cluster.history = saved


PERIODIC_PROBES = {"api_health", "scheduler_health", "scheduler_job"}  # the observer's polls
MIN_RETENTION = 900.0  # seconds of periodic observations the runner keeps in memory, at least
# checks that read the periodic observations' past, not only the latest one
PERIODIC_READERS = {
    "health_flipped", "health_recovered", "health_stable", "probe_answered", "task_adopted"
}  # fmt: skip


def retention(scenario: M.Scenario) -> float:
    """How long the runner keeps the observer's periodic observations in memory: twice the
    longest expectation window (a check looks back over its window, a baseline before it),
    at least :data:`MIN_RETENTION`; forever if a check reads their past with no window (it
    judges the whole history). The history file keeps them all."""
    expects = [s for s in scenario.steps if isinstance(s, M.Expect)]
    if any(s.check in PERIODIC_READERS and not (s.within or s.during) for s in expects):
        return math.inf
    return max(MIN_RETENTION, 2 * max((s.within or s.during or 0.0 for s in expects), default=0))


def wants_every_log(scenario: M.Scenario) -> bool:
    """Does a step check the logs of every run (``remote_logs_all`` without ``run``)? Then the
    runner looks at each run's logs as soon as the run settles, not all at the end."""
    return any(
        isinstance(s, M.Expect)
        and s.check == "remote_logs_all"
        and (s.model_extra or {}).get("run") is None
        for s in scenario.steps
    )


def write_report(folder: Path) -> Path | None:
    """The record's HTML report (``report.html``); a report that cannot be written is said,
    never allowed to change or hide the verdict."""
    try:
        return write_html(folder)
    except Exception as exc:
        progress.warn(f"no HTML report for {folder}: {type(exc).__name__}: {exc}")
        return None


def _steps(runner: Runner, scenario: M.Scenario, on_step) -> None:
    deadline = time.monotonic() + scenario.timeout
    if scenario.topology.dags:  # the user's DAGs: each must import before the drill starts
        _dags_parsed(runner, Path(scenario.topology.dags))
    for i, step in enumerate(scenario.steps):
        if on_step:
            on_step(i, describe_step(step))
        left = deadline - time.monotonic()
        if left <= 0:
            raise StepFailed(f"scenario timeout of {scenario.timeout:g}s reached before step {i}")
        bound, why = step.bound(), None
        if left < bound:
            bound, why = left, f"the {left:.1f}s left of the scenario's {scenario.timeout:g}s"
        runner.run_step(lambda step=step: _dispatch(runner, step), bound, why)


def _dags_parsed(runner: Runner, folder: Path) -> None:
    """Bounded by the parse timeout (every API call in it has its own deadline)."""
    progress.step(f"waiting for the dag-processor to parse the DAG files of {folder}")
    got = dagcheck.wait_parsed(runner.api, folder, cancelled=runner.cancelled)
    runner.history.append("dags_parsed", folder=str(folder), files=got.files, not_seen=got.not_seen)
    if got.not_seen:
        progress.warn(f"not parsed within {dagcheck.PARSE_TIMEOUT:g}s: {', '.join(got.not_seen)}")


def _interrupted(cluster: Cluster, runner: Runner, during: str) -> None:
    runner.cancelled.set()
    cluster.history.append("interrupted", index=runner.steps.index, during=during)
    progress.warn(
        f"interrupted during {during} (step {runner.steps.index}): healing every fault and "
        "writing a partial verdict; Ctrl-C again skips the healing (the cluster is removed "
        "either way)"
        if during == "a step"
        else "interrupted again: healing skipped; the cluster is removed next"
    )


def _dispatch(runner: Runner, step: M.Step) -> None:
    HANDLERS[step.action](runner, step)


def _fault(runner: Runner, step: M.Fault) -> None:
    runner.fault(
        step.name,
        step.kind,
        step.target,
        step.for_,
        bound=step.bound(),
        delay=step.delay_seconds(),
        when=step.when,
        **step.params(),
    )


def _expect(runner: Runner, step: M.Expect) -> None:
    runner.expect(
        step.label,
        registry.get(step.check),
        step.check_params(),
        within=step.within,
        during=step.during,
        finding=step.finding,
    )


# How the engine carries out each step kind (by ``action``; ``chaos`` never runs: validation
# replaces it with the plain steps it stands for). Each calls one Runner method.
HANDLERS: dict[str, Callable[[Runner, Any], None]] = {
    "trigger": lambda r, s: r.trigger(s.name, s.dag, s.conf, s.bound()),
    "wait": lambda r, s: r.wait(s.run, s.state, s.timeout, s.task),
    "fault": _fault,
    "heal": lambda r, s: r.heal(s.fault, s.bound()),
    "add_node": lambda r, s: r.add_node(s.node, s.bound(), s.version, s.wait),
    "remove_node": lambda r, s: r.remove_node(s.node),
    "sleep": lambda r, s: r.sleep(s.seconds),
    "upgrade": lambda r, s: r.upgrade(
        s.to,
        s.nodes,
        s.strategy,
        s.drain_timeout,
        s.bound(),
        s.rollback,
        s.local,
        s.refused_by,
        s.db_clean,
    ),  # fmt: skip
    "seed_history": lambda r, s: r.seed_history(s.dag, s.runs, s.tasks, s.age, s.bound()),
    "migrate": lambda r, s: r.migrate(s.name, s.to, s.wait, s.bound()),
    "wait_node": lambda r, s: r.wait_node(s.node, s.state, s.timeout),
    "backup": lambda r, s: r.backup(s.name),
    "restore": lambda r, s: r.restore(s.name),
    "workload": lambda r, s: r.workload(s.name, s.dag, s.every, s.conf),
    "stop_workload": lambda r, s: r.stop_workload(s.name),
    "push_dags": lambda r, s: r.push_dags(s.files, s.message),
    "expect": _expect,
}
