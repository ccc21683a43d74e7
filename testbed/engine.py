"""The scenario engine's runner: carries out steps against a running cluster and records them.

Each step records a ``step`` start/end event; faults are kept by name and all healed in
:meth:`Runner.finish` (and by their ``for`` timers); an :class:`~testbed.observe.Observer`
records health, scheduler-job and task-instance observations throughout. Before a check is
evaluated the runner gathers what it needs (log objects, ``log`` table events); the verdict is
computed from the history by the checks, never from the runner's own state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from testbed import checks, faults, observe, runtime
from testbed.api import TERMINAL_RUN_STATES
from testbed.checks import CheckResult, CheckSpec, View
from testbed.cluster import Cluster
from testbed.errors import TestbedError
from testbed.scenario.validate import HOST_OF
from testbed.smoke import api_for

FAULTS: dict[str, Callable[..., faults.Fault]] = {
    "hang": faults.Hang,
    "kill": faults.Kill,
    "stop": faults.Stop,
    "restart": faults.Restart,
    "replace": faults.Replace,
    "remove": faults.Remove,
    "partition": faults.Partition,
    "link": faults.LinkFault,
}


class StepFailed(TestbedError):
    """A wait step timed out or an action could not be carried out."""


class Runner:
    def __init__(self, cluster: Cluster, *, observe_interval: float = 0.5) -> None:
        self.cluster, self.history = cluster, cluster.history
        self.api = api_for(cluster)
        self.runs: dict[str, tuple[str, str]] = {}  # trigger name -> (dag_id, run_id)
        self.faults: dict[str, faults.Fault] = {}
        self._timers: list[threading.Timer] = []
        self._index = 0
        probes: list[Callable[[], Any]] = [
            lambda: observe.api_health(cluster),
            lambda: observe.scheduler_health(cluster, "scheduler"),
            lambda: observe.scheduler_jobs(cluster),
            self._observe_runs,
            self._watch_containers,
        ]
        self._states: dict[str, str] = {}
        self.observer = observe.Observer(probes, interval=observe_interval)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, **meta: Any) -> Runner:
        config = self.cluster.topology.flat_config()
        self.history.append("scenario", phase="start", config=config, **meta)
        if config:  # the overrides, as Airflow itself reads them, are the first expectation
            observe.config_in_force(self.cluster, sorted(config))
            spec = checks.get("config_in_force")
            self._record("overrides in force", spec, spec.params(expected=config), finding=False)
        self.observer.__enter__()
        return self

    def finish(self) -> list[str]:
        """Heal every fault, stop observing, take final observations; return the heal audit.

        Each stage runs even if an earlier one raised (a second Ctrl-C, a failing audit)."""
        try:
            for t in self._timers:
                t.cancel()
                t.join()
            for fault in self.faults.values():
                fault.heal()  # records its own failure, never raises
        finally:
            self.observer.__exit__()
        self._observe_runs()
        try:
            problems = faults.heal_audit(self.cluster)
        except Exception as exc:  # reported as what it is: the audit could not be made
            problems = [f"heal audit failed: {type(exc).__name__}: {exc}"]
        self.history.append("heal_audit", problems=problems)
        return problems

    def _step(self, action: str, name: str | None = None, **fields: Any) -> _StepScope:
        return _StepScope(self, action, name, fields)

    # -- observations -------------------------------------------------------------------------
    def _observe_runs(self) -> None:
        for dag_id, run_id in list(self.runs.values()):
            observe.task_instances(self.cluster, dag_id, run_id)

    def _watch_containers(self) -> None:
        """Record every node's container state when it changes (running, paused, exited...)."""
        for node, c in list(self.cluster.nodes.items()):
            try:
                state = runtime.state(c)
            except Exception:  # removed meanwhile
                state = "gone"
            if self._states.get(node) != state:
                self._states[node] = state
                self.history.append("container", node=node, state=state)

    def gather(self, spec: CheckSpec, params: BaseModel) -> None:
        """Run the probes a check needs beyond the observer's (see ``CheckSpec.needs``); task
        instances are read afresh first, so a check never judges a stale row."""
        self._observe_runs()
        probe, target = getattr(params, "probe", None), getattr(params, "target", None)
        if probe == "jobs_check":  # an exec: only when asked for
            observe.jobs_check(self.cluster, target or "scheduler")
        elif probe == "scheduler_health" and target not in (None, "scheduler"):
            observe.scheduler_health(self.cluster, target)  # e.g. a replacement scheduler-2
        if "scheduler_job" in spec.needs:
            observe.scheduler_jobs(self.cluster)
        if "log_event" in spec.needs:
            for dag_id, run_id in list(self.runs.values()):
                observe.log_events(self.cluster, dag_id, run_id, "")
        if "remote_log" in spec.needs:
            for attempt in self._attempts(params):
                self._observe_log(*attempt)

    def _attempts(self, params: BaseModel) -> list[tuple[str, str, str, int, int]]:
        run = getattr(params, "run", None)
        if run not in self.runs:
            return []
        dag_id, run_id = self.runs[run]
        if getattr(params, "task", None):
            return [(dag_id, run_id, params.task, params.try_number, params.map_index)]
        out = []  # every attempt of every finished task instance (gather read them just now)
        for (task, idx), series in View(self.history.events()).task_series(run).items():
            last = series[-1]["value"]
            if last["state"] in TERMINAL_RUN_STATES:
                out += [(dag_id, run_id, task, n, idx) for n in range(1, last["try_number"] + 1)]
        return out

    def _observe_log(self, dag_id: str, run_id: str, task: str, try_number: int, idx: int) -> None:
        def api_text() -> str:
            try:
                return self.api.task_log(dag_id, run_id, task, try_number, idx)
            except Exception:  # the API not serving it is the observation
                return ""

        observe.remote_log(self.cluster, dag_id, run_id, task, try_number, api_text, idx)

    # -- steps --------------------------------------------------------------------------------
    def trigger(self, name: str, dag: str, conf: dict | None = None) -> str:
        with self._step("trigger", name, dag=dag):
            self.api.wait_for_dag(dag)
            run_id = self.api.trigger(dag, conf)
            self.runs[name] = (dag, run_id)
            self.history.append("trigger", name=name, dag_id=dag, run_id=run_id, conf=conf or {})
            return run_id

    def wait(self, run: str, state: str, timeout: float, task: str | None = None) -> None:
        """Wait until the run (or one of its tasks) is in ``state``; fail the step otherwise."""
        with self._step("wait", run, state=state, task=task, timeout=timeout):
            deadline = time.monotonic() + timeout
            seen = None
            while time.monotonic() < deadline:
                seen = self._state(run, task)
                if seen == state:
                    return
                if task is None and seen in TERMINAL_RUN_STATES:
                    break
                time.sleep(0.5)
            what = f"task {task} of run {run}" if task else f"run {run}"
            raise StepFailed(f"{what} is {seen}, not {state}, after {timeout:g}s")

    def _state(self, run: str, task: str | None) -> str | None:
        """The run's state from the API, or the task's latest observed state (None: unknown)."""
        if task is None:
            try:
                return self.api.run_state(*self.runs[run])
            except Exception:  # no answer yet is "unknown", the wait goes on
                return None
        values = View(self.history.events()).task(run, task)
        return values[-1]["state"] if values else None

    def fault(
        self, name: str, kind: str, target: str, duration: float | None = None, **params: Any
    ) -> faults.Fault:
        """Inject a fault now; heal it after ``duration`` seconds, or at a later heal step."""
        with self._step("fault", name, fault=kind, target=target, duration=duration, **params):
            target = self._resolve(target)
            fault = FAULTS[kind](self.cluster, target, name=name, **params)
            self.faults[name] = fault
            fault.inject()
            if duration is not None:
                timer = threading.Timer(duration, fault.heal)
                timer.daemon = True
                timer.start()
                self._timers.append(timer)
            return fault

    def _resolve(self, target: str) -> str:
        """``host_of:RUN.TASK`` -> the node the task instance last ran on."""
        if not target.startswith(HOST_OF):
            return target
        run, _, task = target.removeprefix(HOST_OF).partition(".")
        if run not in self.runs:
            raise StepFailed(f"{target}: run {run!r} was not triggered")
        dag_id, run_id = self.runs[run]
        host = None
        for ti in observe.task_instances(self.cluster, dag_id, run_id):
            v = ti.get("value") or {}
            if v.get("task_id") == task and v.get("hostname"):
                host = v["hostname"]
        if host not in self.cluster.nodes:
            raise StepFailed(f"{target}: task has no node yet (hostname {host!r})")
        self.history.append("resolved", target=target, node=host)
        return host

    def heal(self, name: str) -> bool:
        with self._step("heal", name):
            return self.faults[name].heal()

    def add_node(self, node: str) -> None:
        with self._step("add_node", node):
            self.cluster.add_node(node)

    def sleep(self, seconds: float) -> None:
        with self._step("sleep", None, seconds=seconds):
            time.sleep(seconds)

    def expect(
        self,
        name: str,
        spec: CheckSpec,
        params: BaseModel,
        *,
        within: float | None = None,
        during: float | None = None,
        finding: bool = False,
        poll: float = 1.0,
    ) -> CheckResult:
        """``within``: holds at some point before T; ``during``: holds over the whole window."""
        with self._step("expect", name, check=spec.name, within=within, during=during):
            start = time.monotonic()
            if during is not None:
                while time.monotonic() - start < during:  # on-demand probes: the whole window
                    self.gather(spec, params)
                    time.sleep(min(poll, max(0.0, during - (time.monotonic() - start))))
                result = spec.evaluate(self.history.events(), params, since=start)
            else:
                while True:
                    self.gather(spec, params)
                    result = spec.evaluate(self.history.events(), params)
                    if result.ok or time.monotonic() - start >= (within or 0):
                        break
                    time.sleep(poll)
            return self._record(name, spec, params, finding, result)

    def _record(
        self,
        name: str,
        spec: CheckSpec,
        params: BaseModel,
        finding: bool,
        result: CheckResult | None = None,
    ) -> CheckResult:
        """Evaluate (unless given) and record one expectation."""
        if result is None:
            result = spec.evaluate(self.history.events(), params)
        self.history.append(
            "expectation",
            name=name,
            check=spec.name,
            ok=result.ok,
            finding=finding,
            detail=result.detail,
            measurements=result.measurements,
            params=params.model_dump(),
        )
        return result


class _StepScope:
    """Records a step's start and end (with its error, if any) around its body."""

    def __init__(self, runner: Runner, action: str, name: str | None, fields: dict) -> None:
        self.runner, self.action, self.name, self.fields = runner, action, name, fields

    def __enter__(self) -> _StepScope:
        r = self.runner
        r.history.append(
            "step", phase="start", index=r._index, action=self.action, name=self.name, **self.fields
        )
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        r = self.runner
        error = None if exc is None else str(exc)
        r.history.append(
            "step", phase="end", index=r._index, action=self.action, name=self.name, error=error
        )
        r._index += 1
