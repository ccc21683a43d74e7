"""The scenario engine's runner: carries out steps against a running cluster and records them.

Each step records a ``step`` start/end event; faults are kept by name and all healed in
:meth:`Runner.finish` (and by their ``for`` timers); an :class:`~testbed.observe.Observer`
records health, scheduler-job and task-instance observations throughout. Before a check is
evaluated the runner gathers what it needs (log objects, ``log`` table events); the verdict is
computed from the history by the checks, never from the runner's own state.

The runner cannot hang: :meth:`Runner.run_step` carries a step out in its own thread while the
calling (main) thread waits at most the step's bound plus :data:`GRACE`; a step past that is
failed with what it was waiting for (:func:`testbed.bounded.pending`), and every probe and
read inside a step has its own hard deadline. :meth:`Runner.finish` bounds each heal too.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from testbed import bounded, checks, faults, observe, observe_kerberos, runtime
from testbed.api import TERMINAL_RUN_STATES, AirflowAPI
from testbed.autodiagnose import AutoDiagnose
from testbed.checks import CheckResult, CheckSpec, View
from testbed.checks.view import TERMINAL_TI_STATES
from testbed.cluster import Cluster
from testbed.errors import TestbedError
from testbed.faults import kinds
from testbed.k8s import deploy as k8s_deploy
from testbed.logwatch import Attempt, LogWatch
from testbed.scenario.validate import HOST_OF
from testbed.services import airflow
from testbed.smoke import api_for
from testbed.upgrade import observe as upgrade_observe
from testbed.upgrade import procedure
from testbed.upgrade.runner import UpgradeSteps
from testbed.upgrade.versions import schema_info

FAULTS: dict[str, Callable[..., faults.Fault]] = kinds.FAULTS  # testbed.faults.registry
# What the engine runs before evaluating a check that declares one of these needs (CheckSpec)
GATHERERS = {**observe.GATHERERS, **observe_kerberos.GATHERERS}


API_BOUND = 5.0  # one API call inside a wait
GATHER_MIN = 10.0  # seconds an expectation's on-demand probes may start within, at least
GRACE = 5.0  # how far past its bound a step may run before the main thread gives up on it
HEAL_BOUND = 240.0  # one fault's heal in finish(): a remove's heal boots the node (<= 180 s)
AUDIT_BOUND = 60.0
_STEP_IDS = itertools.count(1)
STEP_JOIN = 10.0  # how long finish() lets an overrun step's thread end before healing
DIAGNOSTICS_JOIN = 25.0  # a capture's own bound (20 s) plus its slack


class StepFailed(TestbedError):
    """A wait step timed out or an action could not be carried out."""


class StepOverrun(StepFailed):
    """A step did not end within its bound (plus grace); the main thread moved on."""


class Runner(UpgradeSteps):
    def __init__(
        self,
        cluster: Cluster,
        *,
        observe_interval: float = 0.5,
        api: AirflowAPI | None = None,
        probes: list[Callable[[], Any]] | None = None,
        capture: Callable[..., dict] | None = None,
    ) -> None:
        """``api``, ``probes`` and ``capture`` default to the cluster's API, the standard probes
        (health, scheduler jobs, task instances, container states) and
        :func:`testbed.diagnose.capture`; tests pass their own."""
        self.cluster, self.history = cluster, cluster.history
        self.autodiag = AutoDiagnose(cluster, cluster.history.path.parent, capture)
        self._fixed_api, self._api = api, (None, None)
        self.workloads = {}
        self._schemas_recorded: set[str] = set()
        self.runs: dict[str, tuple[str, str]] = {}  # trigger name -> (dag_id, run_id)
        # runs whose task instances all ended: not read again (they cannot change unless the
        # database is restored); their logs go to the log watch when ``watch_logs`` is set
        self._settled: set[tuple[str, str]] = set()
        self._settle_lock = threading.Lock()  # the observer and a check's gather both settle
        self._generation = 0  # bumped by a restore: a read from before it settles nothing
        self.watch_logs = False  # set when a check will want every run's logs (execute)
        self.logs = LogWatch(cluster, self._api_log)
        self.faults: dict[str, faults.Fault] = {}
        self._timers: list[threading.Timer] = []
        self._delayed: dict[str, threading.Timer] = {}  # fault name -> its pending inject
        self._delay_lock = threading.Lock()  # a delayed inject vs. its heal step and the end
        self._index = 0
        self._scope: _StepScope | None = None
        self._bound: float | None = None
        self._step_thread: threading.Thread | None = None
        self.cancelled = threading.Event()  # set on an overrun or Ctrl-C: step loops stop
        if probes is None:
            probes = [
                lambda: self.autodiag.saw(observe.api_health(cluster)),
                lambda: self.autodiag.saw(observe.scheduler_health(cluster, "scheduler")),
                lambda: observe.scheduler_jobs(cluster),
                self._observe_runs,
                self._watch_containers,
                lambda: self.logs.background() if self.watch_logs else None,
            ]
        self._states: dict[str, str] = {}
        self.observer = observe.Observer(probes, interval=observe_interval)

    @property
    def api(self) -> AirflowAPI:
        """The API client, made anew when the api-server it talks to changed: replaced (an
        upgrade replaces it, and its host port with it), or, with two or more, another one is
        the first running (see :func:`~testbed.services.airflow.serving_api`)."""
        if self._fixed_api is not None:
            return self._fixed_api
        name = airflow.serving_api(self.cluster)
        node = self.cluster.nodes.get(name)
        ident = (name, node.id) if node is not None else None
        if self._api[0] != ident or self._api[1] is None:
            self._api = (ident, api_for(self.cluster, name))
        return self._api[1]

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, **meta: Any) -> Runner:
        config = self.cluster.topology.flat_effective()
        scale = self.cluster.topology.timescale
        self.history.append("scenario", phase="start", config=config, timescale=scale, **meta)
        if config:  # the overrides, as Airflow itself reads them, are the first expectation
            observe.config_in_force(self.cluster, sorted(config))
            spec = checks.get("config_in_force")
            self._record("overrides in force", spec, spec.params(expected=config), finding=False)
        self.observer.__enter__()
        return self

    def finish(self, diagnostics_wait: float = DIAGNOSTICS_JOIN) -> list[str]:
        """Let diagnostics under way finish (at most ``diagnostics_wait`` s: they must see the
        fault, not its heal), heal every fault, stop observing, take final observations;
        return the heal audit. Each stage runs even if an earlier one raised (a second
        Ctrl-C, a failing audit)."""
        self.cancelled.set()
        for workload in list(self.workloads.values()):
            workload.stop()
        try:
            self.autodiag.join(diagnostics_wait)
            if self._step_thread is not None:  # an overrun step: let it end before healing
                self._step_thread.join(STEP_JOIN)
            for name in list(self._delayed):
                self._drop_delayed(name, "the scenario ended before its delay ran out")
            for t in self._timers:
                t.cancel()
                t.join(HEAL_BOUND)
            self._heal_all()
        finally:
            self.observer.__exit__()
        self._observe_runs()
        try:
            problems = bounded.call(
                lambda: faults.heal_audit(self.cluster), AUDIT_BOUND, "heal audit"
            )
        except Exception as exc:  # reported as what it is: the audit could not be made
            problems = [f"heal audit failed: {type(exc).__name__}: {exc}"]
        self.history.append("heal_audit", problems=problems)
        return problems

    def _heal_all(self) -> None:
        """Heal every fault, each bounded; then once more those that failed (a fault's heal may
        need another healed first, e.g. a link fault while Toxiproxy itself was frozen)."""
        stuck: set[str] = set()
        for _ in range(2):
            for fault in [f for f in self.faults.values() if f.injected]:
                if fault.name in stuck:
                    continue  # its heal is still under way in an abandoned thread
                try:
                    bounded.call(fault.heal, HEAL_BOUND, f"heal of {fault.name}")
                except bounded.NoAnswer as exc:  # heal() records its own errors; not a hang
                    stuck.add(fault.name)
                    fault.record("heal_failed", error=str(exc))

    def _step(self, action: str, name: str | None = None, **fields: Any) -> _StepScope:
        return _StepScope(self, action, name, fields)

    def run_step(self, body: Callable[[], Any], bound: float, why: str | None = None) -> Any:
        """Carry out one step (``body`` opens its own step scope) in a thread; wait at most
        ``bound`` + GRACE seconds. Past that, fail the step with what it was waiting for and
        raise StepOverrun: the main thread never waits on a stuck call. Ctrl-C (raised here,
        in the main thread) cancels the step."""
        box: dict[str, Any] = {}
        done = threading.Event()
        self._bound = bound  # recorded in the step's start event

        def target() -> None:
            try:
                box["value"] = body()
            except BaseException as exc:  # handed to the main thread below
                box["error"] = exc
            finally:
                done.set()

        name = f"testbed-step-{next(_STEP_IDS)}"  # its calls are told apart from older ones
        self._step_thread = threading.Thread(target=target, daemon=True, name=name)
        self._step_thread.start()
        try:
            finished = done.wait(bound + GRACE)
        except BaseException:  # Ctrl-C: the step's loops stop at their next look
            self.cancelled.set()
            raise
        if not finished:
            self.cancelled.set()
            overrun = self._overrun(why or f"its bound of {bound:g}s")
            self._diagnose_step(overrun)
            raise overrun
        self._step_thread = None
        if "error" in box:
            self._diagnose_step(box["error"])
            raise box["error"]
        return box.get("value")

    def _diagnose_step(self, error: BaseException) -> None:
        if isinstance(error, Exception):  # not Ctrl-C: nobody waits for evidence then
            self.autodiag.request("scheduler", f"step {self._index - 1} failed: {error}"[:300])

    def _overrun(self, why: str) -> StepOverrun:
        step = self._step_thread.name if self._step_thread else None
        waiting = bounded.pending(owner=step) or bounded.pending()
        error = f"step did not end within {why} (+{GRACE:g}s grace)"
        error += f"; waiting for: {'; '.join(waiting)}" if waiting else "; no call was pending"
        if self._scope is not None:
            self._scope.abandon(error)
        return StepOverrun(error)

    # -- observations -------------------------------------------------------------------------
    def _observe_runs(self) -> None:
        """Read the task instances of every run that has not settled yet."""
        for dag_id, run_id in list(self.runs.values()):
            if (dag_id, run_id) in self._settled:
                continue
            generation = self._generation
            rows = [r.get("value") for r in observe.task_instances(self.cluster, dag_id, run_id)]
            if not rows or not all(v and v["state"] in TERMINAL_TI_STATES for v in rows):
                continue
            with self._settle_lock:
                if generation != self._generation or (dag_id, run_id) in self._settled:
                    continue
                self._settled.add((dag_id, run_id))
            if self.watch_logs:
                self.logs.settled(_finished_attempts(rows))

    def unsettle(self) -> None:
        """Read every run again (a restored database may hold older task states)."""
        with self._settle_lock:
            self._generation += 1
            self._settled.clear()

    def _watch_containers(self) -> None:
        """Record every node's container state when it changes (running, paused, exited...)."""
        for node, c in list(self.cluster.nodes.items()):
            try:
                state = bounded.call(
                    lambda c=c: runtime.state(c), 10, f"container state of {node}", key=f"st:{c.id}"
                )
            except bounded.NoAnswer:
                state = "no answer"  # the engine did not say; recorded as such
            except Exception:  # removed meanwhile
                state = "gone"
            if self._states.get(node) != state:
                self._states[node] = state
                self.history.append("container", node=node, state=state)

    def gather(self, spec: CheckSpec, params: BaseModel, deadline: float | None = None) -> None:
        """Run the probes a check needs beyond the observer's (see ``CheckSpec.needs``); task
        instances are read afresh first, so a check never judges a stale row. No new probe
        starts after ``deadline`` (monotonic), and each probe is bounded on its own."""
        self._observe_runs()
        probe, target = getattr(params, "probe", None), getattr(params, "target", None)
        if probe == "jobs_check":  # an exec: only when asked for
            self.autodiag.saw(observe.jobs_check(self.cluster, target or "scheduler"))
        elif probe == "scheduler_health" and target not in (None, "scheduler"):
            observe.scheduler_health(self.cluster, target)  # e.g. a replacement scheduler-2
        if "scheduler_job" in spec.needs:
            observe.scheduler_jobs(self.cluster)
        self._gather_upgrade(spec, params)
        if "log_event" in spec.needs:
            for dag_id, run_id in list(self.runs.values()):
                observe.log_events(self.cluster, dag_id, run_id, "")
        if "remote_log" in spec.needs:  # past the deadline the check judges what was seen
            self.logs.observe(self._attempts(params), deadline)
        for need in spec.needs:  # probes registered by name (e.g. the Kerberos ones)
            if need in GATHERERS:
                GATHERERS[need](self.cluster, dict(self.runs), params)

    def _gather_upgrade(self, spec: CheckSpec, params: BaseModel) -> None:
        """The probes of the upgrade checks: schema, advisory locks, versions, a node's log."""
        if "schema" in spec.needs:
            for version in {
                getattr(params, "version", None),
                getattr(params, "from_version", None),
            }:
                self._schema_info(version)
            upgrade_observe.schema(self.cluster)
        if "pg_locks" in spec.needs:
            upgrade_observe.pg_locks(self.cluster)
        node = getattr(params, "node", None)
        if spec.name == "versions_in_force":
            picked = getattr(params, "nodes", None)
            for n in picked or procedure.airflow_nodes(self.cluster):
                upgrade_observe.airflow_version(self.cluster, n)
        if spec.name in ("component_refused", "exited") and node in self.cluster.nodes:
            upgrade_observe.container_log(self.cluster, node, lines=400)

    def _schema_info(self, version: str | None) -> None:
        """Record what ``version``'s own code says its schema is (once per scenario)."""
        if version and version not in self._schemas_recorded:
            upgrade_observe.record_schema_info(self.history, schema_info(version))
            self._schemas_recorded.add(version)

    def _attempts(self, params: BaseModel) -> list[Attempt]:
        """The attempts whose remote logs a check needs: one, those of a run, or (no ``run``
        given: ``remote_logs_all`` over every run) those of every run."""
        run = getattr(params, "run", None)
        if run is None and not getattr(params, "task", None):
            view = View(self.history.snapshot())
            return [a for name in list(self.runs) for a in self._run_attempts(view, name)]
        if run not in self.runs:
            return []
        dag_id, run_id = self.runs[run]
        if getattr(params, "task", None):
            return [(dag_id, run_id, params.task, params.try_number, params.map_index)]
        return self._run_attempts(View(self.history.snapshot()), run)

    def _run_attempts(self, view: View, run: str) -> list[Attempt]:
        """Every attempt of every finished task instance of ``run`` (gather read them just
        now)."""
        return _finished_attempts([s[-1]["value"] for s in view.task_series(run).values()])

    def _api_log(self, dag_id: str, run_id: str, task: str, try_number: int, idx: int) -> str:
        try:
            return self.api.task_log(dag_id, run_id, task, try_number, idx)
        except Exception:  # the API not serving it is the observation
            return ""

    # -- steps --------------------------------------------------------------------------------
    def trigger(self, name: str, dag: str, conf: dict | None = None, timeout: float = 120) -> str:
        """Trigger a run of ``dag`` once the dag-processor has it; at most ``timeout`` seconds."""
        with self._step("trigger", name, dag=dag, timeout=timeout):
            deadline = time.monotonic() + timeout
            parsed = max(1.0, timeout - 2 * API_BOUND)
            bounded.call(
                lambda: self.api.wait_for_dag(dag, timeout=parsed),
                timeout,
                f"api: is DAG {dag} parsed yet",
            )
            if self.cancelled.is_set():
                raise StepFailed("cancelled before the run was triggered")
            bound = max(1.0, deadline - time.monotonic())
            run_id = bounded.call(lambda: self.api.trigger(dag, conf), bound, f"api: trigger {dag}")
            self.runs[name] = (dag, run_id)
            self.history.append("trigger", name=name, dag_id=dag, run_id=run_id, conf=conf or {})
            return run_id

    def wait(self, run: str, state: str, timeout: float, task: str | None = None) -> None:
        """Wait until the run (or one of its tasks) is in ``state``; fail the step otherwise."""
        with self._step("wait", run, state=state, task=task, timeout=timeout):
            deadline = time.monotonic() + timeout
            seen = None
            while time.monotonic() < deadline and not self.cancelled.is_set():
                seen = self._state(run, task, deadline)
                if seen == state:
                    return
                if task is None and seen in TERMINAL_RUN_STATES:
                    break
                self.cancelled.wait(0.5)
            what = f"task {task} of run {run}" if task else f"run {run}"
            raise StepFailed(f"{what} is {seen}, not {state}, after {timeout:g}s")

    def _state(self, run: str, task: str | None, deadline: float) -> str | None:
        """The run's state from the API, or the task's latest observed state (None: unknown)."""
        if task is None:
            bound = max(0.5, min(API_BOUND, deadline - time.monotonic()))
            try:
                return bounded.call(
                    lambda: self.api.run_state(*self.runs[run]), bound, f"api: state of run {run}"
                )
            except Exception:  # no answer yet is "unknown", the wait goes on
                return None
        values = View(self.history.snapshot()).task(run, task)
        return values[-1]["state"] if values else None

    def fault(
        self,
        name: str,
        kind: str,
        target: str,
        duration: float | None = None,
        *,
        bound: float = 60.0,
        delay: float | None = None,
        **params: Any,
    ) -> faults.Fault:
        """Inject a fault now (within ``bound`` seconds), or ``delay`` seconds from now in the
        background while the next steps run (e.g. mid-upgrade); heal it after ``duration``
        seconds, or at a later heal step."""
        fields = {"fault": kind, "target": target, "duration": duration, **params}
        with self._step("fault", name, **fields, **({"delay": delay} if delay else {})):
            target = self._resolve(target)
            fault = FAULTS[kind](self.cluster, target, name=name, **params)
            self.faults[name] = fault
            if delay:
                timer = threading.Timer(delay, lambda: self._inject_late(fault, bound, duration))
                timer.daemon = True
                with self._delay_lock:  # registered before it can fire
                    self._delayed[name] = timer
                    self._timers.append(timer)
                timer.start()
            else:
                self._inject(fault, bound, duration)
            return fault

    def _inject(self, fault: faults.Fault, bound: float, duration: float | None) -> None:
        bounded.call(fault.inject, bound, f"inject {fault.kind} on {fault.target}")
        if duration is not None:
            self._later(duration, fault.heal)

    def _inject_late(self, fault: faults.Fault, bound: float, duration: float | None) -> None:
        """A delayed inject, in its timer's thread, under the delay lock (a heal step or the
        end waits for an inject under way, so the inject never lands after its heal). One that
        does not happen, or fails, is recorded (and fails the verdict: the drill did not do
        what it says), never raised into nowhere."""
        with self._delay_lock:
            if self._delayed.pop(fault.name, None) is None:
                return  # dropped by a heal step or the end, which recorded it
            if self.cancelled.is_set():
                fault.record("inject_failed", error="never injected: the scenario was ending")
                return
            try:
                self._inject(fault, bound, duration)
            except Exception as exc:
                error = f"delayed inject: {type(exc).__name__}: {exc}"[:500]
                fault.record("inject_failed", error=error)

    def _later(self, seconds: float, fn: Callable[[], object]) -> threading.Timer:
        timer = threading.Timer(seconds, fn)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)
        return timer

    def _drop_delayed(self, name: str, why: str) -> None:
        """A delayed inject that never happened: cancelled, and recorded as a failed inject."""
        with self._delay_lock:
            timer = self._delayed.pop(name, None)
        if timer is not None:
            timer.cancel()
            self.faults[name].record("inject_failed", error=f"never injected: {why}")

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
        if host and self.cluster.topology.kubernetes:  # a task pod's name: its node's
            host = k8s_deploy.node_of_pod(self.cluster, host) or host
        if host not in self.cluster.nodes:
            raise StepFailed(f"{target}: task has no node yet (hostname {host!r})")
        self.history.append("resolved", target=target, node=host)
        return host

    def heal(self, name: str, timeout: float = HEAL_BOUND) -> bool:
        with self._step("heal", name, timeout=timeout):
            self._drop_delayed(name, "its heal step came before its delay ran out")
            fault = self.faults[name]
            return bounded.call(fault.heal, timeout, f"heal of {name} ({fault.kind})")

    def add_node(
        self,
        node: str,
        timeout: float | None = None,
        version: str | None = None,
        wait: bool = True,
    ) -> None:
        with self._step("add_node", node, timeout=timeout, version=version, wait=wait):
            if version:
                self.cluster.set_version(node, version)
            if not wait:
                self.cluster.start_node(node)
                return
            self.cluster.add_node(node, timeout=max(1.0, timeout - GRACE) if timeout else None)

    def remove_node(self, node: str) -> None:
        with self._step("remove_node", node):
            bounded.call(lambda: self.cluster.remove_node(node), 60, f"remove {node}")

    def sleep(self, seconds: float) -> None:
        with self._step("sleep", None, seconds=seconds):
            self.cancelled.wait(seconds)

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
            end = start + (during if during is not None else within or 0)
            last_gather = max(end, start + GATHER_MIN)  # a check "now" still gets one full look
            if during is not None:
                while time.monotonic() < end and not self.cancelled.is_set():
                    self.gather(spec, params, last_gather)  # on-demand probes: the whole window
                    self.cancelled.wait(min(poll, max(0.0, end - time.monotonic())))
                result = spec.evaluate(self.history.snapshot(), params, since=start)
            else:
                while True:
                    self.gather(spec, params, last_gather)
                    result = spec.evaluate(self.history.snapshot(), params)
                    if result.ok or time.monotonic() >= end or self.cancelled.is_set():
                        break
                    self.cancelled.wait(poll)
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
            result = spec.evaluate(self.history.snapshot(), params)
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
    """Records a step's start and end (with its error, if any) around its body. A step the
    main thread gave up on (:meth:`abandon`) gets its end event then; when its body returns
    later, that is recorded as ``phase="late"``."""

    def __init__(self, runner: Runner, action: str, name: str | None, fields: dict) -> None:
        self.runner, self.action, self.name, self.fields = runner, action, name, fields
        self._lock = threading.Lock()
        self._ended = False

    def __enter__(self) -> _StepScope:
        r = self.runner
        self.index = r._index
        r._scope = self
        fields = {"bound": r._bound, **self.fields}
        r.history.append(
            "step", phase="start", index=self.index, action=self.action, name=self.name, **fields
        )
        return self

    def _end(self, phase: str, error: str | None) -> None:
        self.runner.history.append(
            "step", phase=phase, index=self.index, action=self.action, name=self.name, error=error
        )

    def abandon(self, error: str) -> None:
        with self._lock:
            if not self._ended:
                self._ended = True
                self._end("end", error)
                self.runner._index = self.index + 1

    def __exit__(self, exc_type, exc, tb) -> None:
        error = None if exc is None else str(exc)
        with self._lock:
            if self._ended:  # the main thread already ended it
                self._end("late", error)
                return
            self._ended = True
            self._end("end", error)
            self.runner._index = self.index + 1


def _finished_attempts(rows: list[dict]) -> list[Attempt]:
    """Every attempt of every task instance among ``rows`` that ended success or failed."""
    return [
        (v["dag_id"], v["run_id"], v["task_id"], n, v.get("map_index", -1))
        for v in rows
        if v["state"] in TERMINAL_RUN_STATES
        for n in range(1, v["try_number"] + 1)
    ]
