"""The scenario engine's runner: carries out steps against a running cluster and records them.

The :class:`Runner` holds the step verbs (``trigger``, ``wait``, ``fault``, ``heal``, ``expect``,
the upgrade steps of :class:`~testbed.upgrade.runner.Upgrades`...) and the scenario's lifecycle
(:meth:`Runner.start`, :meth:`Runner.finish`); it hands each job to a collaborator: bounded step
execution (:mod:`~testbed.engine.steps_bound`), the run verbs
(:mod:`~testbed.engine.dag_runs`), the background observations
(:mod:`~testbed.engine.observing`), the fault book (:mod:`~testbed.engine.fault_book`) and the
probes a check needs before it is evaluated (:mod:`~testbed.engine.gathering`). The verdict is
computed from the history by the checks, never from the runner's own state.

The runner cannot hang: :meth:`Runner.run_step` carries a step out in its own thread while the
calling (main) thread waits at most the step's bound plus ``GRACE``; every probe and read inside
a step has its own hard deadline. :meth:`Runner.finish` bounds each heal too.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from pydantic import BaseModel

from testbed import checks, faults, observe, secret_options
from testbed.api import AirflowAPI
from testbed.autodiagnose import AutoDiagnose
from testbed.checks import CheckResult, CheckSpec
from testbed.cluster import Cluster
from testbed.core import bounded
from testbed.engine import steps_bound
from testbed.engine.dag_runs import DagRuns
from testbed.engine.fault_book import HEAL_BOUND, FaultBook
from testbed.engine.gathering import Gatherer
from testbed.engine.observing import Observations
from testbed.engine.steps_bound import BoundSteps
from testbed.logwatch import LogWatch
from testbed.scenario.when import When
from testbed.services import airflow, git_server
from testbed.smoke import api_for
from testbed.upgrade.runner import Upgrades

STEP_JOIN = 10.0  # how long finish() lets an overrun step's thread end before healing
DIAGNOSTICS_JOIN = 25.0  # a capture's own bound (20 s) plus its slack
P = ParamSpec("P")
R = TypeVar("R")


class ServingApi:
    """The API client, made anew when the api-server it talks to changed: replaced (an upgrade
    replaces it, and its host port with it), or, with two or more, another one is the first
    running (see :func:`~testbed.services.airflow.serving_api`); a fixed one (tests) if given."""

    def __init__(self, cluster: Cluster, fixed: AirflowAPI | None) -> None:
        self.cluster, self._fixed, self._api = cluster, fixed, (None, None)

    def __call__(self) -> AirflowAPI:
        if self._fixed is not None:
            return self._fixed
        name = airflow.serving_api(self.cluster)
        node = self.cluster.nodes.get(name)
        ident = (name, node.id) if node is not None else None
        if self._api[0] != ident or self._api[1] is None:
            self._api = (ident, api_for(self.cluster, name))
        return self._api[1]

    def task_log(self, dag_id: str, run_id: str, task: str, try_number: int, idx: int) -> str:
        """A task attempt's log from the API; "" if it does not serve it."""
        try:
            return self().task_log(dag_id, run_id, task, try_number, idx)
        except Exception:  # the API not serving it is the observation
            return ""


def _verb(by: str, step: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Runner, P], R]:
    """A step verb of the Runner that its collaborator ``by`` (an attribute: ``upgrades``,
    ``dag_runs``) carries out (same name, same arguments): execute dispatches every step to a
    Runner method."""

    @functools.wraps(step)
    def verb(runner: Runner, *args: P.args, **kwargs: P.kwargs) -> R:
        return getattr(getattr(runner, by), step.__name__)(*args, **kwargs)

    return verb


class Runner:
    """Carries out a scenario's steps (its methods, one per step verb, called by
    :mod:`testbed.engine.execute`) and records them; see the module's docstring."""

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
        self._serving = ServingApi(cluster, api)
        self.workloads = {}
        self.runs: dict[str, tuple[str, str]] = {}  # trigger name -> (dag_id, run_id)
        self.logs = LogWatch(cluster, self._serving.task_log)
        self.cancelled = cancelled = threading.Event()  # an overrun or Ctrl-C: step loops stop

        def runs() -> dict[str, tuple[str, str]]:  # read afresh: a test may replace self.runs
            return self.runs

        self.steps = BoundSteps(self.history, cancelled, self.autodiag)
        self.book = FaultBook(cluster, cancelled, runs)
        self.faults = self.book.faults
        obs = Observations(cluster, runs, self.logs, self.autodiag, probes, observe_interval)
        self.observations = obs
        self.gatherer = Gatherer(
            cluster, cancelled, runs, self.autodiag, self.logs, obs.observe_runs
        )
        self.dag_runs = DagRuns(
            self.history, cancelled, self.steps.step, api=lambda: self.api, runs=runs
        )
        self.upgrades = Upgrades(
            cluster,
            cancelled,
            self.steps.step,
            api=lambda: self.api,
            runs=runs,
            workloads=self.workloads,
            observe_runs=obs.observe_runs,
            unsettle=obs.unsettle,
            planned=self.autodiag.planned,
        )

    @property
    def api(self) -> AirflowAPI:
        """The API client of the api-server serving now (see :class:`ServingApi`)."""
        return self._serving()

    @property
    def watch_logs(self) -> bool:
        """Set when a check will want every run's logs (execute): each settled run's logs go
        to the log watch."""
        return self.observations.watch_logs

    @watch_logs.setter
    def watch_logs(self, value: bool) -> None:
        self.observations.watch_logs = value

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, **meta: Any) -> Runner:
        config = self.cluster.topology.flat_effective()
        scale = self.cluster.topology.timescale
        self.history.append("scenario", phase="start", config=config, timescale=scale, **meta)
        if config:  # the overrides, as Airflow itself reads them, are the first expectation
            observe.config_in_force(self.cluster, sorted(config))
            spec = checks.get("config_in_force")
            # a `_cmd` override is proven by what Airflow made of it, not only by being set
            expected = spec.params(expected={**config, **secret_options.resolved_expected(config)})
            self.gatherer.record("overrides in force", spec, expected, finding=False)
        self.observations.start()
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
            self.steps.join_overrun(STEP_JOIN)  # an overrun step: let it end before healing
            self.book.end()
        finally:
            self.observations.stop()
        self.observations.observe_runs()
        return self.book.audit()

    def run_step(self, body: Callable[[], Any], bound: float, why: str | None = None) -> Any:
        """Carry out one step (``body`` opens its own step scope) within ``bound`` s (plus
        ``GRACE``): see :meth:`~testbed.engine.steps_bound.BoundSteps.run`."""
        return self.steps.run(body, bound, why)

    def _step(self, action: str, name: str | None = None, **fields: Any) -> steps_bound.StepScope:
        return self.steps.step(action, name, **fields)

    # -- steps --------------------------------------------------------------------------------
    def fault(
        self,
        name: str,
        kind: str,
        target: str,
        duration: float | None = None,
        *,
        bound: float = 60.0,
        delay: float | None = None,
        when: When | None = None,
        **params: Any,
    ) -> faults.Fault:
        """Inject a fault now (within ``bound`` seconds), or ``delay`` seconds from now, or the
        moment ``when`` holds, in the background while the next steps run (e.g. mid-upgrade);
        heal it after ``duration`` seconds, or at a later heal step."""
        fields = {"fault": kind, "target": target, "duration": duration, **params}
        later = {"delay": delay} if delay else {}
        if when is not None:
            later = {"when": when.condition().describe(), "within": when.within}
        with self._step("fault", name, **fields, **later):
            return self.book.add(name, kind, target, duration, bound, delay, params, when)

    def heal(self, name: str, timeout: float = HEAL_BOUND) -> bool:
        with self._step("heal", name, timeout=timeout):
            return self.book.heal(name, timeout)

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
            bound = max(1.0, timeout - steps_bound.GRACE) if timeout else None
            self.cluster.add_node(node, timeout=bound)

    def remove_node(self, node: str) -> None:
        with self._step("remove_node", node):
            bounded.call(lambda: self.cluster.remove_node(node), 60, f"remove {node}")

    def push_dags(self, files: dict[str, str], message: str) -> None:
        """Commit and push ``files`` ({path in the DAG folder: file with the new content})."""
        with self._step("push_dags", None, files=sorted(files), message=message):
            blobs = {path: Path(src).read_bytes() for path, src in files.items()}
            commit = git_server.push(self.cluster, blobs, message)
            self.cluster.history.append("dag_push", files=sorted(files), commit=commit)
            if self.cluster.topology.dag_sync == "bundle":  # the dag-processor holds the
                self.cluster.reusable = False  # commit until its next refresh: boot anew

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
            result = self.gatherer.judge(spec, params, within=within, during=during, poll=poll)
            return self.gatherer.record(name, spec, params, finding, result)

    # -- the run steps: carried out by testbed.engine.dag_runs.DagRuns ----------------------
    trigger = _verb("dag_runs", DagRuns.trigger)
    wait = _verb("dag_runs", DagRuns.wait)

    # -- the upgrade steps: carried out by testbed.upgrade.runner.Upgrades -------------------
    upgrade = _verb("upgrades", Upgrades.upgrade)
    migrate = _verb("upgrades", Upgrades.migrate)
    wait_node = _verb("upgrades", Upgrades.wait_node)
    backup = _verb("upgrades", Upgrades.backup)
    restore = _verb("upgrades", Upgrades.restore)
    seed_history = _verb("upgrades", Upgrades.seed_history)
    workload = _verb("upgrades", Upgrades.workload)
    stop_workload = _verb("upgrades", Upgrades.stop_workload)
